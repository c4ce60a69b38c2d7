-- The FMA loss with its gradient in factored form (rft_fma_loss_factored): the rows of a two-view map
-- are each other's partners, so row r's gradient is c_i (f_r - f_partner) (+ shift_i on a clean row),
-- formed inside the tapped layer's backward from the map itself instead of written as two maps.
-- Every check is bit for bit: the factored ops evaluate c (a - partner) - 0 (a - a) + shift, which
-- rounds as the tensor form's c (a - partner) + shift (engine/ops_check.h, ops_factored_value), and
-- the fused backward ops add it where they added the tensor. The float64 and PyTorch accuracy of that
-- gradient is spec/loss/robust_losses_spec.lua's.
local ffi = require 'ffi'
local rft = require 'rft'
local op = require 'support.opcheck'
local factored = require 'support.factored'

local function args(exact) return ffi.new('rft_fma_args', { 1e-3, exact and 1 or 0 }) end

local function tensor_path(f, scale, exact)
  local g, loss = op.out(), ffi.new('double[1]', 0.25)
  op.call('rft_fma_loss', args(exact), scale, f, loss, g)
  return loss[0], g
end

local function factored_path(f, scale, exact)
  local coef, index, loss = op.out(), op.out('i32'), ffi.new('double[1]', 0.25)
  op.call('rft_fma_loss_factored', args(exact), scale, f, loss, coef, index)
  return loss[0], coef, index
end

local function written(f, coef, index)
  local g = op.out()
  op.call('rft_factored_grad', f, coef, f, index, g)
  return g
end

describe('the FMA loss in factored form', function()
  for _, exact in ipairs { false, true } do
    local what = exact and 'differentiated normaliser' or 'constant normaliser'
    it('adds the tensor form\'s loss and writes out its gradient (' .. what .. ')', function()
      local f = op.randn({ 8, 3, 5, 7 }, 1, 1, 0.5)
      local want, g = tensor_path(f, 0.7, exact)
      local got, coef, index = factored_path(f, 0.7, exact)
      assert.equal(want, got)
      assert.same({ 8, 3 }, coef:shape()); assert.same({ 8, 2 }, index:shape())
      assert.same(g:to_table(), written(f, coef, index):to_table())
      assert.same({ 4, 0, 5, 1, 6, 2, 7, 3, 0, 4, 1, 5, 2, 6, 3, 7 }, index:to_table())
    end)
  end

  it('takes its sums from the ReLU forward that made them (rft_relu_forward_pairs), bit for bit', function()
    for _, shape in ipairs { { 8, 3, 5, 7 }, { 64, 16, 16, 16 } } do    -- the second runs the parallel loops
      local x = op.randn(shape, 12, 1, 0.1)
      local y, yp, sums = op.out(), op.out(), ffi.new('double[?]', shape[1])
      op.call('rft_relu_forward', x, y)
      op.call('rft_relu_forward_pairs', x, yp, sums)
      assert.same(y:to_table(), yp:to_table())
      for _, exact in ipairs { false, true } do
        local want, wcoef, windex = factored_path(y, 0.7, exact)
        local coef, index, loss = op.out(), op.out('i32'), ffi.new('double[1]', 0.25)
        op.call('rft_fma_loss_sums', args(exact), 0.7, y, sums, loss, coef, index)
        assert.equal(want, loss[0])
        assert.same(wcoef:to_table(), coef:to_table())
        assert.same(windex:to_table(), index:to_table())
      end
    end
    local sums, odd = ffi.new('double[4]'), op.randn({ 3, 2 }, 2)
    assert.error_matches(op.calling('rft_relu_forward_pairs', odd, op.out(), sums),
      'relu_forward_pairs: input %[3,2%] must hold a two%-view batch')
    assert.error_matches(op.calling('rft_relu_forward_pairs', op.randn({ 4, 2 }, 2), op.out(), nil),
      'relu_forward_pairs: sums is missing')
    assert.error_matches(op.calling('rft_fma_loss_sums', args(true), 1, odd, sums, ffi.new('double[1]'), op.out(),
      op.out('i32')), 'fma_loss_sums: feature map %[3,2%] must hold a two%-view batch')
  end)

  it('refuses what the tensor form refuses, and outputs that share memory with the map', function()
    local coef, index, l = op.out(), op.out('i32'), ffi.new('double[1]')
    local odd = op.randn({ 3, 2 }, 2)
    assert.error_matches(op.calling('rft_fma_loss_factored', args(true), 1, odd, l, coef, index),
      'fma_loss_factored: feature map %[3,2%] must hold a two%-view batch')
    local f = op.randn({ 4, 2 }, 3)
    assert.error_matches(op.calling('rft_fma_loss_factored', args(true), 1, f, l, f, index),
      'fma_loss_factored: coef, index and the feature map must not share memory')
    assert.error_matches(op.calling('rft_fma_loss_factored', args(true), 1, f, l, coef, op.out()),
      'fma_loss_factored: index must be i32, got f32')
  end)
end)

