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

  it('adds a ReLU tap gradient in the ReLU\'s own pass, bit for bit as the copy-and-sum it replaces', function()
    local x = rft.rand.uniform(rft.tensor { shape = { 2, 2, 4, 4 } }, { seed = 2, lo = -1, hi = 1 })
    local r = rft.rand.normal(rft.tensor { shape = { 2, 3 } }, { seed = 3 })
    local rt = { relu1 = rft.rand.normal(rft.tensor { shape = { 2, 3, 4, 4 } }, { seed = 4 }),
                 relu2 = rft.rand.normal(rft.tensor { shape = { 2, 4, 2, 2 } }, { seed = 5 }) }
    local function grads(fused)
      local net = small_net(5)
      for _, m in ipairs(net.modules) do if m.__typename == 'nn.ReLU' then m.adds_tap_grad = fused end end
      net:zero_grad(); net:forward(x)
      local gx = net:backward(x, r, rt)
      return net.flat_grads:to_table(), gx:to_table()
    end
    local g_fused, gx_fused = grads(true)
    local g_ref, gx_ref = grads(false)
    assert.same(g_ref, g_fused)
    assert.same(gx_ref, gx_fused)
  end)

  it('returns the input\'s gradient (finite differences in double); {input_grad = false} skips it', function()
    local net = small_net(7)
    local x = rft.rand.uniform(rft.tensor { shape = { 2, 2, 4, 4 } }, { seed = 8, lo = -1, hi = 1 })
    local r = rft.rand.normal(rft.tensor { shape = { 2, 3 } }, { seed = 9 })
    local rt = { relu2 = rft.rand.normal(rft.tensor { shape = { 2, 4, 2, 2 } }, { seed = 10 }) }
    rt.relu1 = rft.tensor { shape = { 2, 3, 4, 4 } }
    net:zero_grad(); net:forward(x)
    local gx = net:backward(x, r, rt)
    assert.same({ 2, 2, 4, 4 }, gx:shape())
    local g_params = net.flat_grads:to_table()
    local want = gx:to_table()
    -- central differences of L = logits . r + relu2 . r2 in x (summed in double from the float32
    -- maps); eps = 1e-2: L is piecewise linear in x (linear layers, ReLU, max-pool), so away from
    -- kinks the difference is exact but for rounding: the float32 forward's ~1e-6 relative error
    -- on L (|L| ~ 10) is ~1e-5, divided by 2 eps 5e-4 < the 2e-3 allowed; a step crossing a ReLU
    -- kink or a pooling tie differs by O(1), so one point in ten may be off
    local p, eps, off = x:data(), 1e-2, 0
    local idx = { 0, 5, 13, 22, 31, 40, 47, 51, 60, 63 }
    for _, i in ipairs(idx) do
      local old = p[i]
      p[i] = old + eps; local lp = loss(net, x, r, rt)
      p[i] = old - eps; local lm = loss(net, x, r, rt)
      p[i] = old
      local fd = (lp - lm) / (2 * eps)
      if math.abs(fd - want[i + 1]) > 2e-3 * math.max(1, math.abs(fd)) then off = off + 1 end
    end
    assert.is_true(off <= 1, off .. ' of ' .. #idx .. ' input-gradient entries differ from finite differences')
    assert.is_true(gx:max() - gx:min() > 0, 'the input gradient is not all equal')
    net:zero_grad(); net:forward(x)
    assert.is_nil(net:backward(x, r, rt, { input_grad = false }))
    assert.same(g_params, net.flat_grads:to_table())
    net:zero_grad(); net:forward(x)
    net:backward(x, r, rt, { scale = 2, input_grad = false })
    local g2 = net.flat_grads:to_table()
    for i = 1, #g2, 17 do assert.near(2 * g_params[i], g2[i], 1e-6 * math.max(1, math.abs(g2[i]))) end
    assert.error_matches(function() net:backward(x, r, rt, 'fast') end, 'fourth argument is a scale or an options table')
  end)

  it('runs batch norm + ReLU as one layer, bit for bit as the two, in both modes, taps and tap gradients included', function()
    local x = rft.rand.uniform(rft.tensor { shape = { 3, 3, 32, 32 } }, { seed = 11 })
    local labels = rft.from_table({ 1, 4, 7 }, { 3 }, 'i32')
    local function run(fuse, mode)
      local net = rft.models.fast { width = 0.25, seed = 12 }
      net.fuse_bn_relu = fuse
      if mode == 'train' then net:train() else rft.robust.freeze_bn(net) end
      local out = {}
      for step = 1, 2 do                          -- the second step reads updated running statistics
        net:zero_grad()
        local logits = net:forward(x)
        local _, g = rft.loss.cross_entropy(logits, labels)
        local tg = {}
        for k, tap in ipairs(net:taps()) do
          out[#out + 1] = tap.tensor:to_table()
          tg[tap.name] = rft.rand.normal(rft.tensor { shape = tap.tensor:shape() }, { seed = 20 + k, std = 1e-3 })
        end
        local gx = net:backward(x, g, tg)
        out[#out + 1] = logits:to_table()
        out[#out + 1] = gx:to_table()
        out[#out + 1] = net.flat_grads:to_table()
      end
      local sd, names = net:state_dict(), {}
      for name in pairs(sd) do names[#names + 1] = name end
      table.sort(names)
      for _, name in ipairs(names) do out[#out + 1] = sd[name]:to_table() end
      return out, net
    end
    for _, mode in ipairs { 'train', 'frozen' } do
      local fused, net = run(nil, mode)
      assert.is_true(net.fused[2] == true, 'conv, batch norm, ReLU: the batch norm (index 2) is fused')
      local plain = run(false, mode)
      assert.equal(#plain, #fused)
      for k = 1, #plain do assert.same(plain[k], fused[k], mode .. ' mode, tensor ' .. k) end
    end
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
