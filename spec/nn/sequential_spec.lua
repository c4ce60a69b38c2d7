-- nn.Sequential: taps after forward, tap gradients joining the backward pass (checked against
-- finite differences of a loss that reads the taps), flat parameters, names and printing.
local rft = require 'rft'
local nn = rft.nn
local ffi = require 'ffi'

local function small_net(seed)
  local net = nn.Sequential {
    nn.Conv2d { cin = 2, cout = 3, k = 3, pad = 1 }, nn.ReLU(),
    nn.MaxPool2d { k = 2 },
    nn.Conv2d { cin = 3, cout = 4, k = 3, pad = 1 }, nn.ReLU(),
    nn.Flatten(), nn.Linear { cin = 16, cout = 3 },
    input = { 2, 4, 4 },
  }
  net:reset(seed or 1)
  net:flatten()
  return net
end

-- L = sum(logits * r) + sum over taps of sum(tap * r_tap): its gradient is r at the logits and
-- r_tap at each tap.
local function loss(net, x, r, rt)
  local y = net:forward(x)
  local s = 0
  local a, b = y:to_table(), r:to_table()
  for i = 1, #a do s = s + a[i] * b[i] end
  for _, tap in ipairs(net:taps()) do
    local u, v = tap.tensor:to_table(), rt[tap.name]:to_table()
    for i = 1, #u do s = s + u[i] * v[i] end
  end
  return s
end

describe('nn.Sequential', function()
  it('taps every ReLU by default, named in forward order', function()
    local net = small_net()
    net:forward(rft.rand.uniform(rft.tensor { shape = { 2, 2, 4, 4 } }, { seed = 1 }))
    local taps = net:taps()
    assert.equal(2, #taps)
    assert.equal('relu1', taps[1].name); assert.same({ 2, 3, 4, 4 }, taps[1].tensor:shape())
    assert.equal('relu2', taps[2].name); assert.same({ 2, 4, 2, 2 }, taps[2].tensor:shape())
  end)

  it('adds tap gradients where they belong: the gradient matches finite differences', function()
    local net = small_net(5)
    local x = rft.rand.uniform(rft.tensor { shape = { 2, 2, 4, 4 } }, { seed = 2, lo = -1, hi = 1 })
    local r = rft.rand.normal(rft.tensor { shape = { 2, 3 } }, { seed = 3 })
    local rt = { relu1 = rft.rand.normal(rft.tensor { shape = { 2, 3, 4, 4 } }, { seed = 4 }),
                 relu2 = rft.rand.normal(rft.tensor { shape = { 2, 4, 2, 2 } }, { seed = 5 }) }
    net:zero_grad()
    net:forward(x)
    net:backward(x, r, rt)
    local g = net.flat_grads:to_table()
    local p = net.flat_params:data()
    local eps, worst = 1e-2, 0
    for _, i in ipairs { 0, 7, 20, 54, 60, 100, 150, 170, net.flat_params:numel() - 1 } do
      local old = p[i]
      p[i] = old + eps; local lp = loss(net, x, r, rt)
      p[i] = old - eps; local lm = loss(net, x, r, rt)
      p[i] = old
      local fd = (lp - lm) / (2 * eps)
      worst = math.max(worst, math.abs(fd - g[i + 1]) / math.max(1, math.abs(fd)))
    end
    assert.is_true(worst < 2e-2, 'worst relative gradient error ' .. worst)
  end)

  it('without tap gradients gives the gradient of the logits loss alone', function()
    local net = small_net(5)
    local x = rft.rand.uniform(rft.tensor { shape = { 1, 2, 4, 4 } }, { seed = 2 })
    local r = rft.rand.normal(rft.tensor { shape = { 1, 3 } }, { seed = 3 })
    net:zero_grad(); net:forward(x); net:backward(x, r)
    local g1 = net.flat_grads:to_table()
    local zero = { relu1 = rft.tensor { shape = { 1, 3, 4, 4 } }, relu2 = rft.tensor { shape = { 1, 4, 2, 2 } } }
    net:zero_grad(); net:forward(x); net:backward(x, r, zero)
    assert.same(g1, net.flat_grads:to_table())
  end)

  it('keeps parameters in one flat buffer that the layers view', function()
    local net = small_net()
    local conv = net.modules[1]
    conv.weight:fill(0.5)
    assert.equal(0.5, net.flat_params:view(0, conv.weight:numel()):max())
    -- every view starts on a 64-byte boundary of the buffer (cuDNN's and vector loops' alignment)
    local ffi = require 'ffi'
    local base, total = ffi.cast('intptr_t', net.flat_params:data()), 0
    for _, p in ipairs(net:parameters()) do
      assert.equal(0, tonumber(ffi.cast('intptr_t', p:data()) - base) % 64)
      total = total + math.ceil(p:numel() / 16) * 16
    end
    assert.equal(total, net.flat_params:numel())
  end)

  it('names state with PyTorch Sequential indices', function()
    local sd = small_net():state_dict()
    for _, k in ipairs { '0.weight', '0.bias', '3.weight', '3.bias', '6.weight', '6.bias' } do assert.is_truthy(sd[k], k) end
    assert.is_nil(sd['1.weight'])
  end)

  it('prints one line per layer with output shapes and parameter counts', function()
    local s = tostring(small_net())
    assert.is_truthy(s:find('nn.Sequential %(2x4x4 %-> 3%), 220 parameters'))
    assert.is_truthy(s:find('%(0%) nn.Conv2d%(2 %-> 3, 3x3, pad 1%)%s+%-> 3x4x4%s+57'))
    assert.is_truthy(s:find('%[tap relu2%]'))
  end)

  it('refuses unknown taps and says which module failed', function()
    local net = small_net()
    assert.error_matches(function() net:set_taps { 'relu7' } end, 'the network has no layer relu7')
    assert.error_matches(function() net:forward(rft.tensor { shape = { 1, 5, 4, 4 } }) end,
      'In module 0 %(nn.Conv2d%(2 %-> 3, 3x3, pad 1%)%) of nn.Sequential: conv2d: input has 5 channels')
  end)
end)