describe('an FMA tap gradient in factored form in the backward', function()
  local b, c, h, w = 10, 3, 4, 5

  it('joins a ReLU\'s backward bit for bit as the written-out gradient, in place on dy too', function()
    local y = op.out()
    op.call('rft_relu_forward', op.randn({ b, c, h, w }, 3), y)
    local dy = op.randn({ b, c, h, w }, 4, 0.1)
    for _, exact in ipairs { false, true } do
      local _, coef, index = factored_path(y, 0.9, exact)
      local want, got = op.out(), op.out()
      op.call('rft_relu_backward_add', y, dy, written(y, coef, index), want)
      op.call('rft_relu_backward_add_factored', y, dy, coef, y, index, got)
      assert.same(want:to_table(), got:to_table())
      local din = dy:copy()
      op.call('rft_relu_backward_add_factored', y, din, coef, y, index, din)
      assert.same(want:to_table(), din:to_table(), 'in place')
    end
  end)

  it('joins the fused batch norm + ReLU backward bit for bit, batch statistics and running ones', function()
    local x, wt, bias = op.randn({ b, c, h, w }, 5, 1.5, 0.2), op.randn({ c }, 6, 0.5, 1), op.randn({ c }, 7)
    local rm, rv = op.randn({ c }, 8, 0.2), rft.from_table({ 0.7, 1.3, 0.9 }, { c })
    local a = ffi.new('rft_batchnorm_args', { 1e-5, 0.1 })
    a.relu = 1
    local y, sm, si = op.out(), op.out(), op.out()
    op.call('rft_batchnorm2d_forward_train', a, x, wt, bias, rft.tensor { shape = { c } },
      rft.tensor { shape = { c } }:fill(1), y, sm, si)
    local dy = op.randn({ b, c, h, w }, 10, 0.1)
    local function grads() return op.out(), rft.tensor { shape = { c } }:fill(0.5), rft.tensor { shape = { c } }:fill(-0.5) end
    for _, exact in ipairs { false, true } do
      local _, coef, index = factored_path(y, 0.9, exact)
      local extra = written(y, coef, index)
      local dx, dw, db = grads()
      local fdx, fdw, fdb = grads()
      op.call('rft_batchnorm2d_relu_backward', x, wt, sm, si, y, dy, extra, 0.7, dx, dw, db)
      op.call('rft_batchnorm2d_relu_backward_factored', x, wt, sm, si, y, dy, coef, y, index, 0.7, fdx, fdw, fdb)
      assert.same({ dx:to_table(), dw:to_table(), db:to_table() }, { fdx:to_table(), fdw:to_table(), fdb:to_table() })
      dx, dw, db = grads()
      fdx, fdw, fdb = grads()
      op.call('rft_batchnorm2d_relu_backward_eval', x, wt, rm, rv, 1e-5, y, dy, extra, 0.7, dx, dw, db)
      op.call('rft_batchnorm2d_relu_backward_eval_factored', x, wt, rm, rv, 1e-5, y, dy, coef, y, index, 0.7, fdx, fdw,
        fdb)
      assert.same({ dx:to_table(), dw:to_table(), db:to_table() }, { fdx:to_table(), fdw:to_table(), fdb:to_table() })
      local din = dy:copy()
      op.call('rft_batchnorm2d_relu_backward_eval_factored', x, wt, rm, rv, 1e-5, y, din, coef, y, index, 0.7, din, nil,
        nil)
      assert.same(dx:to_table(), din:to_table(), 'eval dx in place')
    end
  end)

  it('says what is wrong with the eval op\'s arguments', function()
    local x = op.randn({ 4, 2, 3, 3 }, 11)
    local y = op.out()
    op.call('rft_relu_forward', x, y)
    local _, coef, index = factored_path(y, 1, true)
    local rm, rv = rft.tensor { shape = { 2 } }, rft.tensor { shape = { 2 } }:fill(1)
    assert.error_matches(op.calling('rft_batchnorm2d_relu_backward_eval_factored', x, nil, rm, rv, -1, y, y:copy(),
      coef, y, index, 1, op.out(), nil, nil), 'batchnorm2d_relu_backward_eval_factored: eps = %-1, expected >= 0')
    assert.error_matches(op.calling('rft_batchnorm2d_relu_backward_eval_factored', x, nil, rm, rv, 1e-5, y, y:copy(),
      coef, y, index, 1, coef, nil, nil), 'coef shares memory with the output')
  end)
end)

