-- conv2d: rft's 2-D convolution against PyTorch (spec/fixtures/conv2d.bin from tools/fixtures/conv2d.py),
-- against central differences, accumulating parameter gradients, and naming what is wrong with bad input.
-- The C functions are called directly through the FFI; the Lua module has its own spec.
local ffi = require 'ffi'
local rft = require 'rft'
local fx = require 'support.fixture'
local C = rft.C

local call = require('support.opcheck').run

local function args_of(t)
  local v = t:to_table()
  return ffi.new('rft_conv2d_args', { v[1], v[2], v[3], v[4], v[5], v[6] })
end

local assert_close = fx.assert_close

local function zeros(shape) return rft.tensor { shape = shape } end

local function dot(a, b)
  local s = 0
  for i = 1, #a do s = s + a[i] * b[i] end
  return s
end

-- The CPU backend runs `wide` with Winograd (3x3, stride 1, 16+ channels), `tiny*` (maps smaller
-- than the kernel) as one dense GEMM, and the others with direct convolution.
local cases = { 'same3x3', 'stride2', 'point1x1', 'valid3x3', 'odd', 'wide', 'tiny', 'tiny_odd' }

describe('conv2d', function()
  local F = fx.load('conv2d')

  describe('matches PyTorch', function()
    for _, name in ipairs(cases) do
      local function get(k) return F[name .. '.' .. k] end

      it('forward: ' .. name, function()
        local y = zeros { 1 }
        call(C.rft_conv2d_forward, args_of(get 'args'), get 'x', get 'w', get 'b', y)
        assert_close(y, get 'y', 1e-4, 1e-4, name .. ' y')
      end)

      it('backward_input: ' .. name, function()
        local dx = zeros { 1 }
        call(C.rft_conv2d_backward_input, args_of(get 'args'), get 'x', get 'w', get 'dy', dx)
        assert_close(dx, get 'dx', 1e-4, 1e-4, name .. ' dx')
      end)

      it('backward_params: ' .. name, function()
        local dw, db = zeros(get('w'):shape()), zeros(get('b'):shape())
        call(C.rft_conv2d_backward_params, args_of(get 'args'), get 'x', get 'dy', 1, dw, db)
        assert_close(dw, get 'dw', 1e-4, 1e-4, name .. ' dw')
        assert_close(db, get 'db', 1e-4, 1e-4, name .. ' db')
      end)
    end

    it('without a bias', function()
      local a, x, w = args_of(F['odd.args']), F['odd.x'], F['odd.w']
      local y, yb = zeros { 1 }, zeros { 1 }
      call(C.rft_conv2d_forward, a, x, w, nil, y)
      call(C.rft_conv2d_forward, a, x, w, F['odd.b'], yb)
      local got, with_bias, b = y:to_table(), yb:to_table(), F['odd.b']:to_table()
      local shape = y:shape()
      local plane = shape[3] * shape[4]
      for i = 1, #got do
        local c = math.floor((i - 1) / plane) % shape[2]
        assert.near(with_bias[i] - b[c + 1], got[i], 1e-5)
      end
      local dw = zeros(w:shape())
      call(C.rft_conv2d_backward_params, a, x, F['odd.dy'], 1, dw, nil)
      assert_close(dw, F['odd.dw'], 1e-4, 1e-4, 'dw without db')
    end)

    it('on a view of one image of the batch', function()
      local a, x = args_of(F['same3x3.args']), F['same3x3.x']
      local y = zeros { 1 }
      call(C.rft_conv2d_forward, a, x:view(1, 2), F['same3x3.w'], F['same3x3.b'], y)
      assert_close(y, F['same3x3.y']:view(1, 2), 1e-4, 1e-4, 'second image')
    end)
  end)

  describe('parameter gradients', function()
    local name = 'stride2'
    local a, x, dy = args_of(F[name .. '.args']), F[name .. '.x'], F[name .. '.dy']
    local w, b = F[name .. '.w'], F[name .. '.b']

    it('accumulate, scaled', function()
      local dw, db = zeros(w:shape()), zeros(b:shape())
      call(C.rft_conv2d_backward_params, a, x, dy, 0.5, dw, db)
      call(C.rft_conv2d_backward_params, a, x, dy, 2.5, dw, db)
      local want_w, want_b = F[name .. '.dw']:to_table(), F[name .. '.db']:to_table()
      for i = 1, #want_w do want_w[i] = 3 * want_w[i] end
      for i = 1, #want_b do want_b[i] = 3 * want_b[i] end
      assert_close(dw, rft.from_table(want_w, w:shape()), 3e-4, 1e-4, 'dw after 0.5 + 2.5')
      assert_close(db, rft.from_table(want_b, b:shape()), 3e-4, 1e-4, 'db after 0.5 + 2.5')
    end)

    it('add nothing for an empty batch', function()
      local dw, db = zeros(w:shape()), zeros(b:shape())
      local shape = x:shape()
      shape[1] = 0
      local dshape = dy:shape()
      dshape[1] = 0
      call(C.rft_conv2d_backward_params, a, zeros(shape), zeros(dshape), 1, dw, db)
      assert.equal(0, dw:max())
      assert.equal(0, db:min())
    end)
  end)

  describe('agrees with central differences', function()
    -- L = sum(y * r) for a fixed random r, so dL/dy = r; each gradient is checked along random
    -- directions v: (L(p + eps v) - L(p - eps v)) / 2 eps against <grad, v>.
    local eps = 1e-2
    local function randn(shape, seed) return rft.rand.normal(zeros(shape), { seed = seed }) end

    local function check(label, kh, stride, pad, cin, cout, hw)
      it(label, function()
        local a = ffi.new('rft_conv2d_args', { kh, kh, stride, stride, pad, pad })
        hw = hw or { 7, 6 }
        local x, w, b = randn({ 2, cin, hw[1], hw[2] }, 1), randn({ cout, cin, kh, kh }, 2), randn({ cout }, 3)
        local y = zeros { 1 }
        call(C.rft_conv2d_forward, a, x, w, b, y)
        local r = randn(y:shape(), 4)
        local rt = r:to_table()
        local function loss(xx, ww, bb)
          local yy = zeros { 1 }
          call(C.rft_conv2d_forward, a, xx, ww, bb, yy)
          return dot(yy:to_table(), rt)
        end
        local dx, dw, db = zeros { 1 }, zeros(w:shape()), zeros(b:shape())
        call(C.rft_conv2d_backward_input, a, x, w, r, dx)
        call(C.rft_conv2d_backward_params, a, x, r, 1, dw, db)

        local function along(t, grad, seed, with)
          local v = randn(t:shape(), seed):to_table()
          local p = t:to_table()
          local plus, minus = {}, {}
          for i = 1, #p do plus[i], minus[i] = p[i] + eps * v[i], p[i] - eps * v[i] end
          local numeric = (with(rft.from_table(plus, t:shape())) - with(rft.from_table(minus, t:shape())))
            / (2 * eps)
          local analytic = dot(grad:to_table(), v)
          assert(math.abs(numeric - analytic) <= 1e-3 * math.max(1, math.abs(analytic)),
            string.format('%s: numeric %.6g, analytic %.6g', label, numeric, analytic))
        end
        for seed = 10, 12 do
          along(x, dx, seed, function(xx) return loss(xx, w, b) end)
          along(w, dw, seed + 10, function(ww) return loss(x, ww, b) end)
          along(b, db, seed + 20, function(bb) return loss(x, w, bb) end)
        end
      end)
    end
    check('3x3, stride 1, padding 1', 3, 1, 1, 3, 4)
    check('3x3, stride 2, padding 1', 3, 2, 1, 3, 4)
    check('1x1, no padding', 1, 1, 0, 3, 4)
    check('3x3, stride 1, 16 channels in and out (Winograd)', 3, 1, 1, 16, 16)
    check('3x3 on 2x2 maps (one dense GEMM)', 3, 1, 1, 3, 4, { 2, 2 })
    check('3x3, stride 2 on 1x3 maps (one dense GEMM)', 3, 2, 1, 3, 4, { 1, 3 })
  end)

  describe('rejects bad input, saying what is wrong', function()
    local a = ffi.new('rft_conv2d_args', { 3, 3, 1, 1, 1, 1 })
    local w = zeros { 6, 3, 3, 3 }
    local y = zeros { 1 }

    it('wrong channel count', function()
      assert.error_matches(function() call(C.rft_conv2d_forward, a, zeros { 2, 4, 8, 8 }, w, nil, y) end,
        'conv2d: input has 4 channels, weight expects 3 (input [2,4,8,8])', 1, true)
    end)
    it('wrong dtype', function()
      assert.error_matches(function()
        call(C.rft_conv2d_forward, a, rft.tensor { shape = { 2, 3, 8, 8 }, dtype = 'i32' }, w, nil, y)
      end, 'conv2d: input must be f32, got i32', 1, true)
    end)
    it('wrong number of dimensions', function()
      assert.error_matches(function() call(C.rft_conv2d_forward, a, zeros { 3, 8, 8 }, w, nil, y) end,
        'conv2d: input must have 4 dimensions, got [3,8,8]', 1, true)
    end)
    it('a kernel larger than the padded input', function()
      local valid = ffi.new('rft_conv2d_args', { 3, 3, 1, 1, 0, 0 })
      assert.error_matches(function() call(C.rft_conv2d_forward, valid, zeros { 1, 3, 2, 2 }, w, nil, y) end,
        'conv2d: kernel 3x3 is larger than the padded input 2x2', 1, true)
    end)
    it('a weight whose kernel is not the one in args', function()
      local five = ffi.new('rft_conv2d_args', { 5, 5, 1, 1, 2, 2 })
      assert.error_matches(function() call(C.rft_conv2d_forward, five, zeros { 1, 3, 8, 8 }, w, nil, y) end,
        'conv2d: weight [6,3,3,3] has a 3x3 kernel, args say 5x5', 1, true)
    end)
    it('a bias of the wrong size', function()
      assert.error_matches(function() call(C.rft_conv2d_forward, a, zeros { 1, 3, 8, 8 }, w, zeros { 5 }, y) end,
        'conv2d: bias is [5], expected [6]', 1, true)
    end)
    it('a grad_output of the wrong shape', function()
      assert.error_matches(function()
        call(C.rft_conv2d_backward_input, a, zeros { 1, 3, 8, 8 }, w, zeros { 1, 6, 4, 4 }, zeros { 1 })
      end, 'conv2d: grad_output is [1,6,4,4], expected [1,6,8,8]', 1, true)
    end)
    it('a grad_weight that does not fit the input', function()
      assert.error_matches(function()
        call(C.rft_conv2d_backward_params, a, zeros { 1, 4, 8, 8 }, zeros { 1, 6, 8, 8 }, 1, w, nil)
      end, 'conv2d: input has 4 channels, grad_weight expects 3', 1, true)
    end)
    it('an output that is also the input', function()
      local x = zeros { 1, 3, 8, 8 }
      assert.error_matches(function() call(C.rft_conv2d_forward, a, x, zeros { 3, 3, 3, 3 }, nil, x) end,
        'conv2d: output shares memory with an input', 1, true)
    end)
    it('missing args or tensors', function()
      assert.error_matches(function() call(C.rft_conv2d_forward, nil, zeros { 1, 3, 8, 8 }, w, nil, y) end,
        'conv2d: args is missing', 1, true)
      assert.error_matches(function() call(C.rft_conv2d_forward, a, zeros { 1, 3, 8, 8 }, nil, nil, y) end,
        'conv2d: weight is missing', 1, true)
    end)
    it('a zero stride', function()
      local bad = ffi.new('rft_conv2d_args', { 3, 3, 0, 1, 1, 1 })
      assert.error_matches(function() call(C.rft_conv2d_forward, bad, zeros { 1, 3, 8, 8 }, w, nil, y) end,
        'conv2d: stride is 0,1, expected at least 1', 1, true)
    end)
  end)
end)
