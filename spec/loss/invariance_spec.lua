-- The data-augmentation invariance loss (second paper, eq. 3): against a direct pairwise PyTorch
-- computation with autograd (tools/fixtures/invariance.py), finite differences, and the paper's
-- claims that it depends neither on the order of the batch nor on the number of copies M.
local rft = require 'rft'
local fx = require 'support.fixture'
local ffi = require 'ffi'
local C = rft.C

local ref = fx.load('invariance')

local function inv(f, groups, classes, weight)
  local g = rft.tensor { shape = { 0 } }
  local loss, value = ffi.new('double[1]'), ffi.new('double[1]')
  assert.equal(0, C.rft_invariance_loss(weight or 1, f, groups, classes, loss, value, g), ffi.string(C.rft_last_error()))
  return value[0], g, loss[0]
end

-- Direct O(B^2 D) computation in Lua, for batches the fixture does not cover.
local function direct(f, groups)
  local b, x, gr = #f, f:to_table(), groups:to_table()
  local dim = #x / b
  local function d(i, j)
    local s = 0
    for k = 1, dim do local t = x[(i - 1) * dim + k] - x[(j - 1) * dim + k]; s = s + t * t end
    return s / dim
  end
  local seeds, all, nall = {}, 0, 0
  for i = 1, b do
    for j = i + 1, b do
      local v = d(i, j)
      all, nall = all + v, nall + 1
      if gr[i] == gr[j] then
        local s = seeds[gr[i]] or { 0, 0 }
        s[1], s[2] = s[1] + v, s[2] + 1
        seeds[gr[i]] = s
      end
    end
  end
  local num, k = 0, 0
  for _, s in pairs(seeds) do num, k = num + s[1] / s[2], k + 1 end
  return (num / k) / (all / nall)
end

local function copies_batch(k, m, seed)
  local base = rft.rand.uniform(rft.tensor { shape = { k, 6 } }, { seed = seed })
  local noise = rft.rand.normal(rft.tensor { shape = { k * m, 6 } }, { seed = seed + 1, std = 0.2 })
  local bv, nv, out, gv = base:to_table(), noise:to_table(), {}, {}
  for i = 0, k - 1 do
    for j = 0, m - 1 do
      local r = i * m + j
      gv[r + 1] = i
      for e = 1, 6 do out[r * 6 + e] = bv[i * 6 + e] + nv[r * 6 + e] end
    end
  end
  return rft.from_table(out, { k * m, 6 }), rft.from_table(gv, { k * m }, 'i32')
end

describe('the invariance loss', function()
  it('matches the direct pairwise PyTorch computation, value and gradient (all pairs)', function()
    local v, g = inv(ref.f, ref.groups, nil)
    assert.near(ref['all.loss']:to_table()[1], v, 1e-5)
    fx.assert_close(g, ref['all.grad'], 1e-6, 1e-3, 'gradient')
  end)

  it('matches it with the same-class denominator of the authors\' code', function()
    local v, g = inv(ref.f, ref.groups, ref.classes)
    assert.near(ref['same_class.loss']:to_table()[1], v, 1e-5)
    fx.assert_close(g, ref['same_class.grad'], 1e-6, 1e-3, 'gradient')
  end)

  it('has the gradient of its value by finite differences, and applies its weight', function()
    local f = ref.f:copy()
    local _, g, weighted = inv(f, ref.groups, nil, 0.25)
    local v0 = inv(f, ref.groups, nil)
    assert.near(0.25 * v0, weighted, 1e-9)
    g = g:copy()
    local p, gg = f:data(), g:to_table()
    for _, i in ipairs { 0, 9, 33, 100, 150, 239 } do
      local old = p[i]
      p[i] = old + 1e-3; local lp = inv(f, ref.groups, nil)
      p[i] = old - 1e-3; local lm = inv(f, ref.groups, nil)
      p[i] = old
      local fd = 0.25 * (lp - lm) / 2e-3
      assert.is_true(math.abs(fd - gg[i + 1]) <= 2e-2 * math.max(1e-4, math.abs(fd)),
        string.format('element %d: fd %.6g analytic %.6g', i, fd, gg[i + 1]))
    end
  end)

  it('agrees with a direct computation for several K and M', function()
    for _, km in ipairs { { 2, 2 }, { 3, 5 }, { 4, 8 } } do
      local f, groups = copies_batch(km[1], km[2], km[1] * 10 + km[2])
      assert.near(direct(f, groups), (inv(f, groups)), 1e-4)
    end
  end)

  it('does not depend on the order of the rows', function()
    local f, groups = copies_batch(4, 4, 1)
    local perm = rft.rand.permutation(16, { seed = 9 })
    local pf, pg = rft.tensor { shape = { 0 } }, rft.tensor { shape = { 0 }, dtype = 'i32' }
    assert.equal(0, C.rft_tensor_gather(f, perm, pf))
    assert.equal(0, C.rft_tensor_gather(groups, perm, pg))
    assert.near((inv(f, groups)), (inv(pf, pg)), 1e-5)
  end)

  it('is about the same for M = 4 and M = 16 copies of the same seeds (a ratio of means)', function()
    -- the same 8 seeds and the same noise law: only the number of copies changes
    local f4, g4 = copies_batch(8, 4, 5)
    local f16, g16 = copies_batch(8, 16, 5)
    local a, b = inv(f4, g4), inv(f16, g16)
    assert.is_true(math.abs(a - b) < 0.15 * b, string.format('M=4: %.4f, M=16: %.4f', a, b))
  end)

  it('refuses batches where no seed has two copies', function()
    local f = rft.rand.uniform(rft.tensor { shape = { 4, 3 } }, { seed = 1 })
    local g = rft.from_table({ 0, 1, 2, 3 }, { 4 }, 'i32')
    local out = rft.tensor { shape = { 0 } }
    local l, v = ffi.new('double[1]'), ffi.new('double[1]')
    assert.equal(C.RFT_EARG, C.rft_invariance_loss(1, f, g, nil, l, v, out))
    assert.matches('no seed image has two copies', ffi.string(C.rft_last_error()))
  end)

  it('refuses a gradient that shares memory with the feature map', function()
    local f = rft.rand.uniform(rft.tensor { shape = { 4, 3 } }, { seed = 1 })
    local g = rft.from_table({ 0, 0, 1, 1 }, { 4 }, 'i32')
    local l, v = ffi.new('double[1]'), ffi.new('double[1]')
    assert.equal(C.RFT_EARG, C.rft_invariance_loss(1, f, g, nil, l, v, f))
    assert.matches('grad shares memory with the feature map', ffi.string(C.rft_last_error()))
  end)
end)
