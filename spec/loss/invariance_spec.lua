-- The data-augmentation invariance loss (second paper, eq. 3), computed by the engine in O(B D) from
-- sums of squares about the group, class and batch means: against a direct pairwise PyTorch
-- computation with autograd (tools/fixtures/invariance.py), against a float64 evaluation of the
-- pairwise definition itself (value) and float64 central differences of it (gradient), and the
-- paper's claims that it depends neither on the order of the batch nor on the number of copies M.
--
-- Tolerances. The engine works in float (u = 2^-24): a mean of at most B rows carries a relative
-- error <= B u, each difference a - mean an absolute error <= (B + 1) u max|a|, and the squares are
-- summed in float over blocks of at most 512 columns (relative error <= 512 u) before double. With
-- kappa = max|a| / rms(a - mean) (about 5 for the batches here: values in [0, 1.4], spread 0.2), each
-- sum of squares is within 2 (B + 1) u kappa + 512 u <= 2 * 129 * 6e-8 * 5 + 3.1e-5 = 1.1e-4 of itself,
-- and L = N / Den within twice that: 3e-4 relative. The gradient, c_w (a - m_k) - c_r (a - m_ref), has
-- the same relative error in each coefficient and in each difference: 3e-4 of the larger term, bounded
-- by 3e-4 max|grad| per element. The float64 central differences (step h = 1e-5, on a function of
-- scale 1) are exact to h^2 |L'''| + 1e-16 / h ~ 1e-10, far below that.
local rft = require 'rft'
local fx = require 'support.fixture'
local ffi = require 'ffi'
local C = rft.C

local ref = fx.load('invariance')
local REL = 3e-4            -- relative bound on L, derived above

local function inv(f, groups, classes, weight)
  local g = rft.tensor { shape = { 0 } }
  local loss, value = ffi.new('double[1]'), ffi.new('double[1]')
  assert.equal(0, C.rft_invariance_loss(weight or 1, f, groups, classes, loss, value, g), ffi.string(C.rft_last_error()))
  return value[0], g, loss[0]
end

-- The pairwise definition in float64: x a flat Lua array of b rows of dim values, gr and cl arrays of
-- ids (cl nil: all pairs). Mean over seeds with >= 2 copies of the mean same-seed pair distance, over
-- the mean distance of all pairs (or same-class pairs); d = mean squared difference.
local function pairwise(x, b, gr, cl)
  local dim = #x / b
  local function d(i, j)
    local s = 0
    for k = 1, dim do local t = x[(i - 1) * dim + k] - x[(j - 1) * dim + k]; s = s + t * t end
    return s / dim
  end
  local seeds, den, nden = {}, 0, 0
  for i = 1, b do
    for j = i + 1, b do
      local v = d(i, j)
      if not cl or cl[i] == cl[j] then den, nden = den + v, nden + 1 end
      if gr[i] == gr[j] then
        local s = seeds[gr[i]] or { 0, 0 }
        s[1], s[2] = s[1] + v, s[2] + 1
        seeds[gr[i]] = s
      end
    end
  end
  local num, k = 0, 0
  for _, s in pairs(seeds) do num, k = num + s[1] / s[2], k + 1 end
  return (num / k) / (den / nden)
end

-- The float64 central-difference gradient of pairwise() at every element.
local function pairwise_grad(x, b, gr, cl)
  local h, out = 1e-5, {}
  for e = 1, #x do
    local old = x[e]
    x[e] = old + h; local lp = pairwise(x, b, gr, cl)
    x[e] = old - h; local lm = pairwise(x, b, gr, cl)
    x[e] = old
    out[e] = (lp - lm) / (2 * h)
  end
  return out
end

-- A batch of k seeds x m copies: seed rows uniform in [0, 1], copies with N(0, 0.2^2) noise, D = 6.
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

local function maxabs(t)
  local m = 0
  for _, v in ipairs(t) do m = math.max(m, math.abs(v)) end
  return m
end

-- Checks the engine's value and gradient on (f, groups, classes) against the float64 definition.
local function against_float64(f, gr, cl, what)
  local x, b = f:to_table(), #f
  local groups = rft.from_table(gr, { b }, 'i32')
  local classes = cl and rft.from_table(cl, { b }, 'i32')
  local want = pairwise(x, b, gr, cl)
  local v, g, l = inv(f, groups, classes, 0.5)
  assert.is_true(math.abs(v - want) <= REL * math.abs(want), string.format('%s: L %.9g, float64 %.9g', what, v, want))
  assert.near(0.5 * v, l, 1e-15)
  local fd, got = pairwise_grad(x, b, gr, cl), g:to_table()
  local tol = REL * maxabs(fd) * 0.5
  for e = 1, #fd do
    assert.is_true(math.abs(got[e] - 0.5 * fd[e]) <= tol,
      string.format('%s: gradient element %d: %.6g, float64 central difference %.6g', what, e - 1, got[e], 0.5 * fd[e]))
  end
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

  it('equals the float64 pairwise definition, and its gradient the float64 central differences', function()
    -- unequal groups (sizes 3, 1, 4, 2, 1, 3), ids neither contiguous nor sorted nor positive
    local gr = { 7, 7, 7, -2, 40, 40, 40, 40, 5, 5, 9, 3, 3, 3 }
    local pure = { 1, 1, 1, 0, 2, 2, 2, 2, 1, 1, 0, 2, 2, 2 }       -- every group in one class
    local mixed = { 1, 0, 1, 0, 2, 2, 1, 2, 1, 0, 0, 2, 1, 2 }      -- groups across classes
    local f = rft.rand.uniform(rft.tensor { shape = { 14, 3, 2, 3 } }, { seed = 11, lo = 0, hi = 1.4 })
    against_float64(f, gr, nil, 'all pairs')
    against_float64(f, gr, pure, 'same class, pure groups')
    against_float64(f, gr, mixed, 'same class, mixed groups')
    -- D over one 512-column block: the blocked sums
    local wide = rft.rand.uniform(rft.tensor { shape = { 6, 1100 } }, { seed = 12, lo = 0, hi = 1 })
    local x, gw = wide:to_table(), { 0, 0, 1, 1, 1, 2 }
    local v = inv(wide, rft.from_table(gw, { 6 }, 'i32'))
    local want = pairwise(x, 6, gw)
    assert.is_true(math.abs(v - want) <= REL * want, string.format('D = 1100: L %.9g, float64 %.9g', v, want))
  end)

  it('equals the float64 definition on a map large enough for the threads to split its columns', function()
    -- 40 x 1003 values, above the engine's one-thread limit (2^15): each thread takes a share of the
    -- columns; unequal groups, and classes that split a group (the classes' own running sums)
    local b, dim = 40, 1003
    local f = rft.rand.uniform(rft.tensor { shape = { b, dim } }, { seed = 13, lo = 0, hi = 1.4 })
    local x, gr, cl = f:to_table(), {}, {}
    for i = 1, b do gr[i] = math.floor((i - 1) / 7); cl[i] = (i * 3) % 4 end
    for _, c in ipairs { false, true } do
      local v, g = inv(f, rft.from_table(gr, { b }, 'i32'), c and rft.from_table(cl, { b }, 'i32') or nil)
      local want = pairwise(x, b, gr, c and cl or nil)
      assert.is_true(math.abs(v - want) <= REL * want, string.format('L %.9g, float64 %.9g', v, want))
      local got, h = g:to_table(), 1e-4
      local gmax = maxabs(got)
      for _, e in ipairs { 1, 500, 1003, 20 * dim + 7, b * dim } do
        local old = x[e]
        x[e] = old + h; local lp = pairwise(x, b, gr, c and cl or nil)
        x[e] = old - h; local lm = pairwise(x, b, gr, c and cl or nil)
        x[e] = old
        local fd = (lp - lm) / (2 * h)
        -- 3e-4 of the largest gradient value (derived above), plus the central difference's own
        -- error (h^2 times the third derivative ~ 1e-8 of L, and 1e-16 / h)
        assert.is_true(math.abs(got[e] - fd) <= REL * gmax + 1e-9,
          string.format('element %d: %.6g, float64 central difference %.6g', e - 1, got[e], fd))
      end
    end
  end)

  it('agrees with the float64 definition for several K and M, the paper\'s 16 x 8 included', function()
    for _, km in ipairs { { 2, 2 }, { 3, 5 }, { 4, 8 }, { 16, 8 } } do
      local f, groups = copies_batch(km[1], km[2], km[1] * 10 + km[2])
      local want = pairwise(f:to_table(), #f, groups:to_table())
      local got = inv(f, groups)
      assert.is_true(math.abs(got - want) <= REL * want, string.format('K=%d M=%d: %.9g vs %.9g', km[1], km[2], got, want))
    end
  end)

  it('equals the float64 definition for every size of group the engine blocks differently', function()
    -- a group's rows are summed a block of columns at a time, the block shorter for larger groups
    -- (up to 8 rows: 512 columns; 9 to 255: 4096 / M rounded down to 16; more: 16); a singleton
    -- group has no squares. Groups of 1, 4 and 11 rows interleaved (value and gradient), then of
    -- 2 and 300 rows on 40 columns (the value: the gradient's central differences take too long)
    local gr = {}
    for i = 1, 16 do gr[i] = i == 5 and 0 or (i % 4 == 0 and 1 or 2) end
    local f = rft.rand.uniform(rft.tensor { shape = { 16, 6 } }, { seed = 21 })
    against_float64(f, gr, nil, 'groups of 1, 4 and 11 rows')
    local b = 302
    local big = rft.rand.uniform(rft.tensor { shape = { b, 40 } }, { seed = 22 })
    for i = 1, b do gr[i] = (i == 7 or i == 200) and 5 or 9 end
    local want = pairwise(big:to_table(), b, gr)
    local got = inv(big, rft.from_table(gr, { b }, 'i32'))
    assert.is_true(math.abs(got - want) <= REL * want, string.format('groups of 2 and 300: %.9g vs %.9g', got, want))
  end)

  it('does not depend on the order of the rows', function()
    local f, groups = copies_batch(4, 4, 1)
    local perm = rft.rand.permutation(16, { seed = 9 })
    local pf, pg = rft.tensor { shape = { 0 } }, rft.tensor { shape = { 0 }, dtype = 'i32' }
    assert.equal(0, C.rft_tensor_gather(f, perm, pf))
    assert.equal(0, C.rft_tensor_gather(groups, perm, pg))
    assert.near((inv(f, groups)), (inv(pf, pg)), 2 * REL)
  end)

  it('is about the same for M = 4 and M = 16 copies of the same seeds (a ratio of means)', function()
    -- the same 8 seeds and the same noise law: only the number of copies changes
    local f4, g4 = copies_batch(8, 4, 5)
    local f16, g16 = copies_batch(8, 16, 5)
    local a, b = inv(f4, g4), inv(f16, g16)
    assert.is_true(math.abs(a - b) < 0.15 * b, string.format('M=4: %.4f, M=16: %.4f', a, b))
  end)

  it('is 0 with a zero gradient when every row is the same', function()
    local f = rft.from_table({ 0.5, 0.25, 1, 0.5, 0.25, 1, 0.5, 0.25, 1, 0.5, 0.25, 1 }, { 4, 3 })
    local v, g = inv(f, rft.from_table({ 0, 0, 1, 1 }, { 4 }, 'i32'))
    assert.equal(0, v)
    for _, x in ipairs(g:to_table()) do assert.equal(0, x) end
  end)

  it('refuses batches where no seed has two copies, or no two rows share a class', function()
    local f = rft.rand.uniform(rft.tensor { shape = { 4, 3 } }, { seed = 1 })
    local out = rft.tensor { shape = { 0 } }
    local l, v = ffi.new('double[1]'), ffi.new('double[1]')
    assert.equal(C.RFT_EARG, C.rft_invariance_loss(1, f, rft.from_table({ 0, 1, 2, 3 }, { 4 }, 'i32'), nil, l, v, out))
    assert.matches('no seed image has two copies', ffi.string(C.rft_last_error()))
    assert.equal(C.RFT_EARG, C.rft_invariance_loss(1, f, rft.from_table({ 0, 0, 1, 1 }, { 4 }, 'i32'),
      rft.from_table({ 0, 1, 2, 3 }, { 4 }, 'i32'), l, v, out))
    assert.matches('no pair of rows shares a class', ffi.string(C.rft_last_error()))
  end)

  it('refuses a gradient that shares memory with the feature map', function()
    local f = rft.rand.uniform(rft.tensor { shape = { 4, 3 } }, { seed = 1 })
    local g = rft.from_table({ 0, 0, 1, 1 }, { 4 }, 'i32')
    local l, v = ffi.new('double[1]'), ffi.new('double[1]')
    assert.equal(C.RFT_EARG, C.rft_invariance_loss(1, f, g, nil, l, v, f))
    assert.matches('grad shares memory with the feature map', ffi.string(C.rft_last_error()))
  end)
end)

describe('the invariance loss without waiting (one slot per tap, read once)', function()
  it('leaves each tap\'s value in its slot and the gradient of the synchronous call', function()
    local f, groups = copies_batch(3, 4, 2)
    local out = rft.tensor { shape = { 6 } }:fill(-7)
    local g = rft.tensor { shape = { 0 } }
    assert.equal(0, C.rft_invariance_loss_async(0.25, f, groups, nil, out, 1, g), ffi.string(C.rft_last_error()))
    local v, gs = inv(f, groups, nil, 0.25)
    local o = out:to_table()
    assert.same({ -7, -7 }, { o[1], o[2] })
    assert.equal(tonumber(ffi.new('float', v)), o[3])       -- the value, rounded to the slot's float
    assert.equal(0, o[4])                                    -- no refusal
    assert.equal(72, g:numel())
    fx.assert_close(g, gs, 0, 0, 'gradient')
    local vals = ffi.new('double[2]')
    assert.equal(0, C.rft_invariance_read(out, 2, vals), ffi.string(C.rft_last_error()))
    assert.equal(o[3], vals[1])
  end)

  it('reads a refusal code back as the loss\'s own sentence, and refuses a slot out of range', function()
    local out = rft.from_table({ 0.5, 0, 0.5, 1 }, { 4 })
    local vals = ffi.new('double[2]')
    assert.equal(C.RFT_EARG, C.rft_invariance_read(out, 2, vals))
    assert.matches('^invariance: no seed image has two copies in the batch', ffi.string(C.rft_last_error()))
    local f, groups = copies_batch(2, 2, 3)
    assert.equal(C.RFT_ESHAPE, C.rft_invariance_loss_async(1, f, groups, nil, out, 2, rft.tensor { shape = { 0 } }))
    assert.matches('slot 2 needs out to hold at least 6 values', ffi.string(C.rft_last_error()))
  end)

  it('gives rft.loss.invariance the same loss, gradients and per-tap values on that path', function()
    local f1, groups = copies_batch(4, 3, 4)
    local f2 = copies_batch(4, 3, 8)
    local taps = { { name = 'relu1', tensor = f1 }, { name = 'relu2', tensor = f2 } }
    local l1, g1, p1 = rft.loss.invariance(taps, groups)
    local keep = { relu1 = g1.relu1:copy(), relu2 = g1.relu2:copy() }
    local l2, g2, p2 = rft.loss.invariance(taps, groups, { async = true })
    for _, name in ipairs { 'relu1', 'relu2' } do
      assert.near(p1[name], p2[name], 1e-7 * p1[name])      -- float slots: 2^-24 relative
      fx.assert_close(g2[name], keep[name], 0, 0, name)
    end
    assert.near(l1, l2, 1e-7 * l1)
  end)
end)
