-- CUDA parity of the tensor ops, losses, metrics, optimizer and data path (kernels/tensor_ops.cu,
-- cross_entropy.cu, accuracy.cu, fma.cu, stability.cu, invariance.cu, sgd.cu, crop_flip.cu): the same
-- CPU inputs on both devices, the CPU result as the ground truth. Bit-identical where the kernels
-- round as the CPU does (axpy, scale, gather, argmax, top-k counts, SGD, crop_flip); within a stated
-- tolerance where only the order of a sum differs (the losses: double sums, ~1e-15 relative; the
-- invariance loss and score: float means and sums of squares, tolerances derived beside them). Odd
-- sizes throughout, and bad labels or indices refused with the CPU's sentence. Without a usable device every case is pending;
-- RFT_CUDA_SPECS_ON_CPU=1 runs them with the CPU standing in (a check of this file, not of the kernels).
local ffi = require 'ffi'
local rft = require 'rft'
local op = require 'support.opcheck'
local cuda = require 'support.cuda'
local C = rft.C

local gpu, dev, host = cuda.gpu, cuda.dev, cuda.host
local same_bits, close, close_number = cuda.same_bits, cuda.close, cuda.close_number

-- An empty output for an op to resize: on the CPU, and on the device under test.
local function cpu_out(dtype) return rft.tensor { shape = { 0 }, dtype = dtype or 'f32' } end
local function dev_out(dtype) return rft.tensor { shape = { 0 }, dtype = dtype or 'f32', device = cuda.device } end

local function uniform(shape, seed, lo, hi)
  return rft.rand.uniform(rft.tensor { shape = shape }, { seed = seed, lo = lo or -1, hi = hi or 1 })
end

