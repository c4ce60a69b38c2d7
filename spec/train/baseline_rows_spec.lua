-- The baseline's ten rows are cached beside it per set of strengths: a second run with the same
-- pipelines reads them, other strengths evaluate afresh.
local rft = require 'rft'
local baseline = require 'rft.experiment.baseline'
local aug = rft.aug

local function synthetic(n) return require('support.random_cifar')(n, 2) end

describe('the baseline rows cache', function()
  it('evaluates once per set of pipelines and reads the file afterwards', function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir '" .. dir .. "'")
    local d = synthetic(20)
    local net = rft.models.fast { width = 0.125, seed = 1 }
    local first = baseline.rows(net, d, aug.paper.cifar10, dir)
    local direct = require('rft.experiment.protocol').evaluate_rows(net, d, aug.paper.cifar10)
    assert.same(direct, first)
    -- the same pipelines read the file: a value put there (no accuracy can be 123.5) comes back
    local cjson = require 'cjson'
    local file = io.popen("ls '" .. dir .. "'/rows_*.json"):read('*l')
    local f = io.open(file); local cached = cjson.decode(f:read('*a')); f:close()
    cached.rows.clean = 123.5
    f = io.open(file, 'w'); f:write(cjson.encode(cached)); f:close()
    assert.equal(123.5, baseline.rows(net, d, aug.paper.cifar10, dir).clean)
    -- other strengths: evaluated afresh, in a second file
    local presets = aug.from_calibration { rows = { { family = 'GN', strength = 0.3 } } }
    local fresh = baseline.rows(net, d, presets, dir)
    assert.same(require('rft.experiment.protocol').evaluate_rows(net, d, presets), fresh)
    assert.equal(first.clean, fresh.clean)
    local n = 0
    for _ in io.popen("ls '" .. dir .. "'"):lines() do n = n + 1 end
    assert.equal(2, n)
    -- as many validation images with the same pipelines: their own file, not the test set's
    local val = synthetic(20)
    val.part = 'validation'
    assert.same(direct, baseline.rows(net, val, aug.paper.cifar10, dir))
    n = 0
    for _ in io.popen("ls '" .. dir .. "'"):lines() do n = n + 1 end
    assert.equal(3, n)
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
