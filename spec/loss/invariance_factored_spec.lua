-- The invariance loss with its gradient in factored form (rft_invariance_loss_factored): row i of the
-- gradient is coef[i][0] (f_i - means[index[i][0]]) - coef[i][1] (f_i - means[index[i][1]]), formed
-- inside the tapped layer's backward (a ReLU, or batch norm + ReLU) instead of written as a map.
-- Every check here is bit for bit: the factored ops evaluate the same float expression, element by
-- element, as the loss's own gradient pass (engine/ops_check.h, ops_factored_value), and the fused
-- backward ops then add it where they added the gradient tensor; the value and loss are the same
-- computation. The float64 accuracy of that gradient is spec/loss/invariance_spec.lua's.
local ffi = require 'ffi'
local rft = require 'rft'
local op = require 'support.opcheck'
local factored = require 'support.factored'
local C = rft.C

local function tensor_path(f, groups, classes, weight)
  local g, loss, value = op.out(), ffi.new('double[1]'), ffi.new('double[1]')
  op.call('rft_invariance_loss', weight, f, groups, classes, loss, value, g)
  return value[0], loss[0], g
end

local function factored_path(f, groups, classes, weight)
  local coef, means, index = op.out(), op.out(), op.out('i32')
  local loss, value = ffi.new('double[1]'), ffi.new('double[1]')
  op.call('rft_invariance_loss_factored', weight, f, groups, classes, loss, value, coef, means, index)
  return value[0], loss[0], coef, means, index
end

local function written(f, coef, means, index)
  local g = op.out()
  op.call('rft_factored_grad', f, coef, means, index, g)
  return g
end

-- groups of unequal sizes and, for the same-class denominator, classes inside groups (pure) and
-- across them (mixed): the two ways the CPU computes the denominator's means
local function batch(b)
  local gr, pure, mixed = {}, {}, {}
  for i = 1, b do
    gr[i] = math.floor((i - 1) / 5) * 3 - 4
    pure[i] = math.floor((i - 1) / 5) % 3
    mixed[i] = (i * 7) % 4
  end
  return rft.from_table(gr, { b }, 'i32'), rft.from_table(pure, { b }, 'i32'), rft.from_table(mixed, { b }, 'i32')
end

