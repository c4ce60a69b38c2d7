-- Fine-tuning methods as values (lua/rft/methods/): the registry finds every file of the folder,
-- each method's step puts through the network what it says and its loss reads what it says, and a
-- method defined anywhere runs through the same step.
local rft = require 'rft'
local methods = require 'rft.methods'
local fx = require 'support.fixture'

local setup = require 'support.two_view'

-- loss and parameter gradients of cross-entropy on one batch, by a plain forward and backward
local function ce_alone(net, v, y)
  net:zero_grad()
  local ce, g = rft.loss.cross_entropy(net:forward(v), y)
  net:backward(v, g)
  return ce, net.flat_grads:copy()
end

describe('rft.methods', function()
  it('registers every file of lua/rft/methods/ (the five of the papers among them) under its name', function()
    local names = methods.names()
    local set = {}
    for _, n in ipairs(names) do set[n] = true end
    for _, n in ipairs { 'AT', 'AT-distorted', 'FMA', 'ST', 'clean' } do assert.is_true(set[n], n) end
    local dir = package.searchpath('rft.methods', package.path):match('^(.*)/[^/]*$')
    local p = io.popen("ls -1 '" .. dir .. "'")
    local files = 0
    for line in p:lines() do if line:match('%.lua$') and line ~= 'init.lua' then files = files + 1 end end
    p:close()
    assert.equal(files, #names)
    assert.error_matches(function() methods.get('XYZ') end, "unknown method 'XYZ' %(expected one of AT, AT%-distorted")
  end)

  it('AT-distorted is cross-entropy on x~ alone, and puts only x~ through the network', function()
    local net, x, xt, y = setup()
    local ce, g = ce_alone(net, xt, y)
    net:zero_grad()
    local total, correct, parts = rft.robust.step('AT-distorted', net, x, xt, y)
    assert.near(ce, total, 1e-6)
    assert.equal(ce, parts.j0)
    assert.equal(0, parts.extra)
    assert.equal(4, #net.output)
    fx.assert_close(net.flat_grads, g, 1e-6, 1e-4, 'parameter gradients')
    assert.is_true(correct >= 0 and correct <= 4)
  end)

  it('clean is cross-entropy on x alone and needs no distorted batch', function()
    local net, x, _, y = setup()
    local ce, g = ce_alone(net, x, y)
    net:zero_grad()
    local total = rft.robust.step('clean', net, x, nil, y)
    assert.near(ce, total, 1e-6)
    fx.assert_close(net.flat_grads, g, 1e-6, 1e-4, 'parameter gradients')
    assert.error_matches(function() rft.robust.step('AT', net, x, nil, y) end, 'needs the distorted batch')
  end)

  it('runs a method defined in a few lines through the same step (here: cross-entropy on [x ; x~] at half weight, which is AT)', function()
    local net, x, xt, y = setup()
    local half = methods.define {
      name = 'half-AT', inputs = { 'x', 'xt' },
      loss = function(out) local j, g = rft.loss.cross_entropy(out.logits, out.labels()); return j, g end,
    }
    net:zero_grad()
    local t1 = rft.robust.step(half, net, x, xt, y)
    local g1 = net.flat_grads:copy()
    net:zero_grad()
    local t2 = rft.robust.step('AT', net, x, xt, y)
    assert.equal(t2, t1)
    fx.assert_close(net.flat_grads, g1, 0, 0, 'parameter gradients')
  end)

  it('fills a method\'s options from its flags\' defaults and records them', function()
    local fma = methods.get('FMA')
    local o = methods.options(fma, {})
    assert.equal(0.03, o.gamma)
    assert.is_false(o.exact_normalizer)
    assert.is_true(methods.options('FMA', { gamma = 1, constant_normalizer = false }).exact_normalizer)
    local c = methods.config('FMA', o)
    assert.equal('FMA', c.name)
    assert.equal('constant', c.normaliser)
    assert.equal(0.1, methods.options('ST', {}).alpha)
  end)

  it('refuses a malformed method with a message naming the field', function()
    local loss = function() end
    assert.error_matches(function() methods.define { name = 'a b', inputs = { 'x' }, loss = loss } end, 'name must be a word')
    assert.error_matches(function() methods.define { name = 'm', inputs = { 'y' }, loss = loss } end, "inputs must be {'x'}")
    assert.error_matches(function() methods.define { name = 'm', inputs = { 'x' } } end, 'loss must be a function')
    assert.error_matches(function()
      methods.define { name = 'm', inputs = { 'x' }, loss = loss, flags = { { 'gamma', 'number', 1 } } }
    end, 'flag 1 must be')
  end)
end)