local function ints(values) return rft.from_table(values, { #values }, 'i32') end

-- n random integers in [0, m) from a seed (Lua-side, so both devices get the same).
local function random_ints(n, m, seed)
  local u, t = uniform({ n }, seed, 0, 1):to_table(), {}
  for i = 1, n do t[i] = math.min(m - 1, math.floor(u[i] * m)) end
  return ints(t)
end

-- The largest |value| of a CPU tensor, for tolerances relative to a gradient's scale.
local function maxabs(t)
  local lo, hi = t:stats()
  return math.max(math.abs(lo), math.abs(hi))
end

-- The message f() fails with (the CPU's or the device's), or an error if it does not fail.
local function failure(f)
  local ok, err = pcall(f)
  assert(not ok, 'expected a failure')
  return tostring(err)
end

-- f(put, device) must fail on both devices with one and the same sentence, matching `pattern`: put(t)
-- is the CPU tensor t itself for the CPU run and cuda.dev(t) for the device's, and device is where
-- to make outputs.
local function same_failure(f, pattern)
  local want = failure(function() f(function(t) return t end, 'cpu') end)
  local got = failure(function() f(dev, cuda.device) end)
  assert.truthy(want:find(pattern), want)
  assert.equal(want, got)
end

local boxes = { loss = ffi.new('double[1]'), value = ffi.new('double[1]'), count = ffi.new('int64_t[1]') }

describe('CUDA tensor ops', function()
  gpu('add alpha x and scale bit for bit, whole tensors and views of rows', function()
    local x, y = op.randn({ 100003 }, 1), op.randn({ 100003 }, 2)
    local gx, gy = dev(x), dev(y)
    op.call('rft_tensor_axpy', -1.37, x, y)
    op.call('rft_tensor_axpy', -1.37, gx, gy)
    same_bits(y, gy, 'axpy')
    op.call('rft_tensor_scale', y, 0.3)
    op.call('rft_tensor_scale', gy, 0.3)
    same_bits(y, gy, 'scale')
    local a, b = op.randn({ 9, 7 }, 3), op.randn({ 9, 7 }, 4)
    local ga, gb = dev(a), dev(b)
    op.call('rft_tensor_axpy', 2.5, a:view(1, 4), b:view(5, 8))
    op.call('rft_tensor_axpy', 2.5, ga:view(1, 4), gb:view(5, 8))
    op.call('rft_tensor_scale', b:view(2, 3), -7)
    op.call('rft_tensor_scale', gb:view(2, 3), -7)
    same_bits(b, gb, 'axpy and scale on views')
  end)

  gpu('gathers rows bit for bit: every dtype, odd row sizes, repeats, a view as the source', function()
    local idx = ints { 36, 0, 5, 5, 17, 36, 2, 9, 9, 30, 1, 0, 23 }
    local u8 = rft.tensor { shape = { 37, 3, 5 }, dtype = 'u8' }   -- 15-byte rows: the byte path
    local p = u8:data()
    for i = 0, u8:numel() - 1 do p[i] = (i * 37 + 11) % 256 end
    local cases = {
      { uniform({ 37, 3, 5 }, 5), 'f32 rows of 15 values' },
      { uniform({ 37, 8 }, 6), 'f32 rows of 8 values (16-byte words)' },
      { u8, 'u8 rows of 15 bytes' },
      { random_ints(37, 1000, 7):reshape { 37, 1 }, 'i32 rows of 1' },
      { random_ints(37, 1000, 8), 'i32 labels' },
    }
    for _, c in ipairs(cases) do
      local src, what = c[1], c[2]
      local want, got = cpu_out(src:dtype()), dev_out(src:dtype())
      op.call('rft_tensor_gather', src, idx, want)
      op.call('rft_tensor_gather', dev(src), dev(idx), got)
      same_bits(want, got, 'gather ' .. what)
    end
    local big = uniform({ 40, 3, 5 }, 9)
    local want, got = cpu_out(), dev_out()
    op.call('rft_tensor_gather', big:view(3, 40), idx, want)
    op.call('rft_tensor_gather', dev(big):view(3, 40), dev(idx), got)
    same_bits(want, got, 'gather from a view')
  end)

  gpu('refuses an index outside the rows with the CPU\'s sentence and leaves out alone', function()
    local src = uniform({ 37, 3, 5 }, 10)
    for _, bad in ipairs { { 0, 4, 37, 2, 40 }, { 3, -1, 0 } } do
      same_failure(function(put, device)
        local out = rft.tensor { shape = { #bad, 3, 5 }, device = device }:fill(5)
        local ok, err = pcall(op.call, 'rft_tensor_gather', put(src), put(ints(bad)), out)
        same_bits(rft.tensor { shape = { #bad, 3, 5 } }:fill(5), out, 'out after a refused gather')
        if not ok then error(err, 0) end
      end, '^gather: idx%[%d%] = %-?%d+ is outside the 37 rows of src %[37,3,5%]$')
    end
  end)
end)

describe('CUDA cross-entropy', function()
  local function ce(z, labels, row0, row1, scale, d)
    op.call('rft_cross_entropy', z, labels, row0, row1, scale, boxes.loss, d)
    return boxes.loss[0]
  end

  gpu('gives the CPU\'s loss and dlogits over all rows and over a range, at odd sizes', function()
    for _, c in ipairs { { 7, 13, 0, 7, 1 }, { 7, 13, 2, 5, 0.5 }, { 5, 1000, 1, 5, 2 }, { 3, 1, 0, 3, 1 } } do
      local n, k, r0, r1, scale = unpack(c)
      local what = string.format('%dx%d rows [%d,%d)', n, k, r0, r1)
      local z = op.randn({ n, k }, n * k, 3)
      local labels = random_ints(r1 - r0, k, k)
      local d = rft.tensor { shape = { n, k } }:fill(7)           -- stale values must go
      local gd = rft.tensor { shape = { n, k }, device = cuda.device }:fill(7)
      local want = ce(z, labels, r0, r1, scale, d)
      local got = ce(dev(z), dev(labels), r0, r1, scale, gd)
      close_number(want, got, 0, 1e-9, 'loss ' .. what)
      close(d, gd, 1e-8, 1e-6, 'dlogits ' .. what)
      close_number(want, ce(dev(z), dev(labels), r0, r1, scale, nil), 0, 1e-9, 'loss without dlogits ' .. what)
    end
  end)

  gpu('gives the CPU\'s loss and dlogits with label smoothing', function()
    local function ls(z, labels, r0, r1, e, d)
      op.call('rft_cross_entropy_smoothed', z, labels, r0, r1, e, 0.5, boxes.loss, d)
      return boxes.loss[0]
    end
    for _, c in ipairs { { 7, 13, 2, 5, 0.1 }, { 5, 1000, 0, 5, 0.2 }, { 3, 1, 0, 3, 1 } } do
      local n, k, r0, r1, e = unpack(c)
      local what = string.format('%dx%d rows [%d,%d) smoothing %g', n, k, r0, r1, e)
      local z = op.randn({ n, k }, n * k + 1, 3)
      local labels = random_ints(r1 - r0, k, k + 1)
      local d = rft.tensor { shape = { n, k } }:fill(7)
      local gd = rft.tensor { shape = { n, k }, device = cuda.device }:fill(7)
      close_number(ls(z, labels, r0, r1, e, d), ls(dev(z), dev(labels), r0, r1, e, gd), 0, 1e-9, 'loss ' .. what)
      close(d, gd, 1e-8, 1e-6, 'dlogits ' .. what)
    end
  end)

  gpu('stays finite for large logits', function()
    local z = rft.from_table({ 1000, -1000, 0, 0, 0, 0 }, { 2, 3 })
    local labels = ints { 1, 2 }
    local d, gd = cpu_out(), dev_out()
    close_number(ce(z, labels, 0, 2, 1, d), ce(dev(z), dev(labels), 0, 2, 1, gd), 0, 1e-12, 'loss')
    close(d, gd, 1e-8, 1e-6, 'dlogits')
  end)

  gpu('names a bad label and its row as the CPU does, and leaves dlogits alone', function()
    local z = op.randn({ 6, 4 }, 11)
    for _, c in ipairs { { { 0, 4, 1 }, 0, 3 }, { { 2, 1, -1 }, 3, 6 }, { { 9, -3 }, 1, 3 } } do
      same_failure(function(put, device)
        local d = rft.tensor { shape = { 6, 4 }, device = device }:fill(7)
        local ok, err = pcall(ce, put(z), put(ints(c[1])), c[2], c[3], 1, d)
        same_bits(rft.tensor { shape = { 6, 4 } }:fill(7), d, 'dlogits after a refused call')
        if not ok then error(err, 0) end
      end, '^cross_entropy: labels%[%d%] = %-?%d+ %(row %d of logits%) is outside 0%.%.3$')
    end
  end)
end)

describe('CUDA accuracy', function()
  local function topk(z, labels, k)
    op.call('rft_topk_correct', z, labels, k, boxes.count)
    return tonumber(boxes.count[0])
  end

  -- logits with many ties: small integers, a few NaNs, signed zeros, rows whose first value is NaN
  local function tied(n, k, seed)
    local t = uniform({ n, k }, seed, 0, 1):to_table()
    for i = 1, #t do t[i] = math.floor(t[i] * 4) - 2 end
    local z = rft.from_table(t, { n, k })
    local p = z:data()
    p[0] = 0 / 0                                  -- row 0 starts with NaN
    p[k + 3] = 0 / 0                              -- a NaN inside row 1
    for j = 0, k - 1 do p[2 * k + j] = (j % 2 == 0) and -0.0 or 0.0 end   -- row 2: signed zeros only
    for j = 0, k - 1 do p[3 * k + j] = -1 / 0 end                         -- row 3: all -inf
    p[4 * k + k - 1] = 1 / 0                      -- row 4: +inf last
    return z
  end

  gpu('counts the top-k rows exactly as the CPU, ties and NaN included', function()
    for _, c in ipairs { { 37, 13 }, { 11, 45 }, { 9, 1000 }, { 5, 1 } } do
      local n, k = c[1], c[2]
      local z, labels = tied(n, k, n + k), random_ints(n, k, n * k)
      local gz, gl = dev(z), dev(labels)
      for _, kk in ipairs { 1, math.min(3, k), math.min(5, k), k } do
        assert.equal(topk(z, labels, kk), topk(gz, gl, kk), string.format('%dx%d top-%d', n, k, kk))
      end
    end
  end)

  gpu('takes the CPU\'s argmax per row: the first of the largest, NaN skipped, a NaN first stays', function()
    for _, c in ipairs { { 37, 13 }, { 11, 45 }, { 9, 1000 }, { 5, 1 } } do
      local z = tied(c[1], c[2], c[1] * 3 + c[2])
      local want, got = cpu_out('i32'), dev_out('i32')
      op.call('rft_argmax_rows', z, want)
      op.call('rft_argmax_rows', dev(z), got)
      same_bits(want, got, string.format('argmax %dx%d', c[1], c[2]))
    end
  end)

  gpu('names a bad label as the CPU does', function()
    local z = op.randn({ 4, 5 }, 12)
    for _, bad in ipairs { { 0, 1, 5, 2 }, { -2, 0, 9, 1 } } do
      same_failure(function(put) topk(put(z), put(ints(bad)), 1) end,
        '^topk_correct: labels%[%d%] = %-?%d+ %(row %d%) is outside 0%.%.4$')
    end
  end)
end)

describe('CUDA deferred metrics', function()
  gpu('add up the losses and counts the immediate calls return, and start again after a take', function()
    local take = rft.loss.take_metrics
    take('cpu'); take(cuda.device)                -- whatever earlier cases left
    local want_loss, want_count = 0, 0
    for i, c in ipairs { { 7, 13, 0, 7 }, { 9, 10, 2, 5 }, { 5, 1000, 1, 5 } } do
      local n, k, r0, r1 = unpack(c)
      local z, labels, all = op.randn({ n, k }, n * k, 5 + i), random_ints(r1 - r0, k, k + i), random_ints(n, k, i)
      want_loss = want_loss + rft.loss.cross_entropy(z, labels, { from = r0, to = r1 })
      want_count = want_count + rft.loss.count_correct(z, all, { k = 2 })
      local _, g = rft.loss.cross_entropy(dev(z), dev(labels), { from = r0, to = r1, deferred = true })
      assert.is_truthy(g)
      assert.is_nil(rft.loss.count_correct(dev(z), dev(all), { k = 2, deferred = true }))
    end
    local loss, count = take(cuda.device)
    close_number(want_loss, loss, 0, 1e-9, 'deferred loss sum')
    assert.equal(want_count, count)
    loss, count = take(cuda.device)
    assert.equal(0, loss); assert.equal(0, count)
  end)

  gpu('report a label a deferred call refused, with the immediate call\'s sentence', function()
    local take = rft.loss.take_metrics
    take(cuda.device)
    local z = op.randn({ 6, 4 }, 11)
    local ok, err = pcall(function()
      rft.loss.cross_entropy(dev(z), dev(ints { 0, 4, 1 }), { from = 0, to = 3, deferred = true })
      take(cuda.device)
    end)
    assert.is_false(ok)
    -- the CPU refuses at the call, the device at the take (marked as deferred)
    assert.truthy(tostring(err):find('cross_entropy: labels[1] = 4 (row 1 of logits) is outside 0..3', 1, true), err)
    local loss, count = take(cuda.device)
    assert.equal(0, loss); assert.equal(0, count)
  end)
end)

describe('CUDA FMA loss', function()
  local function fma(f, scale, eps, exact, grad, start)
    boxes.loss[0] = start
    op.call('rft_fma_loss', ffi.new('rft_fma_args', { eps, exact and 1 or 0 }), scale, f, boxes.loss, grad)
    return boxes.loss[0]
  end

  gpu('adds the CPU\'s loss and writes its gradient, both normalisers, odd and large maps', function()
    -- (2B, C, H, W): kappa = 231 (not a multiple of 32), and 69696 (several blocks per image)
    for _, shape in ipairs { { 10, 3, 7, 11 }, { 6, 64, 33, 33 }, { 2, 1, 1, 5 } } do
      local f = uniform(shape, shape[1] * shape[2], 0, 2)
      for _, exact in ipairs { false, true } do
        local what = string.format('[%s] %s', table.concat(shape, ','), exact and 'exact' or 'constant')
        local g = cpu_out()
        local gg = rft.tensor { shape = shape, device = cuda.device }:fill(9)   -- overwritten
        local want = fma(f, 0.7, 1e-3, exact, g, 0.25)
        local got = fma(dev(f), 0.7, 1e-3, exact, gg, 0.25)
        close_number(want, got, 0, 1e-6, 'loss ' .. what)   -- the CPU sums in f32 blocks (engine/loss/fma_sums.h)
        close(g, gg, 1e-6 * maxabs(g), 1e-5, 'grad ' .. what)
      end
    end
  end)

  gpu('is zero with zero gradient for identical views', function()
    local half = uniform({ 3, 5, 7 }, 13, 0, 1)
    local f = rft.cat { half, half }
    local g, gg = cpu_out(), dev_out()
    assert.equal(0, fma(f, 1, 1e-8, true, g, 0))
    assert.equal(0, fma(dev(f), 1, 1e-8, true, gg, 0))
    assert.equal(0, g:min()); assert.equal(0, g:max())
    same_bits(g, gg, 'grad (signed zeros included)')
  end)

  gpu('in factored form: the CPU\'s loss and coefficients, its index, and the gradient in the fused backward ops', function()
    local x = uniform({ 10, 4, 5, 6 }, 43, -1, 2)
    local a = ffi.new('rft_batchnorm_args', { 1e-5, 0.1 })
    a.relu = 1
    local y, sm, si = cpu_out(), cpu_out(), cpu_out()
    op.call('rft_batchnorm2d_forward_train', a, x, nil, nil, rft.tensor { shape = { 4 } },
      rft.tensor { shape = { 4 } }:fill(1), y, sm, si)
    local rm, rv = uniform({ 4 }, 44, -0.2, 0.2), uniform({ 4 }, 45, 0.5, 1.5)
    local dy = uniform({ 10, 4, 5, 6 }, 46, -0.1, 0.1)
    local yd = dev(y)
    for _, exact in ipairs { false, true } do
      local what = exact and 'exact' or 'constant'
      local fa = ffi.new('rft_fma_args', { 1e-3, exact and 1 or 0 })
      local coef, index, gcoef, gindex = cpu_out(), cpu_out('i32'), dev_out(), dev_out('i32')
      boxes.loss[0] = 0.25
      op.call('rft_fma_loss_factored', fa, 0.7, y, boxes.loss, coef, index)
      local want = boxes.loss[0]
      boxes.loss[0] = 0.25
      op.call('rft_fma_loss_factored', fa, 0.7, yd, boxes.loss, gcoef, gindex)
      close_number(want, boxes.loss[0], 0, 1e-6, 'loss ' .. what)   -- as above
      close(coef, gcoef, 0, 1e-6, 'coef ' .. what)
      assert.same(index:to_table(), host(gindex):to_table(), 'index ' .. what)
      local g, gg = cpu_out(), dev_out()
      op.call('rft_factored_grad', y, coef, y, index, g)
      op.call('rft_factored_grad', yd, gcoef, yd, gindex, gg)
      local tol = 1e-6 * maxabs(g)
      close(g, gg, tol, 1e-6, 'the gradient written out ' .. what)
      local r, gr = cpu_out(), dev_out()
      op.call('rft_relu_backward_add_factored', y, dy, coef, y, index, r)
      op.call('rft_relu_backward_add_factored', yd, dev(dy), gcoef, yd, gindex, gr)
      close(r, gr, tol, 1e-6, 'ReLU backward ' .. what)
      -- batch norm + ReLU backward with the parameters' gradients, in training mode and in eval mode
      -- (the FMA step's frozen batch norms), and in eval mode in place (dx = dy), as nn runs it
      local function zeros() return rft.tensor { shape = { 4 } } end
      local dx, dw, db, gdx, gdw, gdb = cpu_out(), zeros(), zeros(), dev_out(), dev(zeros()), dev(zeros())
      op.call('rft_batchnorm2d_relu_backward_factored', x, nil, sm, si, y, dy, coef, y, index, 1, dx, dw, db)
      op.call('rft_batchnorm2d_relu_backward_factored', dev(x), nil, dev(sm), dev(si), yd, dev(dy), gcoef, yd, gindex,
        1, gdx, gdw, gdb)
      close(dx, gdx, 2 * tol, 1e-5, 'batch norm (training) + ReLU backward ' .. what)
      close(dw, gdw, 1e-5 * maxabs(dw), 1e-5, 'batch norm (training) weight gradient ' .. what)
      close(db, gdb, 1e-5 * maxabs(db), 1e-5, 'batch norm (training) bias gradient ' .. what)
      dx, dw, db, gdw, gdb = cpu_out(), zeros(), zeros(), dev(zeros()), dev(zeros())
      op.call('rft_batchnorm2d_relu_backward_eval_factored', x, nil, rm, rv, 1e-5, y, dy, coef, y, index, 1, dx, dw, db)
      gdx = dev(dy)
      op.call('rft_batchnorm2d_relu_backward_eval_factored', dev(x), nil, dev(rm), dev(rv), 1e-5, yd, gdx, gcoef,
        yd, gindex, 1, gdx, gdw, gdb)
      close(dx, gdx, 2 * tol, 1e-5, 'batch norm (eval) + ReLU backward, in place ' .. what)
      close(dw, gdw, 1e-5 * maxabs(dw), 1e-5, 'batch norm (eval) weight gradient ' .. what)
      close(db, gdb, 1e-5 * maxabs(db), 1e-5, 'batch norm (eval) bias gradient ' .. what)
    end
  end)
end)

describe('CUDA stability loss', function()
  local function st(z, alpha, kl, cc, grad)
    boxes.loss[0] = 123                            -- overwritten
    op.call('rft_stability_loss', ffi.new('rft_stability_args', { alpha, kl and 1 or 0, cc and 1 or 0 }), z,
      boxes.loss, grad)
    return boxes.loss[0]
  end

  gpu('gives the CPU\'s loss and gradient in every form, at odd sizes', function()
    for _, shape in ipairs { { 14, 13 }, { 6, 1000 }, { 2, 1 }, { 2 * 37, 10 } } do
      local z = op.randn(shape, shape[1] + shape[2], 2)
      for _, kl in ipairs { false, true } do
        for _, cc in ipairs { false, true } do
          local what = string.format('[%d,%d] %s%s', shape[1], shape[2], kl and 'KL' or 'CE', cc and ' clean const' or '')
          local g, gg = cpu_out(), rft.tensor { shape = shape, device = cuda.device }:fill(9)
          local want, got = st(z, 0.5, kl, cc, g), st(dev(z), 0.5, kl, cc, gg)
          close_number(want, got, 1e-15, 1e-9, 'loss ' .. what)
          close(g, gg, 1e-7 * maxabs(g), 1e-5, 'grad ' .. what)
        end
      end
    end
  end)
end)

describe('CUDA invariance loss', function()
  local function inv(f, groups, classes, weight, grad)
    boxes.loss[0], boxes.value[0] = 1.5, -1          -- the loss accumulates, the value is overwritten
    op.call('rft_invariance_loss', weight, f, groups, classes, boxes.loss, boxes.value, grad)
    return boxes.value[0], boxes.loss[0]
  end

  -- The asynchronous entry into slot 1 of a 4-value out, then the one read: the value.
  local function inv_async(f, groups, classes, weight, grad, device)
    local out = rft.tensor { shape = { 4 }, device = device or f:device() }
    op.call('rft_invariance_loss_async', weight, f, groups, classes, out, 1, grad)
    local vals = ffi.new('double[2]')
    op.call('rft_invariance_read', out, 2, vals)
    return vals[1]
  end

  -- groups of unequal sizes (a seed with 1 copy, one with 4), classes shared across seeds
  local groups = ints { 0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4, 5, 5 }
  local classes = ints { 1, 1, 1, 0, 0, 2, 2, 2, 2, 1, 0, 0, 2, 2 }
  -- The two devices sum the means and squares in other orders (float means; the CPU's squares in
  -- float blocks of 512, the device's in double): spec/loss/invariance_spec.lua derives 3e-4 relative
  -- for L from those roundings, and 3e-4 of the largest gradient value per element.
  local REL = 3e-4

  gpu('gives the CPU\'s value, loss and gradient: both denominators, D not a multiple of 32', function()
    for _, shape in ipairs { { 14, 37 }, { 14, 5, 7, 9 }, { 14, 1 }, { 14, 700 } } do
      local f = uniform(shape, shape[2] + 1, 0, 1)
      for _, cl in ipairs { false, true } do
        local what = string.format('[%s] %s', table.concat(shape, ','), cl and 'same-class' or 'all pairs')
        local g, gg = cpu_out(), rft.tensor { shape = shape, device = cuda.device }:fill(9)
        local v, l = inv(f, groups, cl and classes or nil, 0.3, g)
        local gv, gl = inv(dev(f), dev(groups), cl and dev(classes) or nil, 0.3, gg)
        close_number(v, gv, 0, REL, 'value ' .. what)
        close_number(l, gl, 0, REL, 'loss ' .. what)
        close(g, gg, REL * maxabs(g), 0, 'grad ' .. what)
        local ga = dev_out()
        local av = inv_async(dev(f), dev(groups), cl and dev(classes) or nil, 0.3, ga)
        close_number(v, av, 0, REL, 'value without waiting ' .. what)
        close(g, ga, REL * maxabs(g), 0, 'grad without waiting ' .. what)
      end
    end
  end)

  gpu('agrees with the CPU on a 16 x 8 batch of the paper\'s shape', function()
    local b = 128
    local gt = {}
    for i = 1, b do gt[i] = math.floor((i - 1) / 8) end
    local f = uniform({ b, 3, 10, 10 }, 21, 0, 1)
    local g, gg = cpu_out(), dev_out()
    local v = inv(f, ints(gt), nil, 1, g)
    local gv = inv(dev(f), dev(ints(gt)), nil, 1, gg)
    close_number(v, gv, 0, REL, 'value')
    close(g, gg, REL * maxabs(g), 0, 'grad')
  end)

  gpu('refuses batches the CPU refuses, with its sentences, waiting or not', function()
    local f = uniform({ 4, 3 }, 22)
    for _, run in ipairs { inv, inv_async } do
      same_failure(function(put, device)
        run(put(f), put(ints({ 0, 1, 2, 3 })), nil, 1, rft.tensor { shape = { 0 }, device = device })
      end, '^invariance: no seed image has two copies in the batch')
      same_failure(function(put, device)
        run(put(f), put(ints({ 0, 0, 1, 1 })), put(ints({ 0, 1, 2, 3 })), 1,
          rft.tensor { shape = { 0 }, device = device })
      end, '^invariance: no pair of rows shares a class')
    end
  end)
end)

describe('CUDA invariance loss in factored form', function()
  -- The device keeps its means at other rows (each group's first row) than the CPU (dense group
  -- numbers), so what is compared is what the form stands for: the value, and the gradient written
  -- out or added in a ReLU's and a batch norm + ReLU's backward. The means round in other orders
  -- (float sums): the tensor form's tolerances above, 3e-4 relative for L and 3e-4 of the largest
  -- gradient value per element (tol); the ReLU backward adds it to dy once. The batch norm's dx =
  -- is (g - mean g - (x - mu) is mean(g xhat)) then moves by at most is tol (1 + 1 + max|xhat|^2),
  -- max|xhat|^2 <= 3 for these uniform inputs: 5 is tol, plus float rounding (1e-5 relative).
  local REL = 3e-4
  local groups = ints { 0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4, 5, 5 }
  local classes = ints { 1, 1, 1, 0, 0, 2, 2, 2, 2, 1, 0, 0, 2, 2 }
  local function factored(f, g, cl, put, out)
    local coef, means, index = out(), out(), out('i32')
    local l, v = ffi.new('double[1]'), ffi.new('double[1]')
    op.call('rft_invariance_loss_factored', 0.3, put(f), put(g), cl and put(cl) or nil, l, v, coef, means, index)
    return v[0], l[0], coef, means, index
  end
  local function same_place(t) return t end

  gpu('gives the CPU\'s value and gradient, written out and in the fused backward ops', function()
    local x = uniform({ 14, 4, 5, 6 }, 41, -1, 2)
    local a = ffi.new('rft_batchnorm_args', { 1e-5, 0.1 })
    a.relu = 1
    local y, sm, si = cpu_out(), cpu_out(), cpu_out()
    op.call('rft_batchnorm2d_forward_train', a, x, nil, nil, rft.tensor { shape = { 4 } },
      rft.tensor { shape = { 4 } }:fill(1), y, sm, si)
    local dy = uniform({ 14, 4, 5, 6 }, 42, -0.1, 0.1)
    for _, cl in ipairs { false, true } do
      local what = cl and 'same-class' or 'all pairs'
      local v, l, coef, means, index = factored(y, groups, cl and classes, same_place, cpu_out)
      local gv, gl, gcoef, gmeans, gindex = factored(y, groups, cl and classes, dev, dev_out)
      close_number(v, gv, 0, REL, 'value ' .. what)
      close_number(l, gl, 0, REL, 'loss ' .. what)
      local g, gg = cpu_out(), dev_out()
      op.call('rft_factored_grad', y, coef, means, index, g)
      op.call('rft_factored_grad', dev(y), gcoef, gmeans, gindex, gg)
      local tol = REL * maxabs(g)
      close(g, gg, tol, 0, 'written-out gradient ' .. what)
      local r, gr = cpu_out(), dev_out()
      op.call('rft_relu_backward_add_factored', y, dy, coef, means, index, r)
      op.call('rft_relu_backward_add_factored', dev(y), dev(dy), gcoef, gmeans, gindex, gr)
      close(r, gr, tol, 0, 'ReLU backward ' .. what)
      local dx, gdx = cpu_out(), dev_out()
      op.call('rft_batchnorm2d_relu_backward_factored', x, nil, sm, si, y, dy, coef, means, index, 1, dx, nil, nil)
      op.call('rft_batchnorm2d_relu_backward_factored', dev(x), nil, dev(sm), dev(si), dev(y), dev(dy), gcoef, gmeans,
        gindex, 1, gdx, nil, nil)
      close(dx, gdx, 5 * tol * maxabs(si), 1e-5, 'batch norm + ReLU backward ' .. what)
    end
  end)
end)

describe('CUDA invariance score', function()
  -- Both devices fold the statistics in double and store them in float; the scores sum in double in
  -- other orders: a few float roundings of the denominator (spec/loss/invariance_score_spec.lua).
  gpu('folds batches into the CPU\'s running statistics and gives its scores, at an offset and stride', function()
    local f = uniform({ 37, 3, 5, 7 }, 31, 0, 2)
    local g = uniform({ 37, 3, 5, 7 }, 32, 0, 2)
    local st, gst = cpu_out(), dev_out()
    local df = dev(f)
    for _, r in ipairs { { 0, 5 }, { 5, 6 }, { 6, 37 } } do
      op.call('rft_invariance_stats', f:view(r[1], r[2]), st)
      op.call('rft_invariance_stats', df:view(r[1], r[2]), gst)
    end
    close(st, gst, 1e-6, 1e-5, 'statistics')
    local out = rft.tensor { shape = { 80 } }:fill(-3)
    local gout = dev(out)
    op.call('rft_invariance_score', f, g, st, out, 2, 2)
    op.call('rft_invariance_score', df, dev(g), gst, gout, 2, 2)
    close(out, gout, 1e-5, 0, 'scores')
  end)
end)

describe('CUDA SGD', function()
  local function args(lr, mu, wd, nesterov) return ffi.new('rft_sgd_args', { lr, mu, wd, nesterov and 1 or 0 }) end

  gpu('keeps parameters and momentum bit-identical to the CPU over several steps', function()
    local n = 10007
    for name, c in pairs {
      momentum = { 0.1, 0.9, 5e-4, false }, nesterov = { 0.05, 0.9, 1e-3, true },
      plain = { 0.05, 0, 1e-2, false }, no_decay = { 0.01, 0.5, 0, true },
    } do
      local p, buf = op.randn({ n }, 30), rft.tensor { shape = { n } }:fill(123)
      local gp, gbuf = dev(p), dev(buf)
      for step = 1, 5 do
        local g = op.randn({ n }, 30 + step)
        local mb, gmb = c[2] > 0 and buf or nil, c[2] > 0 and gbuf or nil
        op.call('rft_sgd_step', args(unpack(c)), step == 1 and 1 or 0, g, p, mb)
        op.call('rft_sgd_step', args(unpack(c)), step == 1 and 1 or 0, dev(g), gp, gmb)
        same_bits(p, gp, name .. ' param, step ' .. step)
        if c[2] > 0 then same_bits(buf, gbuf, name .. ' momentum buffer, step ' .. step) end
      end
    end
  end)
end)

describe('CUDA crop_flip', function()
  local function crop_flip(pad, flip, seed, x, ids, y)
    op.call('rft_crop_flip', pad, flip, seed, x, ids, y)
    return y
  end

  local function images(n, c, h, w)
    local t = rft.tensor { shape = { n, c, h, w }, dtype = 'u8' }
    local p = t:data()
    for i = 0, t:numel() - 1 do p[i] = (i * 37 + math.floor(i / 7)) % 251 end
    return t
  end

  gpu('crops and flips bit-identically to the CPU for the same seed and ids', function()
    local ids = ints { 0, 5, 17, 123456, 42, 7, 2147483647, 3, 3 }
    local u8 = images(9, 3, 11, 13)
    local f32 = uniform({ 9, 3, 11, 13 }, 23, -2, 2)
    for _, c in ipairs { { 4, 1, 99 }, { 2, 0, 7 }, { 0, 0, 1 }, { 0, 1, 5 }, { 20, 1, 3 } } do
      local pad, flip, seed = unpack(c)
      for _, x in ipairs { u8, f32 } do
        local what = string.format('%s pad %d flip %d seed %d', x:dtype(), pad, flip, seed)
        local want = crop_flip(pad, flip, seed, x, ids, cpu_out())
        same_bits(want, crop_flip(pad, flip, seed, dev(x), dev(ids), dev_out()), what)
        -- ids on the host for a batch on the device: checked there, sent along, the same result
        same_bits(want, crop_flip(pad, flip, seed, dev(x), ids, dev_out()), what .. ', host ids')
      end
    end
  end)

  gpu('gives an image the same result in any batch and at any place in it', function()
    local x = images(4, 3, 8, 8)
    local y = crop_flip(4, 1, 11, dev(x), dev(ints { 10, 11, 12, 13 }), dev_out())
    local x2 = rft.tensor { shape = { 2, 3, 8, 8 }, dtype = 'u8' }
    op.call('rft_tensor_gather', x, ints { 2, 0 }, x2)
    local y2 = crop_flip(4, 1, 11, dev(x2), dev(ints { 12, 10 }), dev_out())
    same_bits(host(y):view(2, 3), y2:view(0, 1), 'image 12')
    same_bits(host(y):view(0, 1), y2:view(1, 2), 'image 10')
  end)

  gpu('names a negative id as the CPU does', function()
    local x = images(3, 1, 4, 4)
    same_failure(function(put, device)
      crop_flip(2, 1, 1, put(x), put(ints({ 0, -5, -1 })), rft.tensor { shape = { 0 }, device = device })
    end, '^crop_flip: ids%[1%] = %-5, expected a dataset index >= 0$')
    same_failure(function(put, device)
      crop_flip(2, 1, 1, put(x), ints({ 0, -5, -1 }), rft.tensor { shape = { 0 }, device = device })
    end, '^crop_flip: ids%[1%] = %-5, expected a dataset index >= 0$')
  end)
end)
