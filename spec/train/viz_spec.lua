-- rft.viz.feature_maps: the picture of clean, distorted and normalised-difference maps, and the
-- per-layer FMA terms that come with it.
local rft = require 'rft'

describe('rft.viz.feature_maps', function()
  it('draws three rows of the chosen channels and reports every layer\'s FMA term', function()
    local net = rft.models.fast { width = 0.25, seed = 1 }
    local x = rft.rand.uniform(rft.tensor { shape = { 2, 3, 32, 32 } }, { seed = 1 })
    local xt = rft.aug.brightness { delta = 0.3 }:apply(x, { seed = 1 })
    local path = os.tmpname() .. '.png'
    local r = rft.viz.feature_maps(net, x, xt, { layer = 'relu2', channels = 4, path = path, scale = 1 })
    local img = rft.image.read_png(path)
    -- 3 rows x 4 channels of 32x32 maps, margin 2
    assert.same({ 1, 2 + 3 * 34, 2 + 4 * 34 }, img:shape())
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
