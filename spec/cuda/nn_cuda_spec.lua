-- The nn layer ops on CUDA against the CPU (kernels/conv2d.cu, linear.cu, relu.cu, maxpool2d.cu,
-- global_avgpool.cu, dropout.cu, batchnorm2d.cu): the same inputs through both devices, the CPU result
-- the ground truth. Odd sizes (batch 3, 5 channels, 7x9 maps), strides, padding, non-square kernels,
-- views into a batch, both backward passes with scale ~= 1 accumulating onto what is there, no bias,
-- batch norm in both modes with its running statistics and fused with the ReLU that follows,
-- in-place calls where the ops allow them.
-- Bit-identical where the kernels do the CPU's arithmetic in the CPU's order (ReLU, max pooling and
-- its argmax and gradient, dropout masks and values, the evaluation forward of batch norm, the linear
-- bias gradient); within stated tolerances where the order of sums differs (cuDNN, cuBLAS, the batch
-- statistics). Tolerances assume FP32 math: with RFT_TF32=1 the GEMMs and convolutions are compared
-- at TF32's 1e-2. Without a usable device every case is pending, with the reason.
local ffi = require 'ffi'
local rft = require 'rft'
local op = require 'support.opcheck'
local cuda = require 'support.cuda'

local gpu, dev, host, same_bits, close = cuda.gpu, cuda.dev, cuda.host, cuda.same_bits, cuda.close
local call, out, randn = op.call, op.out, op.randn

local tf32 = os.getenv('RFT_TF32') == '1'
local gemm_tol = tf32 and 2e-2 or 1e-4         -- conv2d, linear: atol = rtol

--- An empty output on the device under test, for an op to resize.
local function gout(dtype) return rft.tensor { shape = { 0 }, dtype = dtype or 'f32', device = cuda.device } end

local function conv_args(kh, kw, sh, sw, ph, pw) return ffi.new('rft_conv2d_args', { kh, kw, sh, sw, ph, pw }) end
local function pool_args(kh, kw, sh, sw, ph, pw) return ffi.new('rft_pool2d_args', { kh, kw, sh, sw, ph, pw }) end
local function bn_args(eps, momentum) return ffi.new('rft_batchnorm_args', { eps, momentum }) end

local function describe_args(a)
  return string.format('%dx%d stride %d,%d pad %d,%d', a.kh, a.kw, a.stride_h, a.stride_w, a.pad_h, a.pad_w)
end