describe('the invariance loss in factored form', function()
  -- 23 x 37 values (one thread) and 40 x 1003 (above the engine's 2^15 one-thread limit: threads split the columns)
  for _, shape in ipairs { { 23, 37 }, { 40, 1003 } } do
    it(string.format('has the value, loss and (written out) gradient of the tensor form, %d x %d', shape[1], shape[2]), function()
      local f = rft.rand.uniform(rft.tensor { shape = shape }, { seed = shape[2], lo = 0, hi = 1.4 })
      local groups, pure, mixed = batch(shape[1])
      for _, cl in ipairs { false, pure, mixed } do
        local what = cl == false and 'all pairs' or cl == pure and 'same class, pure groups' or 'same class, mixed groups'
        local v1, l1, g1 = tensor_path(f, groups, cl or nil, 0.3)
        local v2, l2, coef, means, index = factored_path(f, groups, cl or nil, 0.3)
        assert.equal(v1, v2, what .. ': value')
        assert.equal(l1, l2, what .. ': loss')
        assert.same({ shape[1], 2 }, coef:shape())
        assert.same({ shape[1], 2 }, index:shape())
        -- the means: B rows for the groups (the first ones used), then the denominator's (1 or B)
        assert.same({ shape[1] + (cl and shape[1] or 1), shape[2] }, means:shape(), what)
        assert.same(g1:to_table(), written(f, coef, means, index):to_table(), what .. ': gradient')
      end
    end)
  end

  it('is 0 with a zero gradient when every row is the same', function()
    local f = rft.from_table({ 0.5, 0.25, 1, 0.5, 0.25, 1, 0.5, 0.25, 1, 0.5, 0.25, 1 }, { 4, 3 })
    local v, _, coef, means, index = factored_path(f, rft.from_table({ 0, 0, 1, 1 }, { 4 }, 'i32'), nil, 1)
    assert.equal(0, v)
    for _, x in ipairs(written(f, coef, means, index):to_table()) do assert.equal(0, x) end
  end)

  it('refuses what the tensor form refuses, and outputs that share memory', function()
    local f = rft.rand.uniform(rft.tensor { shape = { 4, 3 } }, { seed = 1 })
    local l, v = ffi.new('double[1]'), ffi.new('double[1]')
    local coef, means, index = op.out(), op.out(), op.out('i32')
    assert.error_matches(op.calling('rft_invariance_loss_factored', 1, f, rft.from_table({ 0, 1, 2, 3 }, { 4 }, 'i32'),
      nil, l, v, coef, means, index), 'no seed image has two copies')
    local g = rft.from_table({ 0, 0, 1, 1 }, { 4 }, 'i32')
    assert.error_matches(op.calling('rft_invariance_loss_factored', 1, f, g, nil, l, v, coef, coef, index),
      'coef, means and index must be tensors that share no memory')
    assert.error_matches(op.calling('rft_invariance_loss_factored', 1, f, g, nil, l, v, coef, f, index),
      'shares memory with a feature map')
    assert.error_matches(op.calling('rft_invariance_loss_factored', 1, f, g, nil, l, v, coef, means, op.out()),
      'invariance %(factored%): index must be i32')
  end)
end)

describe('the invariance loss in factored form over several taps at once', function()
  -- maps of one batch, small (one thread each, spread over the threads) and large (split by
  -- columns): one call gives each map what a call for it alone gives, bit for bit
  local b = 20
  local shapes = { { b, 3, 4, 4 }, { b, 40, 33 }, { b, 7 }, { b, 2, 30, 30 }, { b, 1 } }
  local function maps()
    local out = {}
    for j, sh in ipairs(shapes) do out[j] = rft.rand.uniform(rft.tensor { shape = sh }, { seed = 50 + j, lo = 0, hi = 2 }) end
    return out
  end

  it('gives every map the values and gradient of a call for it alone', function()
    local f, n = maps(), #shapes
    local groups, pure, mixed = batch(b)
    for _, cl in ipairs { false, pure, mixed } do
      local w = ffi.new('float[?]', n)
      local ff, fc, fm, fi = ffi.new('const rft_tensor*[?]', n), ffi.new('rft_tensor*[?]', n),
        ffi.new('rft_tensor*[?]', n), ffi.new('rft_tensor*[?]', n)
      local keep = {}
      for j = 1, n do
        keep[j] = { op.out(), op.out(), op.out('i32') }
        w[j - 1], ff[j - 1], fc[j - 1], fm[j - 1], fi[j - 1] = 0.1 * j, f[j], keep[j][1], keep[j][2], keep[j][3]
      end
      local loss, values = ffi.new('double[1]', 2), ffi.new('double[?]', n)
      op.call('rft_invariance_loss_factored_taps', n, w, ff, groups, cl or nil, loss, values, fc, fm, fi)
      local total = 2
      for j = 1, n do
        local v, l, coef, means, index = factored_path(f[j], groups, cl or nil, w[j - 1])
        total = total + l
        assert.equal(v, values[j - 1], 'map ' .. j)
        assert.same(coef:to_table(), keep[j][1]:to_table(), 'coef of map ' .. j)
        assert.same(index:to_table(), keep[j][3]:to_table(), 'index of map ' .. j)
        assert.same(written(f[j], coef, means, index):to_table(), written(f[j], keep[j][1], keep[j][2], keep[j][3]):to_table(),
          'gradient of map ' .. j)
      end
      assert.equal(total, loss[0])
    end
  end)

  it('refuses maps of different batches and outputs shared between maps', function()
    local f = maps()
    local other = rft.tensor { shape = { b + 1, 3 } }
    local groups = batch(b)
    local w = ffi.new('float[2]', 1, 1)
    local l, v = ffi.new('double[1]'), ffi.new('double[2]')
    local c1, m1, i1, c2, m2, i2 = op.out(), op.out(), op.out('i32'), op.out(), op.out(), op.out('i32')
    local fc, fm, fi = ffi.new('rft_tensor*[2]', c1, c2), ffi.new('rft_tensor*[2]', m1, m2), ffi.new('rft_tensor*[2]', i1, i2)
    assert.error_matches(op.calling('rft_invariance_loss_factored_taps', 2, w, ffi.new('const rft_tensor*[2]', f[1], other),
      groups, nil, l, v, fc, fm, fi), 'groups has 20 entries, the feature map %[21,3%] has 21 rows')
    local shared = ffi.new('rft_tensor*[2]', m1, m1)
    assert.error_matches(op.calling('rft_invariance_loss_factored_taps', 2, w, ffi.new('const rft_tensor*[2]', f[1], f[2]),
      groups, nil, l, v, fc, shared, fi), 'share no memory %(map 1\'s with map 0\'s%)')
    assert.error_matches(op.calling('rft_invariance_loss_factored_taps', 0, w, ffi.new('const rft_tensor*[2]', f[1], f[2]),
      groups, nil, l, v, fc, fm, fi), 'needs n >= 1 %(got 0%)')
  end)
end)

describe('a factored tap gradient in the backward', function()
  local b, c, h, w = 10, 3, 4, 5
  local function form(y, cl)
    local groups, pure = batch(b)
    local _, _, coef, means, index = factored_path(y, groups, cl and pure or nil, 0.7)
    return coef, means, index, written(y, coef, means, index)
  end

  it('joins a ReLU\'s backward bit for bit as the written-out gradient, in place on dy too', function()
    local y = op.out()
    op.call('rft_relu_forward', op.randn({ b, c, h, w }, 3), y)
    local dy = op.randn({ b, c, h, w }, 4, 0.1)
    for _, cl in ipairs { false, true } do
      local coef, means, index, extra = form(y, cl)
      local want, got = op.out(), op.out()
      op.call('rft_relu_backward_add', y, dy, extra, want)
      op.call('rft_relu_backward_add_factored', y, dy, coef, means, index, got)
      assert.same(want:to_table(), got:to_table())
      local din = dy:copy()
      op.call('rft_relu_backward_add_factored', y, din, coef, means, index, din)
      assert.same(want:to_table(), din:to_table(), 'in place')
    end
  end)

  it('joins the fused batch norm + ReLU backward bit for bit as the written-out gradient', function()
    local x, wt, bias = op.randn({ b, c, h, w }, 5, 1.5, 0.2), op.randn({ c }, 6, 0.5, 1), op.randn({ c }, 7)
    local a = ffi.new('rft_batchnorm_args', { 1e-5, 0.1 })
    a.relu = 1
    local y, sm, si = op.out(), op.out(), op.out()
    op.call('rft_batchnorm2d_forward_train', a, x, wt, bias, rft.tensor { shape = { c } },
      rft.tensor { shape = { c } }:fill(1), y, sm, si)
    local dy = op.randn({ b, c, h, w }, 8, 0.1)
    for _, cl in ipairs { false, true } do
      local coef, means, index, extra = form(y, cl)
      local dx, dw, db = op.out(), rft.tensor { shape = { c } }:fill(0.5), rft.tensor { shape = { c } }:fill(-0.5)
      local fdx, fdw, fdb = op.out(), rft.tensor { shape = { c } }:fill(0.5), rft.tensor { shape = { c } }:fill(-0.5)
      op.call('rft_batchnorm2d_relu_backward', x, wt, sm, si, y, dy, extra, 0.7, dx, dw, db)
      op.call('rft_batchnorm2d_relu_backward_factored', x, wt, sm, si, y, dy, coef, means, index, 0.7, fdx, fdw, fdb)
      assert.same(dx:to_table(), fdx:to_table(), 'dx')
      assert.same(dw:to_table(), fdw:to_table(), 'dweight')
      assert.same(db:to_table(), fdb:to_table(), 'dbias')
      local din = dy:copy()
      op.call('rft_batchnorm2d_relu_backward_factored', x, wt, sm, si, y, din, coef, means, index, 0.7, din, nil, nil)
      assert.same(dx:to_table(), din:to_table(), 'dx in place')
    end
  end)

  it('says what is wrong with a factored gradient', function()
    local y = op.randn({ 4, 3 }, 9)
    local _, _, coef, means, index = factored_path(y, rft.from_table({ 0, 0, 1, 1 }, { 4 }, 'i32'), nil, 1)
    local bad = rft.from_table({ 0, 4, 1, 4, 0, 4, 1, 99 }, { 4, 2 }, 'i32')
    assert.error_matches(op.calling('rft_factored_grad', y, coef, means, bad, op.out()),
      'factored_grad: index%[3%]%[1%] = 99, expected a row of means %(0%.%.4%)')
    assert.error_matches(op.calling('rft_relu_backward_add_factored', y, y:copy(), coef, means, bad, op.out()),
      'relu_backward_add_factored: index%[3%]%[1%] = 99')
    assert.error_matches(op.calling('rft_factored_grad', y, rft.tensor { shape = { 4, 4 } }, means, index, op.out()),
      'factored_grad: coef has shape %[4,4%], expected %[4,2%] or %[4,3%]')
    assert.error_matches(op.calling('rft_factored_grad', y, coef, rft.tensor { shape = { 5, 2 } }, index, op.out()),
      'factored_grad: means has shape %[5,2%], expected %[R,3%]')
    assert.error_matches(op.calling('rft_factored_grad', y, coef, means, index, coef),
      'factored_grad: coef shares memory with the output')
  end)
end)

describe('rft.loss.invariance{factored = true} in a training step', function()
  -- the same step with the loss's gradients as tensors and in factored form: the same loss,
  -- per-tap values, parameter gradients and input gradient, bit for bit
  local function step(o)
    local net = rft.models.allcnn_c { width = 0.125, bn = o.bn, seed = 3 }
    if o.taps then net:set_taps(o.taps) end
    if o.frozen then rft.robust.freeze_bn(net) end      -- batch norm in evaluation mode: the gradient written out
    local b = 12
    local x = rft.rand.uniform(rft.tensor { shape = { b, 3, 32, 32 } }, { seed = 1 })
    local g, y = {}, {}
    for i = 1, b do g[i] = math.floor((i - 1) / 3); y[i] = g[i] % 2 end
    local groups, labels = rft.from_table(g, { b }, 'i32'), rft.from_table(y, { b }, 'i32')
    net:zero_grad()
    local _, dl = rft.loss.cross_entropy(net:forward(x), labels)
    local l, tg, per = rft.loss.invariance(net:taps(), groups,
      { factored = o.factored, normalizer = o.normalizer, labels = labels })
    local written_out = factored.written_out(tg, o.factored)
    local gx = net:backward(x, dl, tg)
    return { l = l, per = per, grads = net.flat_grads:to_table(), gx = gx:to_table(), tg = written_out }
  end

  factored.same_as_tensor_form({
    { bn = true }, { bn = false }, { bn = true, normalizer = 'same_class' }, { bn = true, frozen = true },
    { bn = false, taps = function(m) return m.__typename == 'nn.Conv2d' end },   -- taps a ReLU does not own
  }, function(case)
    return (case.bn and 'batch norm' or 'no batch norm') .. (case.normalizer and ', same class' or '')
      .. (case.taps and ', convolutions tapped' or '') .. (case.frozen and ', frozen statistics' or '')
  end, step)
end)
