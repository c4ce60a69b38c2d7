-- The one registry of paper 1's seven distortions (rft.aug.distortions): Table 1's values as DESIGN.md
-- §4 lists them, and every reader (presets, calibration, from_calibration, the tables' rows) built
-- from it.
local rft = require 'rft'
local aug = rft.aug
local R = require 'rft.aug.distortions'

describe('rft.aug.distortions', function()
  it("holds Table 1's strengths for CIFAR-10 and ImageNet (DESIGN.md §4)", function()
    local cifar = { ['B+'] = 0.39, ['B-'] = -0.36, ['S+'] = 6.0, ['S-'] = 0.0, GN = 0.075, GB = 0.675, SAP = 0.025 }
    local imagenet = { ['B+'] = 0.43, ['B-'] = -0.32, ['S+'] = 4.0, ['S-'] = 0.2, GN = 0.08, GB = 1.175, SAP = 0.01 }
    assert.same({ 'B+', 'B-', 'GB', 'GN', 'SAP', 'S+', 'S-' }, R.names)
    for n, v in pairs(cifar) do assert.equal(v, R.table1(n, 'cifar10'), n) end
    for n, v in pairs(imagenet) do assert.equal(v, R.table1(n, 'imagenet'), n) end
    assert.same({ size = 3, sigma = 1.175 }, aug.paper.imagenet.values.GB)
    assert.same({ p = 0.01, q = 0.7, rho = 0.7 }, aug.paper.imagenet.values.SAP)
    assert.error_matches(function() R.get('XX') end, "unknown distortion 'XX' %(expected B%+, B%-, GB")
  end)

  it('gives the presets, the calibration families and the table rows one list', function()
    local rows = require('rft.experiment').rows
    assert.same({ 'clean', 'B+', 'B-', 'GB', 'GN', 'SAP', 'S+', 'S-', 'Combined+', 'Combined-' }, rows)
    for _, d in ipairs(R.list) do
      assert.equal(aug.paper.cifar10[d.field], aug.paper.cifar10[d.name])
      assert.equal(d.name, aug.paper.cifar10[d.name].label)
      local f = require('rft.aug.calibrate').families[d.name]
      assert.equal(d.param, f.param)
      assert.equal(d.bound, f.bound)
    end
    assert.truthy(tostring(aug.paper.cifar10.combined_plus):find('Combined+', 1, true))
  end)

  it('applies a preset exactly as the step it names (B+ at 0.39 is brightness 0.39)', function()
    local x = rft.rand.uniform(rft.tensor { shape = { 2, 3, 8, 8 } }, { seed = 4 })
    local ids = rft.from_table({ 0, 1 }, { 2 }, 'i32')
    local a = aug.paper.cifar10['B+']:apply(x, { seed = 1, ids = ids }):copy()
    local b = aug.brightness { delta = 0.39 }:apply(x, { seed = 1, ids = ids })
    assert.same(b:to_table(), a:to_table())
  end)

  it('builds presets from a calibration: calibrated strengths replace Table 1, the rest stay', function()
    local p = aug.from_calibration { rows = { { family = 'GN', strength = 0.2 }, { family = 'SAP', strength = 0.1 } } }
    assert.equal(0.2, p.values.GN)
    assert.same({ p = 0.1, q = 0.5, rho = 0.5 }, p.values.SAP)
    assert.equal(0.39, p.values.B_plus)
    assert.same({ size = 3, sigma = 0.675 }, p.values.GB)
    assert.equal(aug.paper.cifar10.values.GB.sigma, 0.675)   -- the shared Table 1 values are not modified
  end)
end)
