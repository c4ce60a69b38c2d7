-- rft.aug.figure: the augmentation grid of paper 1's Figure 3: rows of images, one column per
-- pipeline, and a header line naming each column. The engine has no text rendering, so labels are
-- drawn here with a 5x7 bitmap font (digits, letters, + - . = ( ) and space).
local ffi = require 'ffi'
local T = require 'rft.tensor'
local image = require 'rft.image'

local M = {}

-- 5x7 glyphs: 7 rows, 5 bits each (bit 4 = leftmost column).
local glyphs = {
  [' '] = { 0, 0, 0, 0, 0, 0, 0 }, ['+'] = { 0, 4, 4, 31, 4, 4, 0 }, ['-'] = { 0, 0, 0, 31, 0, 0, 0 },
  ['.'] = { 0, 0, 0, 0, 0, 12, 12 }, ['='] = { 0, 0, 31, 0, 31, 0, 0 }, ['('] = { 2, 4, 8, 8, 8, 4, 2 },
  [')'] = { 8, 4, 2, 2, 2, 4, 8 }, ['/'] = { 1, 1, 2, 4, 8, 16, 16 }, [':'] = { 0, 12, 12, 0, 12, 12, 0 },
  ['0'] = { 14, 17, 19, 21, 25, 17, 14 }, ['1'] = { 4, 12, 4, 4, 4, 4, 14 }, ['2'] = { 14, 17, 1, 2, 4, 8, 31 },
  ['3'] = { 31, 2, 4, 2, 1, 17, 14 }, ['4'] = { 2, 6, 10, 18, 31, 2, 2 }, ['5'] = { 31, 16, 30, 1, 1, 17, 14 },
  ['6'] = { 6, 8, 16, 30, 17, 17, 14 }, ['7'] = { 31, 1, 2, 4, 8, 8, 8 }, ['8'] = { 14, 17, 17, 14, 17, 17, 14 },
  ['9'] = { 14, 17, 17, 15, 1, 2, 12 },
  A = { 14, 17, 17, 31, 17, 17, 17 }, B = { 30, 17, 17, 30, 17, 17, 30 }, C = { 14, 17, 16, 16, 16, 17, 14 },
  D = { 28, 18, 17, 17, 17, 18, 28 }, E = { 31, 16, 16, 30, 16, 16, 31 }, F = { 31, 16, 16, 30, 16, 16, 16 },
  G = { 14, 17, 16, 23, 17, 17, 15 }, H = { 17, 17, 17, 31, 17, 17, 17 }, I = { 14, 4, 4, 4, 4, 4, 14 },
  J = { 7, 2, 2, 2, 2, 18, 12 }, K = { 17, 18, 20, 24, 20, 18, 17 }, L = { 16, 16, 16, 16, 16, 16, 31 },
  M = { 17, 27, 21, 21, 17, 17, 17 }, N = { 17, 17, 25, 21, 19, 17, 17 }, O = { 14, 17, 17, 17, 17, 17, 14 },
  P = { 30, 17, 17, 30, 16, 16, 16 }, Q = { 14, 17, 17, 17, 21, 18, 13 }, R = { 30, 17, 17, 30, 20, 18, 17 },
  S = { 15, 16, 16, 14, 1, 1, 30 }, T = { 31, 4, 4, 4, 4, 4, 4 }, U = { 17, 17, 17, 17, 17, 17, 14 },
  V = { 17, 17, 17, 17, 17, 10, 4 }, W = { 17, 17, 17, 21, 21, 21, 10 }, X = { 17, 17, 10, 4, 10, 17, 17 },
  Y = { 17, 17, 17, 10, 4, 4, 4 }, Z = { 31, 1, 2, 4, 8, 16, 31 },
  a = { 0, 0, 14, 1, 15, 17, 15 }, b = { 16, 16, 22, 25, 17, 17, 30 }, c = { 0, 0, 14, 16, 16, 17, 14 },
  d = { 1, 1, 13, 19, 17, 17, 15 }, e = { 0, 0, 14, 17, 31, 16, 14 }, f = { 6, 9, 8, 28, 8, 8, 8 },
  g = { 0, 15, 17, 17, 15, 1, 14 }, h = { 16, 16, 22, 25, 17, 17, 17 }, i = { 4, 0, 12, 4, 4, 4, 14 },
  j = { 2, 0, 6, 2, 2, 18, 12 }, k = { 16, 16, 18, 20, 24, 20, 18 }, l = { 12, 4, 4, 4, 4, 4, 14 },
  m = { 0, 0, 26, 21, 21, 17, 17 }, n = { 0, 0, 22, 25, 17, 17, 17 }, o = { 0, 0, 14, 17, 17, 17, 14 },
  p = { 0, 0, 30, 17, 30, 16, 16 }, q = { 0, 0, 13, 19, 15, 1, 1 }, r = { 0, 0, 22, 25, 16, 16, 16 },
  s = { 0, 0, 14, 16, 14, 1, 30 }, t = { 8, 8, 28, 8, 8, 9, 6 }, u = { 0, 0, 17, 17, 17, 19, 13 },
  v = { 0, 0, 17, 17, 17, 10, 4 }, w = { 0, 0, 17, 17, 21, 21, 10 }, x = { 0, 0, 17, 10, 4, 10, 17 },
  y = { 0, 0, 17, 17, 15, 1, 14 }, z = { 0, 0, 31, 2, 4, 8, 31 },
}
M.glyphs = glyphs

