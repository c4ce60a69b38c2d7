-- Batch normalisation: PyTorch's training and evaluation results (output, running statistics,
-- gradients), gradients against central differences in both modes, accumulation and scale of the
-- parameter gradients, no affine parameters, and bad arguments.
local ffi = require 'ffi'
local rft = require 'rft'
local fx = require 'support.fixture'
local op = require 'support.opcheck'

local function bn_args(eps, momentum) return ffi.new('rft_batchnorm_args', { eps or 1e-5, momentum or 0.1 }) end

describe('batchnorm2d', function()
  local ref = fx.load('batchnorm2d')
  local C = 3

  it('matches PyTorch in training mode: output, updated running statistics, gradients', function()
    local rm, rv = ref.running_mean0:copy(), ref.running_var0:copy()
    local y, sm, si = op.out(), op.out(), op.out()
    op.call('rft_batchnorm2d_forward_train', bn_args(), ref.x, ref.weight, ref.bias, rm, rv, y, sm, si)
    fx.assert_close(y, ref.y, 1e-5, 1e-5, 'y')
    fx.assert_close(rm, ref.running_mean, 1e-6, 1e-6, 'running_mean')
    fx.assert_close(rv, ref.running_var, 1e-6, 1e-6, 'running_var')
    local dx, dw, db = op.out(), rft.tensor { shape = { C } }, rft.tensor { shape = { C } }
    op.call('rft_batchnorm2d_backward', ref.x, ref.weight, sm, si, ref.dy, 1, dx, dw, db)
    fx.assert_close(dx, ref.dx, 1e-5, 1e-4, 'dx')
    fx.assert_close(dw, ref.dweight, 1e-5, 1e-5, 'dweight')
    fx.assert_close(db, ref.dbias, 1e-5, 1e-5, 'dbias')
  end)

  it('matches PyTorch in evaluation mode, gradients with frozen statistics', function()
    local y = op.out()
    op.call('rft_batchnorm2d_forward_eval', bn_args(), ref.x, ref.weight, ref.bias, ref.running_mean,
      ref.running_var, y)
    fx.assert_close(y, ref.eval_y, 1e-5, 1e-5, 'eval y')
    local dx, dw, db = op.out(), rft.tensor { shape = { C } }, rft.tensor { shape = { C } }
    op.call('rft_batchnorm2d_backward_eval', ref.x, ref.weight, ref.running_mean, ref.running_var, 1e-5, ref.dy,
      1, dx, dw, db)
    fx.assert_close(dx, ref.eval_dx, 1e-5, 1e-5, 'eval dx')
    fx.assert_close(dw, ref.eval_dweight, 1e-4, 1e-5, 'eval dweight')
    fx.assert_close(db, ref.eval_dbias, 1e-5, 1e-5, 'eval dbias')
  end)

  it('adds scale times the parameter gradients to what is there', function()
    local rm, rv = ref.running_mean0:copy(), ref.running_var0:copy()
    local y, sm, si = op.out(), op.out(), op.out()
    op.call('rft_batchnorm2d_forward_train', bn_args(), ref.x, ref.weight, ref.bias, rm, rv, y, sm, si)
    local dw = rft.from_table({ 1, 2, 3 }, { C })
    local db = rft.from_table({ -1, 0, 1 }, { C })
    op.call('rft_batchnorm2d_backward', ref.x, ref.weight, sm, si, ref.dy, 0.5, nil, dw, db)
    local w0, b0 = ref.dweight:to_table(), ref.dbias:to_table()
    local w, b = dw:to_table(), db:to_table()
    for c = 1, C do
      assert.near(({ 1, 2, 3 })[c] + 0.5 * w0[c], w[c], 1e-4)
      assert.near(({ -1, 0, 1 })[c] + 0.5 * b0[c], b[c], 1e-4)
    end
  end)

  for _, mode in ipairs { 'train', 'eval' } do
    it('has the gradients of central differences in ' .. mode .. ' mode', function()
      local x = op.randn({ 3, 2, 3, 4 }, 21, 1.5, 0.5)
      local w = rft.from_table({ 1.3, -0.7 }, { 2 })
      local b = rft.from_table({ 0.2, -0.4 }, { 2 })
      local rm0 = rft.from_table({ 0.1, -0.2 }, { 2 })
      local rv0 = rft.from_table({ 1.5, 0.8 }, { 2 })
      local r = op.randn({ 3, 2, 3, 4 }, 22)
      local y, sm, si = op.out(), op.out(), op.out()
      local function forward()
        if mode == 'train' then
          op.call('rft_batchnorm2d_forward_train', bn_args(), x, w, b, rm0:copy(), rv0:copy(), y, sm, si)
        else
          op.call('rft_batchnorm2d_forward_eval', bn_args(), x, w, b, rm0, rv0, y)
        end
        return op.dot(y, r)
      end
      forward()
      local dx, dw, db = op.out(), rft.tensor { shape = { 2 } }, rft.tensor { shape = { 2 } }
      if mode == 'train' then
        op.call('rft_batchnorm2d_backward', x, w, sm, si, r, 1, dx, dw, db)
      else
        op.call('rft_batchnorm2d_backward_eval', x, w, rm0, rv0, 1e-5, r, 1, dx, dw, db)
      end
      op.gradcheck('batchnorm2d ' .. mode .. ' dx', x, forward, dx, { eps = 1e-2, tol = 2e-3 })
      op.gradcheck('batchnorm2d ' .. mode .. ' dweight', w, forward, dw, { eps = 1e-2, tol = 2e-3 })
      op.gradcheck('batchnorm2d ' .. mode .. ' dbias', b, forward, db, { eps = 1e-2, tol = 2e-3 })
    end)
  end

  it('normalises to mean 0 and variance 1 without weight and bias', function()
    local x = op.randn({ 8, 2, 4, 4 }, 30, 3, 5)
    local rm, rv = rft.tensor { shape = { 2 } }, rft.tensor { shape = { 2 } }:fill(1)
    local y, sm, si = op.out(), op.out(), op.out()
    op.call('rft_batchnorm2d_forward_train', bn_args(0, 1), x, nil, nil, rm, rv, y, sm, si)
    local p, hw = y:data(), 16
    for c = 0, 1 do
      local s, s2 = 0, 0
      for n = 0, 7 do
        for k = 0, hw - 1 do local v = p[(n * 2 + c) * hw + k]; s = s + v; s2 = s2 + v * v end
      end
      assert.near(0, s / 128, 1e-5)
      assert.near(1, s2 / 128, 1e-4)
    end
    -- momentum 1: the running statistics are the batch's (variance unbiased: M/(M-1) of the biased one)
    local m, v = sm:to_table(), si:to_table()
    for c = 1, 2 do
      assert.near(m[c], rm:to_table()[c], 1e-6)
      assert.near(1 / v[c] ^ 2 * 128 / 127, rv:to_table()[c], 1e-4)
    end
  end)

  -- BN + ReLU fused: the forward with args.relu and the *_relu_backward ops against the unfused
  -- composition (BN, ReLU, then ReLU's backward with the tap gradient, then BN's backward). The
  -- fused backward forms ReLU's gradient plane by plane and sums it with the same code, so every
  -- number is bit for bit the same, in both modes, with and without a tap gradient, and in place.
  for _, mode in ipairs { 'training', 'evaluation' } do
    it('fuses the ReLU that follows, forward and backward, bit for bit as the unfused pair (' .. mode .. ')', function()
      local x = op.randn({ 3, 4, 5, 7 }, 40, 1.5, 0.2)
      local w, b = op.randn({ 4 }, 41, 0.5, 1), op.randn({ 4 }, 42)
      local rm, rv = op.randn({ 4 }, 43, 0.1), rft.from_table({ 0.5, 1, 1.5, 2 }, { 4 })
      local dy, extra = op.randn({ 3, 4, 5, 7 }, 44), op.randn({ 3, 4, 5, 7 }, 45, 0.1)
      local function forward(relu)
        local a = bn_args()
        a.relu = relu and 1 or 0
        local y, sm, si = op.out(), op.out(), op.out()
        if mode == 'training' then
          op.call('rft_batchnorm2d_forward_train', a, x, w, b, rm:copy(), rv:copy(), y, sm, si)
        else
          op.call('rft_batchnorm2d_forward_eval', a, x, w, b, rm, rv, y)
        end
        return y, sm, si
      end
      local pre, sm, si = forward(false)
      local y = op.out()
      op.call('rft_relu_forward', pre, y)
      local fy, fsm, fsi = forward(true)
      assert.same(y:to_table(), fy:to_table())
      if mode == 'training' then assert.same(sm:to_table(), fsm:to_table()); assert.same(si:to_table(), fsi:to_table()) end
      for _, with_extra in ipairs { false, true } do
        local g = op.out()
        if with_extra then op.call('rft_relu_backward_add', y, dy, extra, g) else op.call('rft_relu_backward', y, dy, g) end
        local dx, dw, db = op.out(), rft.tensor { shape = { 4 } }:fill(0.5), rft.tensor { shape = { 4 } }:fill(-0.5)
        local fdx, fdw, fdb = op.out(), rft.tensor { shape = { 4 } }:fill(0.5), rft.tensor { shape = { 4 } }:fill(-0.5)
        local e = with_extra and extra or nil
        if mode == 'training' then
          op.call('rft_batchnorm2d_backward', x, w, sm, si, g, 0.7, dx, dw, db)
          op.call('rft_batchnorm2d_relu_backward', x, w, sm, si, fy, dy, e, 0.7, fdx, fdw, fdb)
        else
          op.call('rft_batchnorm2d_backward_eval', x, w, rm, rv, 1e-5, g, 0.7, dx, dw, db)
          op.call('rft_batchnorm2d_relu_backward_eval', x, w, rm, rv, 1e-5, fy, dy, e, 0.7, fdx, fdw, fdb)
        end
        local what = with_extra and ' with a tap gradient' or ''
        assert.same(dx:to_table(), fdx:to_table(), 'dx' .. what)
        assert.same(dw:to_table(), fdw:to_table(), 'dweight' .. what)
        assert.same(db:to_table(), fdb:to_table(), 'dbias' .. what)
        local din = dy:copy()                               -- in place: dx = dy
        if mode == 'training' then
          op.call('rft_batchnorm2d_relu_backward', x, w, sm, si, fy, din, e, 0.7, din, nil, nil)
        else
          op.call('rft_batchnorm2d_relu_backward_eval', x, w, rm, rv, 1e-5, fy, din, e, 0.7, din, nil, nil)
        end
        assert.same(dx:to_table(), din:to_table(), 'dx in place' .. what)
      end
    end)
  end

  it('says what is wrong with the fused backward\'s arguments', function()
    local x, y, dy = op.randn({ 2, 3, 2, 2 }, 1), op.randn({ 2, 3, 2, 2 }, 2), op.randn({ 2, 3, 2, 2 }, 3)
    local sm, si = rft.tensor { shape = { 3 } }, rft.tensor { shape = { 3 } }:fill(1)
    assert.error_matches(op.calling('rft_batchnorm2d_relu_backward', x, nil, sm, si, rft.tensor { shape = { 2, 3 } },
      dy, nil, 1, op.out(), nil, nil), 'batchnorm2d_relu_backward: y has shape %[2,3%], expected %[2,3,2,2%]')
    assert.error_matches(op.calling('rft_batchnorm2d_relu_backward', x, nil, sm, si, y, dy, nil, 1, y, nil, nil),
      'batchnorm2d_relu_backward: dx must not be y or extra')
    assert.error_matches(op.calling('rft_batchnorm2d_relu_backward_eval', x, nil, sm, si, 1e-5, y, dy,
      rft.tensor { shape = { 5 } }, 1, op.out(), nil, nil), 'batchnorm2d_relu_backward_eval: extra has shape %[5%]')
  end)

  it('says what is wrong with bad arguments', function()
    local x = rft.tensor { shape = { 2, 3, 2, 2 } }
    local c3, c4 = rft.tensor { shape = { 3 } }, rft.tensor { shape = { 4 } }
    assert.error_matches(op.calling('rft_batchnorm2d_forward_train', bn_args(), x, c4, c3, c3, c3, op.out(), op.out(),
      op.out()), 'batchnorm2d: weight has shape %[4%], expected %[3%] %(one per channel of input %[2,3,2,2%]%)')
    assert.error_matches(op.calling('rft_batchnorm2d_forward_train', bn_args(), rft.tensor { shape = { 1, 3, 1, 1 } },
      c3, c3, c3, c3, op.out(), op.out(), op.out()), 'batchnorm2d: training needs more than one value per channel')
    assert.error_matches(op.calling('rft_batchnorm2d_forward_eval', bn_args(-1), x, c3, c3, c3, c3, op.out()),
      'batchnorm2d_eval: eps = %-1, expected >= 0')
    assert.error_matches(op.calling('rft_batchnorm2d_forward_eval', bn_args(), x, c3, c3, c3, rft.tensor { shape = { 3 }, dtype = 'i32' },
      op.out()), 'batchnorm2d_eval: running_var must be f32, got i32')
    assert.error_matches(op.calling('rft_batchnorm2d_backward', x, c3, c3, c3, rft.tensor { shape = { 2, 3, 2, 3 } }, 1,
      op.out(), c3, c3), 'batchnorm2d_backward: dy has shape %[2,3,2,3%], expected %[2,3,2,2%] like input')
  end)
end)