describe('rft.loss.fma{factored = true} in a training step', function()
  -- the FMA step over [x ; x~] with the tap gradients as tensors and in factored form: the same loss,
  -- per-layer terms, tap gradients (written out) and parameter gradients, bit for bit
  local function step(o)
    local net = rft.models.allcnn_c { width = 0.125, bn = o.bn, seed = 3 }
    if o.taps then net:set_taps(o.taps) end
    if o.frozen then rft.robust.freeze_bn(net) end      -- the FMA step's batch norms: running statistics
    local b = 6
    local x = rft.rand.uniform(rft.tensor { shape = { 2 * b, 3, 32, 32 } }, { seed = 1 })
    local yv = {}
    for i = 1, b do yv[i] = i % 3 end
    net:zero_grad()
    net.pair_sums = o.pair_sums
    local _, dl = rft.loss.cross_entropy(net:forward(x), rft.from_table(yv, { b }, 'i32'), { from = 0, to = b })
    -- the ReLUs that run alone make the sums; one fused with its batch norm leaves them to the loss
    assert.equal(o.pair_sums and not o.bn or false, net:taps()[1].pair_sums ~= nil)
    local l, tg, per = rft.loss.fma(net:taps(), { gamma = 0.3, exact_normalizer = o.exact, factored = o.factored })
    local written_out = factored.written_out(tg, o.factored)
    net:backward(x, dl, tg, { input_grad = false })
    return { l = l, per = per, grads = net.flat_grads:to_table(), tg = written_out }
  end

  factored.same_as_tensor_form({
    { bn = true, frozen = true, exact = true }, { bn = true, frozen = true }, { bn = true, exact = true },
    { bn = false, exact = true },
    { bn = false, exact = true, pair_sums = true }, { bn = false, pair_sums = true },
    { bn = true, frozen = true, pair_sums = true },
    { bn = false, exact = true, taps = function(m) return m.__typename == 'nn.Conv2d' end },  -- taps a ReLU does not own
  }, function(case)
    return (case.bn and 'batch norm' or 'no batch norm') .. (case.frozen and ', frozen statistics' or '')
      .. (case.exact and ', differentiated normaliser' or ', constant normaliser')
      .. (case.taps and ', convolutions tapped' or '') .. (case.pair_sums and ', sums made in the forward' or '')
  end, step)
end)

describe('rft.robust.step with FMA', function()
  it('makes the loss\'s sums in the forward and gives the numbers of the loss\'s own pass', function()
    local method = rft.methods.get('FMA')
    local own_pass = setmetatable({ pair_sums = false }, { __index = method })
    local function run(m)
      local net = rft.models.vgg16 { width = 0.0625, seed = 4 }
      local x = rft.rand.uniform(rft.tensor { shape = { 5, 3, 32, 32 } }, { seed = 5 })
      local xt = rft.rand.uniform(rft.tensor { shape = { 5, 3, 32, 32 } }, { seed = 6 })
      net:zero_grad()
      local total = rft.robust.step(m, net, x, xt, rft.from_table({ 1, 2, 3, 4, 5 }, { 5 }, 'i32'),
        { gamma = 0.5, exact_normalizer = true })
      assert.equal(m.pair_sums, net:taps()[1].pair_sums ~= nil)
      return total, net.flat_grads:to_table()
    end
    local want, wgrads = run(own_pass)
    local got, grads = run(method)
    assert.equal(want, got)
    assert.same(wgrads, grads)
  end)
end)
