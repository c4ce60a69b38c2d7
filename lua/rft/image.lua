-- rft.image: PNG files and image grids, drawn by the engine (engine/io/png.c). Writes are atomic.
local F = require 'rft.ffi'
local C, check = F.C, F.check

local M = {}

--- Write a u8 image [C,H,W] (C = 1, 3 or 4, on any device) as PNG.
--- In a data-parallel run rank 0 writes and every rank waits for it (rft.dist.on_root).
function M.write_png(img, path)
  local host = img:host()
  require('rft.dist').on_root(function() check(C.rft_png_write(path, host), 3) end)
end

--- Read a PNG as a u8 image [C,H,W].
function M.read_png(path)
  return F.call_new(2, C.rft_png_read, path)
end

--- The grid of a batch [N,C,H,W] (f32 in [0,1], or u8, on any device) as a u8 image [C,H',W'].
--- opts: cols (default 10), margin (1), scale (1), background (grey level 0..255, default 255).
function M.grid(t, opts)
  opts = opts or {}
  return F.call_new(2, C.rft_image_grid, t:host(), opts.cols or 10, opts.margin or 1, opts.scale or 1,
                    opts.background or 255)
end

--- rft.image.save_grid(t, 'out.png', {cols=10, scale=2, margin=1}): grid, then PNG.
function M.save_grid(t, path, opts)
  local g = M.grid(t, opts)
  M.write_png(g, path)
  return g
end

return M
