-- rft.viz.feature_maps: the picture of clean, distorted and normalised-difference maps, and the
-- per-layer FMA terms that come with it; and rft.report's curves, each its own colour and marker.
local rft = require 'rft'
local figure = require 'rft.aug.figure'

describe('rft.viz.feature_maps', function()
  it('draws three rows of the chosen channels and reports every layer\'s FMA term', function()
    local net = rft.models.fast { width = 0.25, seed = 1 }
    local x = rft.rand.uniform(rft.tensor { shape = { 2, 3, 32, 32 } }, { seed = 1 })
    local xt = rft.aug.brightness { delta = 0.3 }:apply(x, { seed = 1 })
    local path = os.tmpname() .. '.png'
    local r = rft.viz.feature_maps(net, x, xt, { layer = 'relu2', channels = 4, path = path, scale = 1 })
    local img = rft.image.read_png(path)
    -- 3 rows x 4 channels of 32x32 maps, margin 2, under a header band and right of a label band
    local shape = img:shape()
    local header, left = shape[2] - (2 + 3 * 34), shape[3] - (2 + 4 * 34)
    assert.is_true(header >= 7 and left >= figure.text_width('difference', 1), table.concat(shape, 'x'))
    local p, w = img:data(), shape[3]
    local function dark(x0, x1, y0, y1)          -- any text pixel (0) in the box?
      for y = y0, y1 - 1 do for x = x0, x1 - 1 do if p[y * w + x] == 0 then return true end end end
      return false
    end
    -- a name left of each row of maps, a channel number above each column
    for row = 0, 2 do
      assert.is_true(dark(0, left, header + 2 + row * 34, header + 2 + row * 34 + 32), 'row ' .. row .. ' label')
    end
    for col = 0, 3 do
      assert.is_true(dark(left + 2 + col * 34, left + 2 + col * 34 + 32, 0, header), 'column ' .. col .. ' label')
    end
    -- the per-layer bar chart's axis starts at zero (a bar's height is its value)
    assert.truthy(r.layers_script:find('set yrange [0:*]', 1, true), r.layers_script)
    assert.equal('relu2', r.layer)
    assert.equal(4, #r.channels)
    for _, t in ipairs(net:taps()) do assert.is_true(r.fma[t.name] > 0, t.name) end
    -- identical views: every term is zero
    local same = rft.viz.feature_maps(net, x, x, { path = path })
    for _, v in pairs(same.fma) do assert.equal(0, v) end
    assert.error_matches(function() rft.viz.feature_maps(net, x, xt, { layer = 'relu99', path = path }) end,
      'no tap named relu99')
  end)
end)

describe('rft.report.plot_csv', function()
  it('gives every curve of a plot its own colour and marker', function()
    local names = { 'clean', 'B+', 'B-', 'GB', 'GN', 'SAP', 'S+', 'S-', 'Combined+', 'Combined-' }
    local csv = os.tmpname() .. '.csv'
    local f = assert(io.open(csv, 'w'))
    f:write('epoch,', table.concat(names, ','), '\n')
    for e = 1, 3 do
      local row = { e }
      for i = 1, #names do row[#row + 1] = 50 + i + e end
      f:write(table.concat(row, ','), '\n')
    end
    f:close()
    local png = csv:gsub('%.csv$', '.png')
    local _, script = rft.report.plot_csv(csv, png, { x = 'epoch', ys = names, title = 't', ylabel = 'accuracy' })
    local seen, colours, n = {}, {}, 0
    for style, title in script:gmatch("with linespoints (lc rgb \"#%x+\" pt %d+)[^']* title '([^']*)'") do
      n = n + 1
      assert.is_nil(seen[style], title .. ' looks like ' .. tostring(seen[style]))
      seen[style] = title
      local colour = style:match('#%x+')
      assert.is_nil(colours[colour], title .. ' has the colour of ' .. tostring(colours[colour]))
      colours[colour] = title
    end
    assert.equal(#names, n)
    -- Figure 4 (rft.experiment.tables.plot_curves): clean heavier, only the Combined rows dashed
    _, script = require('rft.experiment.tables').plot_curves(csv, png, 't')
    local dashed = {}
    for dt, lw, title in script:gmatch(" dt (%d) lw ([%d.]+) title '([^']*)'") do
      if dt ~= '1' then dashed[#dashed + 1] = title end
      if title == 'clean' then assert.is_true(tonumber(lw) > 2) else assert.is_true(tonumber(lw) < 2) end
    end
    assert.same({ 'Combined+', 'Combined-' }, dashed)
    assert.truthy(script:find('set xtics 1\n', 1, true))
    os.remove(csv); os.remove(png)
  end)

  it('labels a long epoch axis every few epochs and marks every few points', function()
    assert.same({ 1, 1, 2, 5, 10, 10, 20 }, { rft.report.tic_step(3), rft.report.tic_step(20), rft.report.tic_step(21),
      rft.report.tic_step(60), rft.report.tic_step(120), rft.report.tic_step(200), rft.report.tic_step(350) })
    local csv = os.tmpname() .. '.csv'
    local f = assert(io.open(csv, 'w'))
    f:write('epoch,relu1,relu2\n')
    for e = 1, 200 do f:write(e, ',', 0.5 + e / 1000, ',', 0.6 - e / 1000, '\n') end
    f:close()
    local png = csv:gsub('%.csv$', '.png')
    local _, script = rft.report.plot_csv(csv, png, { x = 'epoch', ys = { 'relu1', 'relu2' } })
    assert.truthy(script:find('set xtics 10\n', 1, true))
    local _, marked = script:gsub(' pi 5 ', '')
    assert.equal(2, marked)
    os.remove(csv); os.remove(png)
  end)
end)
