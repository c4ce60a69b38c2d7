-- Schedules: which pipeline an (epoch, batch) gets, counted from 1.
local rft = require 'rft'
local aug = rft.aug
local S = aug.schedule
local plus, minus = aug.paper.cifar10.combined_plus, aug.paper.cifar10.combined_minus

describe('a schedule', function()
  it('alternates Combined+ (odd epochs) and Combined- (even epochs), the CA strategy', function()
    local s = S.alternate { plus, minus }
    for e = 1, 6 do
      for _, b in ipairs { 1, 2, 391 } do assert.equal(e % 2 == 1 and plus or minus, s:at(e, b)) end
    end
    assert.equal('alternate{Combined+, Combined-} every epoch', tostring(s))
  end)

  it('alternates every batch as an option, restarting each epoch', function()
    local s = S.alternate({ plus, minus, aug.G() }, { every = 'batch' })
    assert.equal(plus, s:at(1, 1)); assert.equal(minus, s:at(1, 2)); assert.equal('G', s:at(1, 3).label)
    assert.equal(plus, s:at(1, 4)); assert.equal(plus, s:at(2, 1)); assert.equal(minus, s(7, 5))
  end)

  it('is fixed for the IA strategy', function()
    local s = S.fixed(aug.paper.cifar10.GN)
    for e = 1, 3 do assert.equal(aug.paper.cifar10.GN, s:at(e, 10)) end
  end)

  it('can be any function of (epoch, batch), asked through schedule.at or wrapped by schedule.new', function()
    -- a warm-up: clean for two epochs, then noise that grows with the epoch
    local function warmup(epoch)
      if epoch <= 2 then return aug.identity() end
      return aug.gaussian_noise { sigma = 0.02 * (epoch - 2) }
    end
    assert.equal('identity', S.at(warmup, 1, 1).kind)
    assert.near(0.04, S.at(warmup, 4, 1).params.sigma, 1e-12)
    local s = S.new(warmup, 'warm-up')
    assert.near(0.06, s:at(5, 3).params.sigma, 1e-12)
    assert.equal('warm-up', tostring(s))
    assert.equal(plus, S.at(plus, 3, 3))         -- a plain pipeline is a fixed schedule
  end)

  it('refuses epochs and batches that are not counted from 1', function()
    assert.error_matches(function() S.alternate { plus, minus }:at(0, 1) end,
                         'schedule.alternate: epoch must be a whole number >= 1, got 0')
    assert.error_matches(function() S.alternate({ plus }, { every = 'step' }) end,
                         "every must be 'epoch' or 'batch', got 'step'")
    assert.error_matches(function() S.at(42, 1, 1) end, 'expected a schedule, a function')
  end)
end)
