-- rft.viz: pictures of what a network does with a distortion, for the REPL and for reports.
--   rft.viz.feature_maps(net, x, x_tilde, {layer='relu3', path='fm.png', image=0, channels=16})
-- writes, for one image, the clean feature maps, the distorted ones and their normalised difference
-- (f(x) - f(x~)) / mean(f(x)), the quantity the FMA loss penalises (paper eq. 6), channel by channel
-- (rows named clean, distorted, difference on the left; each column headed by its channel number),
-- and beside it (<path>_layers.png) the FMA term of every tapped layer as a bar plot from zero.
local rft = require 'rft'
local report = require 'rft.report'
local util = require 'rft.util'
local figure = require 'rft.aug.figure'

local M = {}

-- Rescale a flat Lua array of maps into [0, 1] with a given maximum (and 0 as minimum).
local function scaled(vals, top)
  local out = {}
  local s = top > 0 and 1 / top or 0
  for i, v in ipairs(vals) do out[i] = math.min(1, math.abs(v) * s) end
  return out
end

--- x, x_tilde: f32 [N,3,H,W] (the clean and distorted batch); o.image (0-based row, default 0),
--- o.layer (tap name, default the first), o.channels (how many, default 16: those whose normalised
--- difference is largest), o.path (PNG), o.scale (pixel upscaling, default 3, more for maps under
--- 11 pixels wide).
--- Returns {layer=, channels={...}, fma={name=J_l}, path=, layers_path=, layers_script= (gnuplot's)}.
function M.feature_maps(net, x, xt, o)
  o = o or {}
  local i = o.image or 0
  local path = o.path or 'feature_maps.png'
  local was = net.training
  net:evaluate()
  net:forward(rft.cat { x:view(i, i + 1), xt:view(i, i + 1) })
  local taps = net:taps()
  if #taps == 0 then error('rft.viz.feature_maps: the network has no taps', 2) end
  local _, _, per_layer = rft.loss.fma(taps, { gamma = 1 })
  local tap = taps[1]
  if o.layer then
    tap = nil
    for _, t in ipairs(taps) do if t.name == o.layer then tap = t end end
    if not tap then error('rft.viz.feature_maps: no tap named ' .. tostring(o.layer), 2) end
  end
  local s = tap.tensor:shape()                            -- [2, C, H, W]
  if #s ~= 4 then error('rft.viz.feature_maps: tap ' .. tap.name .. ' is not a stack of maps', 2) end
  local c, hw = s[2], s[3] * s[4]
  local v = tap.tensor:to_table()
  local mean = 0
  for k = 1, c * hw do mean = mean + v[k] end
  mean = mean / (c * hw) + 1e-8
  -- channels ranked by the energy of their normalised difference
  local energy, order = {}, {}
  for ch = 1, c do
    local e = 0
    for k = 1, hw do local d = (v[(ch - 1) * hw + k] - v[c * hw + (ch - 1) * hw + k]) / mean; e = e + d * d end
    energy[ch], order[ch] = e, ch
  end
  table.sort(order, function(a, b) return energy[a] > energy[b] end)
  local n = math.min(o.channels or 16, c)
  local clean, dist, diff, top, dtop = {}, {}, {}, 0, 0
  for r = 1, n do
    local ch = order[r]
    for k = 1, hw do
      local a, b = v[(ch - 1) * hw + k], v[c * hw + (ch - 1) * hw + k]
      clean[#clean + 1], dist[#dist + 1], diff[#diff + 1] = a, b, (a - b) / mean
      top, dtop = math.max(top, a, b), math.max(dtop, math.abs((a - b) / mean))
    end
  end
  -- rows: clean maps, distorted maps (one shared scale), |normalised difference| (its own scale)
  local pix = {}
  for _, part in ipairs { scaled(clean, top), scaled(dist, top), scaled(diff, dtop) } do
    for _, p in ipairs(part) do pix[#pix + 1] = p end
  end
  local maps = rft.from_table(pix, { 3 * n, 1, s[3], s[4] })
  util.mkdir_p(util.dirname(path))
  local scale = o.scale or math.max(3, math.ceil(32 / s[4]))   -- deep layers' 4x4 maps drawn 32 pixels wide
  local grid = rft.image.grid(maps, { cols = n, scale = scale, margin = 2, background = 128 })
  -- rows named on the left, each column headed by its channel (0-based, as in the tap tensor);
  -- where a cell is too narrow for "12", every other column keeps its number
  local cell = s[4] * scale
  local names, widest = {}, 0
  for r = 1, n do widest = math.max(widest, figure.text_width(tostring(order[r] - 1), 1)) end
  local every = widest <= cell and 1 or math.ceil((widest + 2) / (cell + 2))
  for r = 1, n do names[r] = (r - 1) % every == 0 and tostring(order[r] - 1) or '' end
  rft.image.write_png(figure.labelled(grid, {
    rows = { 'clean', 'distorted', 'difference' }, cols = names, corner = 'channel',
    cell_w = cell, cell_h = s[3] * scale, margin = 2,
  }), path)

  local layers_path = path:gsub('%.png$', '') .. '_layers.png'
  local csv = path:gsub('%.png$', '') .. '_layers.csv'
  local lines = { 'layer,fma' }
  for _, t in ipairs(taps) do lines[#lines + 1] = string.format('%s,%.6g', t.name, per_layer[t.name]) end
  util.write_atomic(csv, table.concat(lines, '\n') .. '\n')
  local _, layers_script = report.gnuplot_script(layers_path, table.concat({
    'set datafile separator ","', 'set style fill solid 0.8', 'set boxwidth 0.7', 'set grid ytics',
    "set title 'FMA term per layer (one image): 1/kappa ||(f(x) - f(x~)) / mean f(x)||^2' noenhanced",
    "set ylabel 'J_l' noenhanced", 'set xtics rotate by -45', 'unset key', 'set yrange [0:*]',
    string.format("plot '%s' using 0:2:xtic(1) with boxes", csv),
  }, '\n'))
  if was then net:train() end
  local chans = {}
  for r = 1, n do chans[r] = order[r] - 1 end
  print(string.format('%s: rows clean | distorted | |normalised difference| (max %.3g), channels %s; %s',
    tap.name, dtop, table.concat(chans, ','), path))
  return { layer = tap.name, channels = chans, fma = per_layer, path = path, layers_path = layers_path,
           layers_script = layers_script }
end

return M
