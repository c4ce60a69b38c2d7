-- rft.scratch, the buffers kept between calls, keyed by owner, name, device and dtype; and the two
-- device mix-ups it ends, reproduced without a GPU on the second CPU device tag 'cpu2' (the CPU's
-- memory and kernels under another name, so mixing it with 'cpu' fails as mixing cpu and cuda does):
-- a network built on one device and stepped while the default device is another, and one process
-- stepping on one device and then on another.
local rft = require 'rft'
local scratch = require 'rft.scratch'

-- f() with rft.device(device) as the default device, restored after.
local function on(device, f)
  local old = rft.device()
  rft.device(device)
  local ok, a = pcall(f)
  rft.device(old)
  if not ok then error(a, 0) end
  return a
end

local function batch(n, seed, device)
  local x = rft.rand.uniform(rft.tensor { shape = { n, 3, 32, 32 }, device = device }, { seed = seed })
  local labels = {}
  for i = 1, n do labels[i] = (i * 3 + seed) % 10 end
  return x, rft.from_table(labels, { n }, 'i32', device)
end

describe('rft.scratch', function()
  it('gives one buffer per owner, name, device and dtype, empty at first and kept after', function()
    local owner = {}
    local a = scratch.get(owner, 'out', 'cpu')
    assert.same({ 0 }, a:shape()); assert.equal('f32', a:dtype()); assert.equal('cpu', a:device())
    a:resize { 4 }
    assert.equal(a, scratch.get(owner, 'out', 'cpu'))
    assert.equal(a, scratch.get(owner, 'out', a))                 -- a tensor names its device
    local b = scratch.get(owner, 'out', 'cpu2')
    assert.not_equal(a, b); assert.equal('cpu2', b:device())
    local c = scratch.get(owner, 'out', 'cpu', 'i32')
    assert.not_equal(a, c); assert.equal('i32', c:dtype())
    assert.not_equal(a, scratch.get({}, 'out', 'cpu'))
    assert.not_equal(a, scratch.get(owner, 'other', 'cpu'))
    assert.equal(4, scratch.count(owner))
    scratch.release(owner)
    assert.equal(0, scratch.count(owner))
    assert.error_matches(function() scratch.get(nil, 'x', 'cpu') end, 'owner is required')
    assert.error_matches(function() scratch.get(owner, 'x') end, 'device %(a name or a tensor%) is required')
  end)
end)

describe('the second CPU device tag', function()
  it('is a device of its own: operands on cpu and cpu2 are refused, naming both', function()
    local x = rft.tensor { shape = { 4 }, device = 'cpu2' }
    assert.equal('cpu2', x:device())
    assert.error_matches(function() rft.cat { x, rft.tensor { shape = { 4 } } } end, 'cpu2')
    assert.error_matches(function() x:data() end, 'data: the tensor is on cpu2, not the cpu')
    assert.same({ 0, 0, 0, 0 }, x:copy('cpu'):to_table())
  end)
end)

describe('a network and a step on two devices', function()
  it('steps a network built on another device while the default device is the cpu, taps included', function()
    local net = on('cpu2', function() return rft.models.fast { width = 0.25, seed = 2 } end)
    local ref = rft.models.fast { width = 0.25, seed = 2 }
    local x, y = batch(4, 1, 'cpu')
    -- a tapped layer that is not a ReLU: its tap gradient is summed into a scratch buffer
    local function step(n, xs, ys)
      n:set_taps { 'batchnorm2d2', 'relu3' }
      n:zero_grad()
      local logits = n:forward(xs)
      local loss, g = rft.loss.cross_entropy(logits, ys)
      local tg = {}
      for _, tap in ipairs(n:taps()) do
        tg[tap.name] = rft.rand.normal(rft.tensor { shape = tap.tensor:shape(), device = xs:device() }, { seed = 4 })
      end
      return loss, n:backward(xs, g, tg)
    end
    local want, gx_want = step(ref, x, y)
    local got, gx = step(net, x:copy('cpu2'), y:copy('cpu2'))
    assert.equal(want, got)
    assert.equal('cpu2', gx:device())
    assert.same(gx_want:to_table(), gx:copy('cpu'):to_table())
    assert.same(ref.flat_grads:to_table(), net.flat_grads:copy('cpu'):to_table())
    -- and the two-view step
    rft.robust.freeze_bn(ref); rft.robust.freeze_bn(net)
    ref:zero_grad(); net:zero_grad()
    want = rft.robust.step('FMA', ref, x, x:copy(), y, { gamma = 0.5 })
    got = rft.robust.step('FMA', net, x:copy('cpu2'), x:copy('cpu2'), y:copy('cpu2'), { gamma = 0.5 })
    assert.equal(want, got)
    assert.same(ref.flat_grads:to_table(), net.flat_grads:copy('cpu'):to_table())
  end)

  it('runs a two-view step on the cpu, then on another device, then on the cpu again, in one process', function()
    for _, method in ipairs { 'FMA', 'AT', 'ST' } do
      local results = {}
      for k, device in ipairs { 'cpu', 'cpu2', 'cpu' } do
        local net = on(device, function() return rft.models.fast { width = 0.25, seed = 3 } end)
        rft.robust.freeze_bn(net)
        local x, y = batch(3, 5, device)
        local xt = rft.rand.uniform(rft.tensor { shape = { 3, 3, 32, 32 }, device = device }, { seed = 6 })
        net:zero_grad()
        results[k] = rft.robust.step(method, net, x, xt, y, { gamma = 0.5, alpha = 0.1 })
      end
      assert.equal(results[1], results[2], method)
      assert.equal(results[1], results[3], method)
    end
  end)
end)
