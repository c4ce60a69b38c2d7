-- The summary figures of recipes/corruption_eval.lua (rft.corrupt_eval.summarize), on hand-made
-- accuracies whose figures are worked out beside each check.
local rft = require 'rft'
local E = require 'rft.corrupt_eval'

describe('rft.corrupt_eval.summarize', function()
  it('computes mean corruption accuracy, mCE, relative mCE, CE against a reference, related apart', function()
    local r = { clean = 90, cells = { fog = { 80, 70, 60, 50, 40 }, brightness = { 90, 90, 80, 80, 70 },
                                      saturate = { 85, 85, 85, 85, 85 } } }
    local ref = { clean = 80, cells = { fog = { 60, 50, 40, 30, 20 }, brightness = { 80, 70, 60, 50, 40 },
                                        saturate = { 70, 70, 70, 70, 70 } } }
    E.summarize(ref)
    E.summarize(r, ref)
    assert.near(60, r.per_corruption.fog, 1e-9)
    assert.near(82, r.per_corruption.brightness, 1e-9)
    -- the benchmark's cells only (saturate is an extra): (60 + 82) / 2
    assert.near(71, r.mca, 1e-9)
    assert.near(29, r.mce, 1e-9)
    -- error above clean: fog 40 - 10 = 30, brightness 18 - 10 = 8
    assert.near(19, r.relative_mce, 1e-9)
    -- CE_c = sum_s E / sum_s E_ref: fog 200 / 300, brightness 90 / 200
    assert.near(100 * 200 / 300, r.ce.fog, 1e-9)
    assert.near(100 * 90 / 200, r.ce.brightness, 1e-9)
    assert.near((100 * 200 / 300 + 100 * 90 / 200) / 2, r.mce_normalized, 1e-9)
    -- relative: sum_s (clean - acc) over the reference's: fog 150 / 200, brightness 40 / 100
    assert.near(75, r.relative_ce.fog, 1e-9)
    assert.near(40, r.relative_ce.brightness, 1e-9)
    -- related: brightness and saturate; unrelated: fog
    assert.near((82 + 85) / 2, r.related, 1e-9)
    assert.near(60, r.unrelated, 1e-9)
    assert.is_nil(r.ce.saturate)
  end)

  it('leaves a figure out where it is undefined (a reference with no drop)', function()
    local r = { clean = 50, cells = { fog = { 50, 50, 50, 50, 50 } } }
    E.summarize(r, { clean = 50, cells = { fog = { 50, 50, 50, 50, 50 } } })
    assert.near(100, r.ce.fog, 1e-9)
    assert.is_nil(r.relative_ce.fog)
    assert.is_nil(r.related)
    assert.truthy(rft.corrupt.related.gaussian_noise)
  end)
end)