describe('nn layers on CUDA', function()
  describe('relu', function()
    local x = randn({ 3, 5, 7, 9 }, 1)
    do                                           -- the edges: NaN passes, -0 and 0 give 0
      local p = x:data()
      p[0], p[1], p[2], p[3] = 0 / 0, -0.0, 0.0, -1 / 0
    end

    gpu('forward and backward are bit-identical, NaN and zeros included', function()
      local y, gy = out(), gout()
      call('rft_relu_forward', x, y)
      call('rft_relu_forward', dev(x), gy)
      same_bits(y, gy, 'relu y')
      local dy = randn({ 3, 5, 7, 9 }, 2)
      local dx, gdx = out(), gout()
      call('rft_relu_backward', y, dy, dx)
      call('rft_relu_backward', dev(y), dev(dy), gdx)
      same_bits(dx, gdx, 'relu dx')
      local extra = randn({ 3, 5, 7, 9 }, 4, 0.1)             -- a tap gradient joining dy
      call('rft_relu_backward_add', y, dy, extra, dx)
      call('rft_relu_backward_add', dev(y), dev(dy), dev(extra), gdx)
      same_bits(dx, gdx, 'relu dx with a tap gradient')
    end)

    gpu('runs in place as the CPU does', function()
      local cx, gx = x:copy(), dev(x)
      call('rft_relu_forward', cx, cx)
      call('rft_relu_forward', gx, gx)
      same_bits(cx, gx, 'relu in place')
      local dy = randn({ 3, 5, 7, 9 }, 3)
      local cdy, gdy = dy:copy(), dev(dy)
      call('rft_relu_backward', cx, cdy, cdy)
      call('rft_relu_backward', gx, gdy, gdy)
      same_bits(cdy, gdy, 'relu backward in place')
    end)
  end)

  describe('maxpool2d', function()
    -- values on a 0.5 grid, so that windows hold ties; a NaN and a -inf in the first plane
    local x = randn({ 3, 5, 7, 9 }, 4, 2)
    do
      local p = x:data()
      for i = 0, x:numel() - 1 do p[i] = math.floor(p[i]) / 2 end
      p[10], p[20] = 0 / 0, -1 / 0
    end
    local cases = {
      pool_args(2, 2, 2, 2, 0, 0), pool_args(3, 3, 2, 2, 1, 1), pool_args(3, 2, 2, 1, 1, 1),
      pool_args(2, 3, 1, 2, 1, 1), pool_args(3, 3, 1, 1, 1, 1), pool_args(1, 1, 1, 1, 0, 0),
    }

    for _, a in ipairs(cases) do
      gpu('gives the CPU values, argmax (first maximum on ties) and gradient bit for bit: ' .. describe_args(a),
        function()
          local y, am, gy, gam = out(), out('i32'), gout(), gout('i32')
          call('rft_maxpool2d_forward', a, x, y, am)
          call('rft_maxpool2d_forward', a, dev(x), gy, gam)
          same_bits(y, gy, 'maxpool y')
          same_bits(am, gam, 'maxpool argmax')
          local dy = randn(y:shape(), 5)
          local dx, gdx = out(), gout()
          call('rft_maxpool2d_backward', a, x, am, dy, dx)
          call('rft_maxpool2d_backward', a, dev(x), gam, dev(dy), gdx)
          same_bits(dx, gdx, 'maxpool dx')
        end)
    end

    gpu('pools a view of the batch as the CPU does', function()
      local a = pool_args(3, 3, 2, 2, 1, 1)
      local y, am, gy, gam = out(), out('i32'), gout(), gout('i32')
      call('rft_maxpool2d_forward', a, x:view(1, 3), y, am)
      call('rft_maxpool2d_forward', a, dev(x):view(1, 3), gy, gam)
      same_bits(y, gy, 'maxpool y of a view')
      same_bits(am, gam, 'maxpool argmax of a view')
    end)
  end)

  describe('global_avgpool', function()
    gpu('averages planes within float rounding and spreads the gradient bit for bit', function()
      local x = randn({ 3, 5, 7, 9 }, 6, 3, 0.5)
      local y, gy = out(), gout()
      call('rft_global_avgpool_forward', x, y)
      call('rft_global_avgpool_forward', dev(x), gy)
      close(y, gy, 0, 2 ^ -23, 'global_avgpool y')
      local dy = randn({ 3, 5 }, 7)
      local dx, gdx = out(), gout()
      call('rft_global_avgpool_backward', x, dy, dx)
      call('rft_global_avgpool_backward', dev(x), dev(dy), gdx)
      same_bits(dx, gdx, 'global_avgpool dx')
    end)
  end)

  describe('dropout', function()
    local x = randn({ 3, 5, 7, 9 }, 8)

    for _, p in ipairs { 0.3, 0.5, 0, 1 } do
      gpu('draws the CPU mask and values bit for bit, p = ' .. p, function()
        local y, m, gy, gm = out(), out('u8'), gout(), gout('u8')
        call('rft_dropout_forward', p, 17, 3, 13, x, y, m)
        call('rft_dropout_forward', p, 17, 3, 13, dev(x), gy, gm)
        same_bits(m, gm, 'dropout mask')
        same_bits(y, gy, 'dropout y')
        local dy = randn({ 3, 5, 7, 9 }, 9)
        local dx, gdx = out(), gout()
        call('rft_dropout_backward', p, m, dy, dx)
        call('rft_dropout_backward', p, gm, dev(dy), gdx)
        same_bits(dx, gdx, 'dropout dx')
      end)
    end

    gpu('gives a piece at its own offset the bits of the whole, in place too', function()
      local y, m = out(), out('u8')
      call('rft_dropout_forward', 0.4, 5, 1, 2, x, y, m)
      local per = 5 * 7 * 9
      local gx = dev(x):view(1, 3)
      local gm = gout('u8')
      call('rft_dropout_forward', 0.4, 5, 1, 2 + per, gx, gx, gm)
      same_bits(m:view(1, 3), gm, 'dropout mask of a piece')
      same_bits(y:view(1, 3), gx, 'dropout y of a piece, in place')
      local dy = randn({ 3, 5, 7, 9 }, 10)
      local cdy, gdy = dy:copy(), dev(dy)
      call('rft_dropout_backward', 0.4, m, cdy, cdy)
      call('rft_dropout_backward', 0.4, dev(m), gdy, gdy)
      same_bits(cdy, gdy, 'dropout backward in place')
    end)
  end)

  describe('linear', function()
    local x, w, b = randn({ 7, 13 }, 11), randn({ 5, 13 }, 12, 0.3), randn({ 5 }, 13)
    local dy = randn({ 7, 5 }, 14)

    gpu('forward with and without a bias, and backward_input, match the CPU', function()
      for _, bias in ipairs { b, false } do
        local y, gy = out(), gout()
        call('rft_linear_forward', x, w, bias or nil, y)
        call('rft_linear_forward', dev(x), dev(w), bias and dev(bias) or nil, gy)
        close(y, gy, gemm_tol, gemm_tol, bias and 'linear y' or 'linear y without bias')
      end
      local dx, gdx = out(), gout()
      call('rft_linear_backward_input', x, w, dy, dx)
      call('rft_linear_backward_input', dev(x), dev(w), dev(dy), gdx)
      close(dx, gdx, gemm_tol, gemm_tol, 'linear dx')
    end)

    gpu('backward_params adds scale times the gradient to what is there; db bit for bit', function()
      local dw0, db0 = randn({ 5, 13 }, 15), randn({ 5 }, 16)
      local dw, db, gdw, gdb = dw0:copy(), db0:copy(), dev(dw0), dev(db0)
      for _, scale in ipairs { 0.5, -1.75 } do
        call('rft_linear_backward_params', x, dy, scale, dw, db)
        call('rft_linear_backward_params', dev(x), dev(dy), scale, gdw, gdb)
      end
      close(dw, gdw, gemm_tol, gemm_tol, 'linear dw')
      same_bits(db, gdb, 'linear db')
      local dw1, gdw1 = dw0:copy(), dev(dw0)
      call('rft_linear_backward_params', x, dy, 2.5, dw1, nil)
      call('rft_linear_backward_params', dev(x), dev(dy), 2.5, gdw1, nil)
      close(dw1, gdw1, gemm_tol, gemm_tol, 'linear dw without db')
    end)

    gpu('adds nothing for an empty batch', function()
      local dw0, db0 = randn({ 5, 13 }, 17), randn({ 5 }, 18)
      local gdw, gdb = dev(dw0), dev(db0)
      call('rft_linear_backward_params', dev(rft.tensor { shape = { 0, 13 } }), dev(rft.tensor { shape = { 0, 5 } }),
        1, gdw, gdb)
      same_bits(dw0, gdw, 'linear dw after an empty batch')
      same_bits(db0, gdb, 'linear db after an empty batch')
    end)
  end)

  describe('conv2d', function()
    -- {name, x shape, cout, args}: odd sizes, stride 2, padding, non-square kernels and strides, 1x1,
    -- maps smaller than the kernel (the CPU's dense GEMM) and a Winograd-sized layer (the CPU's Winograd)
    local cases = {
      { 'same 3x3', { 3, 5, 7, 9 }, 4, conv_args(3, 3, 1, 1, 1, 1) },
      { 'stride 2', { 3, 5, 7, 9 }, 6, conv_args(3, 3, 2, 2, 1, 1) },
      { 'non-square', { 3, 5, 7, 9 }, 3, conv_args(2, 3, 1, 2, 0, 1) },
      { 'tall, unpadded', { 3, 5, 7, 9 }, 4, conv_args(5, 1, 2, 1, 0, 0) },
      { '1x1', { 3, 5, 7, 9 }, 7, conv_args(1, 1, 1, 1, 0, 0) },
      { 'tiny maps', { 3, 5, 2, 2 }, 4, conv_args(3, 3, 1, 1, 1, 1) },
      { 'winograd-sized', { 2, 16, 8, 8 }, 16, conv_args(3, 3, 1, 1, 1, 1) },
    }

    for i, c in ipairs(cases) do
      local name, xs, cout, a = c[1], c[2], c[3], c[4]
      local x = randn(xs, 20 + i)
      local w = randn({ cout, xs[2], a.kh, a.kw }, 40 + i, 0.3)
      local b = randn({ cout }, 60 + i)

      gpu('forward (with and without bias) and backward_input match the CPU: ' .. name, function()
        for _, bias in ipairs { b, false } do
          local y, gy = out(), gout()
          call('rft_conv2d_forward', a, x, w, bias or nil, y)
          call('rft_conv2d_forward', a, dev(x), dev(w), bias and dev(bias) or nil, gy)
          close(y, gy, gemm_tol, gemm_tol, name .. (bias and ' y' or ' y without bias'))
        end
        local y = out()
        call('rft_conv2d_forward', a, x, w, b, y)
        local dy = randn(y:shape(), 80 + i)
        local dx, gdx = out(), gout()
        call('rft_conv2d_backward_input', a, x, w, dy, dx)
        call('rft_conv2d_backward_input', a, dev(x), dev(w), dev(dy), gdx)
        close(dx, gdx, gemm_tol, gemm_tol, name .. ' dx')
      end)

      gpu('backward_params adds scale times the gradient to what is there: ' .. name, function()
        local y = out()
        call('rft_conv2d_forward', a, x, w, b, y)
        local dy = randn(y:shape(), 80 + i)
        local dw0, db0 = randn(w:shape(), 100 + i), randn({ cout }, 120 + i)
        local dw, db, gdw, gdb = dw0:copy(), db0:copy(), dev(dw0), dev(db0)
        for _, scale in ipairs { 0.5, -1.75 } do
          call('rft_conv2d_backward_params', a, x, dy, scale, dw, db)
          call('rft_conv2d_backward_params', a, dev(x), dev(dy), scale, gdw, gdb)
        end
        close(dw, gdw, gemm_tol, gemm_tol, name .. ' dw')
        close(db, gdb, 1e-5, 1e-5, name .. ' db')
        local dw1, gdw1 = dw0:copy(), dev(dw0)
        call('rft_conv2d_backward_params', a, x, dy, 2.5, dw1, nil)
        call('rft_conv2d_backward_params', a, dev(x), dev(dy), 2.5, gdw1, nil)
        close(dw1, gdw1, gemm_tol, gemm_tol, name .. ' dw without db')
      end)
    end

    gpu('convolves a view of the batch and reuses its plans across shapes', function()
      local a = conv_args(3, 3, 2, 2, 1, 1)
      local x, w, b = randn({ 3, 5, 7, 9 }, 140), randn({ 4, 5, 3, 3 }, 141, 0.3), randn({ 4 }, 142)
      local gx, gw, gb = dev(x), dev(w), dev(b)
      for _, r in ipairs { { 1, 3 }, { 0, 3 }, { 2, 3 }, { 1, 3 } } do   -- shapes 2, 3, 1, 2 again
        local y, gy = out(), gout()
        call('rft_conv2d_forward', a, x:view(r[1], r[2]), w, b, y)
        call('rft_conv2d_forward', a, gx:view(r[1], r[2]), gw, gb, gy)
        close(y, gy, gemm_tol, gemm_tol, 'y of rows ' .. r[1] .. '..' .. r[2])
      end
    end)

    gpu('adds nothing for an empty batch', function()
      local a = conv_args(3, 3, 1, 1, 1, 1)
      local dw0, db0 = randn({ 4, 5, 3, 3 }, 150), randn({ 4 }, 151)
      local gdw, gdb = dev(dw0), dev(db0)
      call('rft_conv2d_backward_params', a, dev(rft.tensor { shape = { 0, 5, 7, 9 } }),
        dev(rft.tensor { shape = { 0, 4, 7, 9 } }), 1, gdw, gdb)
      same_bits(dw0, gdw, 'conv2d dw after an empty batch')
      same_bits(db0, gdb, 'conv2d db after an empty batch')
    end)
  end)

  describe('batchnorm2d', function()
    local x = randn({ 3, 5, 7, 9 }, 30, 1.5, 0.5)
    local weight, bias = randn({ 5 }, 31, 0.5, 1), randn({ 5 }, 32)
    local rm0 = randn({ 5 }, 33, 0.1)
    local rv0 = rft.from_table({ 0.5, 1, 1.5, 2, 0.8 }, { 5 })
    local a = bn_args(1e-5, 0.1)

    -- forward_train on both devices; returns the CPU and device results {y, rm, rv, sm, si}
    local function train(xin, w, b, in_place)
      local c = { xin:copy(), rm0:copy(), rv0:copy(), out(), out() }
      local g = { dev(xin), dev(rm0), dev(rv0), gout(), gout() }
      local cy, gy = in_place and c[1] or out(), in_place and g[1] or gout()
      call('rft_batchnorm2d_forward_train', a, c[1], w, b, c[2], c[3], cy, c[4], c[5])
      call('rft_batchnorm2d_forward_train', a, g[1], w and dev(w), b and dev(b), g[2], g[3], gy, g[4], g[5])
      return { cy, c[2], c[3], c[4], c[5] }, { gy, g[2], g[3], g[4], g[5] }
    end

    local function same_stats(c, g, what)
      close(c[1], g[1], 1e-5, 1e-5, what .. ' y')
      close(c[2], g[2], 1e-6, 1e-6, what .. ' running_mean')
      close(c[3], g[3], 1e-6, 1e-6, what .. ' running_var')
      close(c[4], g[4], 1e-6, 1e-6, what .. ' save_mean')
      close(c[5], g[5], 1e-6, 1e-6, what .. ' save_invstd')
    end

    gpu('trains like the CPU: output, batch and running statistics (affine, plain, in place)', function()
      local c, g = train(x, weight, bias)
      same_stats(c, g, 'affine')
      c, g = train(x, nil, nil)
      same_stats(c, g, 'without weight and bias')
      c, g = train(x, weight, bias, true)
      same_stats(c, g, 'in place')
    end)

    gpu('evaluates bit for bit with the running statistics', function()
      for _, affine in ipairs { true, false } do
        local w, b = affine and weight or nil, affine and bias or nil
        local y, gy = out(), gout()
        call('rft_batchnorm2d_forward_eval', a, x, w, b, rm0, rv0, y)
        call('rft_batchnorm2d_forward_eval', a, dev(x), w and dev(w), b and dev(b), dev(rm0), dev(rv0), gy)
        same_bits(y, gy, affine and 'eval y' or 'eval y without weight and bias')
      end
    end)

    gpu('has the CPU gradients in training mode, adding scale times them to what is there', function()
      local c = train(x, weight, bias)
      local sm, si = c[4], c[5]                   -- the same statistics on both devices
      local dy = randn({ 3, 5, 7, 9 }, 34)
      local dw0, db0 = randn({ 5 }, 35), randn({ 5 }, 36)
      local dx, dw, db, gdx, gdw, gdb = out(), dw0:copy(), db0:copy(), gout(), dev(dw0), dev(db0)
      for _, scale in ipairs { 0.5, -1.75 } do
        call('rft_batchnorm2d_backward', x, weight, sm, si, dy, scale, dx, dw, db)
        call('rft_batchnorm2d_backward', dev(x), dev(weight), dev(sm), dev(si), dev(dy), scale, gdx, gdw, gdb)
      end
      close(dx, gdx, 1e-5, 1e-4, 'dx')
      close(dw, gdw, 1e-4, 1e-5, 'dweight')
      close(db, gdb, 1e-4, 1e-5, 'dbias')
      -- without weight, dx alone, in place on dy
      local cdy, gdy = dy:copy(), dev(dy)
      call('rft_batchnorm2d_backward', x, nil, sm, si, cdy, 1, cdy, nil, nil)
      call('rft_batchnorm2d_backward', dev(x), nil, dev(sm), dev(si), gdy, 1, gdy, nil, nil)
      close(cdy, gdy, 1e-5, 1e-4, 'dx in place, without weight')
      -- parameter gradients alone
      local dw1, db1, gdw1, gdb1 = dw0:copy(), db0:copy(), dev(dw0), dev(db0)
      call('rft_batchnorm2d_backward', x, weight, sm, si, dy, 2, nil, dw1, db1)
      call('rft_batchnorm2d_backward', dev(x), dev(weight), dev(sm), dev(si), dev(dy), 2, nil, gdw1, gdb1)
      close(dw1, gdw1, 1e-4, 1e-5, 'dweight alone')
      close(db1, gdb1, 1e-4, 1e-5, 'dbias alone')
    end)

    gpu('fuses the ReLU that follows like the CPU: forward in both modes, backward with and without a tap gradient', function()
      local dy, extra = randn({ 3, 5, 7, 9 }, 50), randn({ 3, 5, 7, 9 }, 51, 0.1)
      local fa = bn_args(1e-5, 0.1)
      fa.relu = 1
      -- training: the CPU's fused output and statistics, within the batch statistics' tolerances
      local c = { x:copy(), rm0:copy(), rv0:copy(), out(), out(), out() }
      local g = { dev(x), dev(rm0), dev(rv0), gout(), gout(), gout() }
      call('rft_batchnorm2d_forward_train', fa, c[1], weight, bias, c[2], c[3], c[6], c[4], c[5])
      call('rft_batchnorm2d_forward_train', fa, g[1], dev(weight), dev(bias), g[2], g[3], g[6], g[4], g[5])
      close(c[6], g[6], 1e-5, 1e-5, 'fused y')
      assert.equal(0, host(g[6]):min())
      -- evaluation: bit for bit
      local y, gy = out(), gout()
      call('rft_batchnorm2d_forward_eval', fa, x, weight, bias, rm0, rv0, y)
      call('rft_batchnorm2d_forward_eval', fa, dev(x), dev(weight), dev(bias), dev(rm0), dev(rv0), gy)
      same_bits(y, gy, 'fused eval y')
      for _, e in ipairs { false, true } do
        local what = e and ' with a tap gradient' or ''
        local ce, ge = e and extra or nil, e and dev(extra) or nil
        local dx, dw, db, gdx, gdw, gdb = out(), rft.tensor { shape = { 5 } }, rft.tensor { shape = { 5 } }, gout(),
          dev(rft.tensor { shape = { 5 } }), dev(rft.tensor { shape = { 5 } })
        call('rft_batchnorm2d_relu_backward', x, weight, c[4], c[5], c[6], dy, ce, 0.5, dx, dw, db)
        call('rft_batchnorm2d_relu_backward', dev(x), dev(weight), dev(c[4]), dev(c[5]), dev(c[6]), dev(dy), ge, 0.5,
          gdx, gdw, gdb)
        close(dx, gdx, 1e-5, 1e-4, 'fused dx' .. what)
        close(dw, gdw, 1e-4, 1e-5, 'fused dweight' .. what)
        close(db, gdb, 1e-4, 1e-5, 'fused dbias' .. what)
        call('rft_batchnorm2d_relu_backward_eval', x, weight, rm0, rv0, 1e-5, y, dy, ce, 0.5, dx, dw, db)
        call('rft_batchnorm2d_relu_backward_eval', dev(x), dev(weight), dev(rm0), dev(rv0), 1e-5, dev(y), dev(dy), ge,
          0.5, gdx, gdw, gdb)
        same_bits(dx, gdx, 'fused eval dx' .. what)
        close(dw, gdw, 1e-4, 1e-5, 'fused eval dweight' .. what)
        close(db, gdb, 1e-4, 1e-5, 'fused eval dbias' .. what)
      end
    end)

    gpu('has the CPU gradients with frozen statistics: dx bit for bit', function()
      local dy = randn({ 3, 5, 7, 9 }, 37)
      local dw0, db0 = randn({ 5 }, 38), randn({ 5 }, 39)
      local dx, dw, db, gdx, gdw, gdb = out(), dw0:copy(), db0:copy(), gout(), dev(dw0), dev(db0)
      for _, scale in ipairs { 0.5, -1.75 } do
        call('rft_batchnorm2d_backward_eval', x, weight, rm0, rv0, 1e-5, dy, scale, dx, dw, db)
        call('rft_batchnorm2d_backward_eval', dev(x), dev(weight), dev(rm0), dev(rv0), 1e-5, dev(dy), scale, gdx, gdw,
          gdb)
      end
      same_bits(dx, gdx, 'eval dx')
      close(dw, gdw, 1e-4, 1e-5, 'eval dweight')
      close(db, gdb, 1e-4, 1e-5, 'eval dbias')
      local cdy, gdy = dy:copy(), dev(dy)
      call('rft_batchnorm2d_backward_eval', x, nil, rm0, rv0, 1e-5, cdy, 1, cdy, nil, nil)
      call('rft_batchnorm2d_backward_eval', dev(x), nil, dev(rm0), dev(rv0), 1e-5, gdy, 1, gdy, nil, nil)
      same_bits(cdy, gdy, 'eval dx in place, without weight')
    end)
  end)
end)