--- Width in pixels of text drawn at `scale` (6 pixels a character: 5 + 1 spacing, less the last).
function M.text_width(text, scale) return (#text * 6 - 1) * (scale or 1) end

--- Draw text into a u8 image [C,H,W] (C = 1 or 3) at (x, y) (top-left), every font pixel scale x
--- scale, grey level `value`. Characters outside the font draw as a box.
function M.draw_text(img, text, x, y, o)
  o = o or {}
  local s, value = o.scale or 1, o.value or 0
  local c, h, w = img:size(1), img:size(2), img:size(3)
  local p = img:data()
  for i = 1, #text do
    local g = glyphs[text:sub(i, i)] or { 31, 17, 17, 17, 17, 17, 31 }
    local gx = x + (i - 1) * 6 * s
    for row = 0, 6 do
      local bits = g[row + 1]
      for col = 0, 4 do
        if bit.band(bits, bit.lshift(1, 4 - col)) ~= 0 then
          for dy = 0, s - 1 do
            for dx = 0, s - 1 do
              local px, py = gx + col * s + dx, y + row * s + dy
              if px >= 0 and px < w and py >= 0 and py < h then
                for k = 0, c - 1 do p[(k * h + py) * w + px] = value end
              end
            end
          end
        end
      end
    end
  end
  return img
end

--- Put a grid image (u8 [C,H,W], cells of cell_w x cell_h pixels, `margin` pixels around and
--- between them, as rft.image.grid draws it) inside labels: o.rows (a name for each row of cells,
--- written to the left of it), o.cols (a name for each column, written above it), o.corner (text
--- above the row names, e.g. what the column names are), o.font (scale; default 1), white bands.
--- --> u8 [C, H + header, W + left].
function M.labelled(grid, o)
  local margin, fs = o.margin or 2, o.font or 1
  local gc, gh, gw = grid:size(1), grid:size(2), grid:size(3)
  local pad = 3 * fs
  local left = 0
  for _, name in ipairs(o.rows or {}) do left = math.max(left, M.text_width(name, fs) + 2 * pad) end
  if o.corner then left = math.max(left, M.text_width(o.corner, fs) + 2 * pad) end
  local header = (o.cols or o.corner) and 7 * fs + 2 * pad or 0
  local out = T.new { shape = { gc, gh + header, gw + left }, dtype = 'u8', device = 'cpu' }
  out:fill(255)
  local src, dst = grid:data(), out:data()
  local ow = gw + left
  for k = 0, gc - 1 do
    for yy = 0, gh - 1 do
      ffi.copy(dst + (k * (gh + header) + header + yy) * ow + left, src + (k * gh + yy) * gw, gw)
    end
  end
  for i, name in ipairs(o.rows or {}) do
    local cy = header + margin + (i - 1) * (o.cell_h + margin) + o.cell_h / 2
    M.draw_text(out, name, pad, math.floor(cy - 3.5 * fs + 0.5), { scale = fs })
  end
  for j, name in ipairs(o.cols or {}) do
    local cx = left + margin + (j - 1) * (o.cell_w + margin) + o.cell_w / 2
    M.draw_text(out, name, math.floor(cx - M.text_width(name, fs) / 2 + 0.5), pad, { scale = fs })
  end
  if o.corner then M.draw_text(out, o.corner, pad, pad, { scale = fs }) end
  return out
end

--- aug.figure{images=x (f32 [R,3,H,W]), columns={{'clean', pipeline_or_nil}, {'B+', p}, ...},
---   seed=0, ids=nil, scale=2, margin=2, font=nil (font scale; default 1, or 2 for wide cells)}
--- --> u8 [3, H', W']: R rows x #columns images under a header line of column names.
function M.figure(o)
  local x, cols = o.images, o.columns
  local r, c, h, w = x:size(1), x:size(2), x:size(3), x:size(4)
  local ncol = #cols
  local scale, margin = o.scale or 2, o.margin or 2
  -- the batch in grid order: row i, column j at i·ncol + j
  local batch = T.new { shape = { r * ncol, c, h, w }, dtype = 'f32' }
  for j, col in ipairs(cols) do
    local img = col[2] and col[2]:apply(x, { seed = o.seed or 0, ids = o.ids }) or x
    for i = 0, r - 1 do batch:view(i * ncol + j - 1, i * ncol + j):copy_from(img:view(i, i + 1)) end
  end
  local grid = image.grid(batch, { cols = ncol, margin = margin, scale = scale, background = 255 })
  local cell = w * scale + margin
  local widest = 0
  for _, col in ipairs(cols) do widest = math.max(widest, M.text_width(col[1], 1)) end
  local fs = o.font or ((widest * 2 <= cell - 2) and 2 or 1)
  local band = 7 * fs + 2 * fs + margin + 2
  local gc, gh, gw = grid:size(1), grid:size(2), grid:size(3)
  local out = T.new { shape = { gc, gh + band, gw }, dtype = 'u8' }
  out:fill(255)
  local src, dst = grid:data(), out:data()
  for k = 0, gc - 1 do
    ffi.copy(dst + (k * (gh + band) + band) * gw, src + k * gh * gw, gh * gw)
  end
  for j, col in ipairs(cols) do
    local name = col[1]
    local cx = margin + (j - 1) * cell + (w * scale) / 2
    M.draw_text(out, name, math.floor(cx - M.text_width(name, fs) / 2 + 0.5), margin + 2, { scale = fs })
  end
  return out
end

return M
