-- rft.train: a run killed after an epoch resumes from its checkpoint to exactly the weights of an
-- uninterrupted run; a diverging loss stops training with a message; evaluation counts per class.
local rft = require 'rft'

local synthetic = require 'support.synthetic'

local function tiny_net()
  return rft.models.fast { width = 0.125, seed = 1 }
end

local function run(out, epochs, resume, key, lr)
  local net = tiny_net()
  rft.train.fit { net = net, train = synthetic(64, 1), epochs = epochs, batch = 16, lr = lr or 0.05, seed = 2,
                  out = out, resume = resume, key = key }
  return net
end

describe('rft.train', function()
  it('resumes a killed run from its last checkpoint to the same weights as an uninterrupted run', function()
    local dir = os.tmpname(); os.remove(dir)
    local whole = run(dir .. '/whole', 2, false)
    run(dir .. '/killed', 1)                 -- stops after epoch 1, as if killed during epoch 2
    local resumed = run(dir .. '/killed', 2) -- picks up at epoch 2
    assert.same(whole.flat_params:to_table(), resumed.flat_params:to_table())
    local f = assert(io.open(dir .. '/killed/train.csv'))
    local csv = f:read('*a'); f:close()
    assert.is_truthy(csv:find('^epoch,lr,train_loss'))
    assert.is_truthy(csv:find('\n2,'))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it('does not resume from a checkpoint another configuration wrote', function()
    local dir = os.tmpname(); os.remove(dir)
    local fresh = run(dir .. '/a', 1, false, 'config A')
    run(dir .. '/b', 1, false, 'config B', 0.2)
    local again = run(dir .. '/b', 1, true, 'config A')    -- B's checkpoint (lr 0.2): trains anew
    assert.same(fresh.flat_params:to_table(), again.flat_params:to_table())
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it('learns a learnable problem', function()
    local net = tiny_net()
    local d = synthetic(128, 3)
    rft.train.fit { net = net, train = d, epochs = 4, batch = 16, lr = rft.train.one_cycle(0.1, 4), seed = 1, crop = 0, flip = false }
    local acc, per = rft.train.evaluate(net, d)
    assert.is_true(acc > 80, 'training accuracy ' .. acc)
    assert.equal(4, #per + 1)                 -- per-class entries 0..3
  end)

  it('stops with a clear message when the loss stops being finite', function()
    local net = tiny_net()
    assert.error_matches(function()
      rft.train.fit { net = net, train = synthetic(32, 1), epochs = 1, batch = 16, lr = 1e30 }
    end, 'training stopped: the loss is .* at epoch 1, batch %d+')
  end)

  it('reads learning-rate schedules given as pieces, numbers and functions', function()
    local sched = { { lr = 1e-2, epochs = 20 }, { lr = 1e-4, epochs = 10 }, { lr = 1e-6, epochs = 10 } }
    assert.equal(1e-2, rft.train.lr_at(sched, 0)); assert.equal(1e-2, rft.train.lr_at(sched, 19.9))
    assert.equal(1e-4, rft.train.lr_at(sched, 20)); assert.equal(1e-6, rft.train.lr_at(sched, 39))
    assert.equal(40, rft.train.schedule_epochs(sched))
    local oc = rft.train.one_cycle(1, 10, 0.2)
    assert.equal(0.5, oc(1)); assert.equal(1, oc(2)); assert.equal(0.5, oc(6)); assert.equal(0, oc(10))
  end)
end)
