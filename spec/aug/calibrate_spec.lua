-- Calibration: bisection finds the strength at which a synthetic model's accuracy, a known function
-- of the strength, falls by the target; bounds are respected and unreachable targets reported.
local rft = require 'rft'
local aug = rft.aug

describe('calibration', function()
  it('finds B+ where accuracy 90 - 100·delta has lost 10 points: delta = 0.1', function()
    local calls = 0
    local r = aug.calibrate { family = 'B+', evaluate = function(s) calls = calls + 1; return 90 - 100 * s end }
    assert.is_true(r.reached)
    assert.near(0.1, r.strength, 0.002)
    assert.is_true(r.strength >= 0.1)            -- the weakest strength known to cost the target
    assert.near(90, r.baseline, 1e-12)
    assert.is_true(r.drop >= 10)
    assert.equal('delta', r.param)
    assert.equal(calls, r.evaluations)
    assert.equal(0, r.history[1].strength)       -- baseline at the neutral strength
  end)

  it('searches B- on the negative side and takes the target as a fraction below 1', function()
    local r = aug.calibrate { family = 'B-', target_drop = 0.10, baseline = 80,
                              evaluate = function(d) return 80 - 50 * math.abs(d) end }
    assert.near(-0.2, r.strength, 0.002)
    assert.equal(10, r.target_drop)
  end)

  it('finds a threshold on a non-linear accuracy curve (S+, a sigmoid in log alpha)', function()
    local function acc(a) return 40 + 50 / (1 + math.exp(3 * (math.log(a) - math.log(8)))) end
    local r = aug.calibrate { family = 'S+', evaluate = acc, tol = 1e-3 }
    assert.near(acc(1) - 10, acc(r.strength), 0.05)
  end)

  it('stops S- at alpha = 0 and says when the target cannot be reached', function()
    local r = aug.calibrate { family = 'S-', evaluate = function(a) return 90 - 5 * (1 - a) end }
    assert.is_false(r.reached)
    assert.equal(0, r.strength)
    assert.near(85, r.accuracy, 1e-12)
    for _, h in ipairs(r.history) do assert.is_true(h.strength >= 0 and h.strength <= 1) end
  end)

  it('builds each family\'s pipeline from one strength', function()
    assert.equal('GN = gaussian_noise{mean=0, sigma=0.08}', tostring(aug.family('GN', 0.08)))
    assert.equal('GB = gaussian_blur{size=3, sigma=1.2, border=reflect101}', tostring(aug.family('GB', 1.2)))
    assert.equal('SAP = salt_pepper{p=0.03, q=0.5, rho=0.5, per=value}', tostring(aug.family('SAP', 0.03)))
    local p = aug.from_calibration { rows = { { family = 'GN', strength = 0.1 }, { family = 'S-', strength = 0.25 } } }
    assert.equal(0.1, p.GN.params.sigma); assert.equal(0.25, p['S-'].params.alpha)
    assert.equal(0.39, p['B+'].params.delta)     -- rows not calibrated keep the paper's value
    assert.matches('2 S%- saturation{alpha=0.25}', tostring(p.combined_minus))
  end)

  it('calibrates through a model and data (rft.train.evaluate) when given them', function()
    package.loaded['rft.train'] = package.loaded['rft.train'] or false
    local real = package.loaded['rft.train']
    -- a stand-in evaluate: "accuracy" = 100 · (1 - mean distortion of the batch), so the target is
    -- reached where brightness shifts the mean image by 0.1
    package.loaded['rft.train'] = { evaluate = function(net, d, o)
      local x = o.transform(d.x, d.ids)
      return 100 * (1 - math.abs(x:mean() - d.x:mean()) * net.k)
    end }
    local d = { x = rft.tensor { shape = { 4, 3, 4, 4 } }:fill(0.5), ids = rft.from_table({ 0, 1, 2, 3 }, { 4 }, 'i32') }
    local ok, r = pcall(aug.calibrate, { family = 'B+', model = { k = 1 }, data = d, target_drop = 0.1 })
    package.loaded['rft.train'] = real or nil
    assert(ok, r)
    assert.near(0.1, r.strength, 0.003)
  end)

  it('refuses unknown families and missing evaluators', function()
    assert.error_matches(function() aug.calibrate { family = 'XX', evaluate = function() return 1 end } end,
                         "aug.calibrate: unknown family 'XX'")
    assert.error_matches(function() aug.calibrate { family = 'GN' } end, 'give evaluate=function%(strength%)')
  end)
end)
