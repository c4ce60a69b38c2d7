-- The FMA (paper eq. 6) and stability-training losses: against PyTorch autograd references
-- (tools/fixtures/robust_losses.py) and central finite differences, with their options.
local rft = require 'rft'
local fx = require 'support.fixture'
local ffi = require 'ffi'
local C = rft.C

local ref = fx.load('robust_losses')

local function fma_layer(f, scale, eps, exact)
  local g = rft.tensor { shape = { 0 } }
  local v = ffi.new('double[1]')
  local a = ffi.new('rft_fma_args', { eps, exact and 1 or 0 })
  assert.equal(0, C.rft_fma_loss(a, scale, f, v, g), ffi.string(C.rft_last_error()))
  return v[0], g
end

local function st(z, alpha, kl, cc)
  local g = rft.tensor { shape = { 0 } }
  local v = ffi.new('double[1]')
  local a = ffi.new('rft_stability_args', { alpha, kl and 1 or 0, cc and 1 or 0 })
  assert.equal(0, C.rft_stability_loss(a, z, v, g), ffi.string(C.rft_last_error()))
  return v[0], g
end

-- Central differences of loss(t) at a few elements, against the analytic gradient g.
local function check_fd(t, g, loss, idx, eps, tol)
  local p, gg = t:data(), g:to_table()
  for _, i in ipairs(idx) do
    local old = p[i]
    p[i] = old + eps; local lp = loss()
    p[i] = old - eps; local lm = loss()
    p[i] = old
    local fd = (lp - lm) / (2 * eps)
    assert.is_true(math.abs(fd - gg[i + 1]) <= tol * math.max(1e-3, math.abs(fd)),
      string.format('element %d: finite difference %.6g, analytic %.6g', i, fd, gg[i + 1]))
  end
end

describe('the FMA loss', function()
  for _, exact in ipairs { false, true } do
    local key = 'fma.exact' .. (exact and 1 or 0)
    it('matches PyTorch autograd (normaliser ' .. (exact and 'differentiated' or 'constant') .. ')', function()
      local loss, g = fma_layer(ref['fma.f'], 0.7, 1e-3, exact)
      assert.near(ref[key .. '.loss']:to_table()[1], loss, 1e-5 * math.abs(loss))
      fx.assert_close(g, ref[key .. '.grad'], 1e-6, 1e-4, key .. ' gradient')
    end)
  end

  -- eq. 6 in float64 from f's values (the differentiated normaliser's value is the same formula)
  local function fma64(f, scale, eps)
    local p, b = f:data(), #f / 2
    local k, total = f:numel() / #f, 0
    for i = 0, b - 1 do
      local m, s = 0, 0
      for j = 0, k - 1 do
        local c, d = p[i * k + j], p[(i + b) * k + j]
        m, s = m + c, s + (c - d) ^ 2
      end
      m = m / k + eps
      total = total + s / (k * m * m)
    end
    return scale * total / b
  end

  it('has the value of eq. 6 in float64 and its gradient by finite differences, through both views', function()
    -- its sums run in f32 lanes within blocks (engine/loss/fma_sums.h): the value is good to about
    -- 1e-7 of itself, too coarse for differences of steps of 1e-3, which are taken of the float64 value
    local f = ref['fma.f']:copy()
    local v, g = fma_layer(f, 0.7, 1e-3, true)
    assert.near(fma64(f, 0.7, 1e-3), v, 1e-7 * v)
    g = g:copy()
    check_fd(f, g, function() return fma64(f, 0.7, 1e-3) end, { 0, 17, 59, 60, 200, 359 }, 1e-3, 2e-2)
  end)

  it('is zero with zero gradient when the two views agree, and scales with gamma', function()
    local half = rft.rand.uniform(rft.tensor { shape = { 2, 3, 2, 2 } }, { seed = 1 })
    local f = rft.cat { half, half }
    local loss, g = fma_layer(f, 1, 1e-8, false)
    assert.equal(0, loss); assert.equal(0, g:min()); assert.equal(0, g:max())
    local l1 = fma_layer(ref['fma.f'], 1, 1e-3, false)
    local l3 = fma_layer(ref['fma.f'], 3, 1e-3, false)
    assert.near(3 * l1, l3, 1e-9 * l3)
  end)

  it('averages layers, weighted, through rft.loss.fma and keys gradients by tap name', function()
    local f = ref['fma.f']
    local taps = { { name = 'relu1', tensor = f }, { name = 'relu2', tensor = f } }
    local one = fma_layer(f, 1, 1e-8, false)
    local loss, grads, per = rft.loss.fma(taps, { gamma = 2, weights = { relu2 = 3 } })
    assert.near(2 * (one + 3 * one) / 2, loss, 1e-6 * loss)
    assert.near(one, per.relu1, 1e-6 * one)
    assert.is_truthy(grads.relu1); assert.is_truthy(grads.relu2)
    local only = rft.loss.fma(taps, { layers = { 'relu2' } })
    assert.near(one, only, 1e-6 * one)
  end)

  it('refuses a batch that is not two views', function()
    assert.error_matches(function() rft.loss.fma { { name = 'r', tensor = rft.tensor { shape = { 3, 2 } } } } end,
      'fma: feature map %[3,2%] must hold a two%-view batch')
  end)
end)

describe('the stability loss', function()
  it('refuses logits without classes', function()
    assert.error_matches(function() rft.loss.stability(rft.tensor { shape = { 4, 0 } }) end,
      'stability: logits %[4,0%] have no classes')
  end)

  for _, kl in ipairs { false, true } do
    for _, cc in ipairs { false, true } do
      local key = string.format('st.kl%d.cc%d', kl and 1 or 0, cc and 1 or 0)
      it(string.format('matches PyTorch autograd (%s form%s)', kl and 'KL' or 'cross-entropy',
        cc and ', clean branch constant' or ''), function()
        local loss, g = st(ref['st.z'], 0.5, kl, cc)
        assert.near(ref[key .. '.loss']:to_table()[1], loss, 1e-5 * math.abs(loss))
        fx.assert_close(g, ref[key .. '.grad'], 1e-6, 1e-4, key .. ' gradient')
      end)
    end
  end

  it('has the gradient of its value by finite differences', function()
    local z = ref['st.z']:copy()
    for _, kl in ipairs { false, true } do
      local _, g = st(z, 0.5, kl, false)
      g = g:copy()
      check_fd(z, g, function() return (st(z, 0.5, kl, false)) end, { 0, 5, 13, 39, 40, 47, 79 }, 1e-2, 2e-2)
    end
  end)

  it('the KL form is zero for identical views; the cross-entropy form is then the entropy', function()
    local half = rft.rand.normal(rft.tensor { shape = { 3, 5 } }, { seed = 4 })
    local z = rft.cat { half, half }
    local l = rft.loss.stability(z, { kl = true })
    assert.near(0, l, 1e-7)
    assert.is_true(rft.loss.stability(z) > 0)
  end)
end)
