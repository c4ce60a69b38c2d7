-- linear: rft's fully connected layer y = x wᵀ + b against PyTorch (spec/fixtures/linear.bin from
-- tools/fixtures/linear.py), against central differences, accumulating parameter gradients, and naming
-- what is wrong with bad input. The C functions are called directly through the FFI.
local rft = require 'rft'
local fx = require 'support.fixture'
local C = rft.C

local call = require('support.opcheck').run

local assert_close = fx.assert_close

local function zeros(shape) return rft.tensor { shape = shape } end

local function dot(a, b)
  local s = 0
  for i = 1, #a do s = s + a[i] * b[i] end
  return s
end

describe('linear', function()
  local F = fx.load('linear')

  describe('matches PyTorch', function()
    for _, name in ipairs { 'small', 'classifier', 'one' } do
      local function get(k) return F[name .. '.' .. k] end

      it('forward: ' .. name, function()
        local y = zeros { 1 }
        call(C.rft_linear_forward, get 'x', get 'w', get 'b', y)
        assert_close(y, get 'y', 1e-5, 1e-5, name .. ' y')
      end)

      it('backward_input: ' .. name, function()
        local dx = zeros { 1 }
        call(C.rft_linear_backward_input, get 'x', get 'w', get 'dy', dx)
        assert_close(dx, get 'dx', 1e-5, 1e-5, name .. ' dx')
      end)

      it('backward_params: ' .. name, function()
        local dw, db = zeros(get('w'):shape()), zeros(get('b'):shape())
        call(C.rft_linear_backward_params, get 'x', get 'dy', 1, dw, db)
        assert_close(dw, get 'dw', 1e-5, 1e-5, name .. ' dw')
        assert_close(db, get 'db', 1e-5, 1e-5, name .. ' db')
      end)
    end

    it('without a bias', function()
      local x, w, b = F['small.x'], F['small.w'], F['small.b']
      local y, yb = zeros { 1 }, zeros { 1 }
      call(C.rft_linear_forward, x, w, nil, y)
      call(C.rft_linear_forward, x, w, b, yb)
      local got, with_bias, bias = y:to_table(), yb:to_table(), b:to_table()
      local out = y:shape()[2]
      for i = 1, #got do assert.near(with_bias[i] - bias[(i - 1) % out + 1], got[i], 1e-5) end
      local dw = zeros(w:shape())
      call(C.rft_linear_backward_params, x, F['small.dy'], 1, dw, nil)
      assert_close(dw, F['small.dw'], 1e-5, 1e-5, 'dw without db')
    end)

    it('on a view of some rows of the batch', function()
      local y = zeros { 1 }
      call(C.rft_linear_forward, F['classifier.x']:view(3, 7), F['classifier.w'], F['classifier.b'], y)
      assert_close(y, F['classifier.y']:view(3, 7), 1e-5, 1e-5, 'rows 3..6')
    end)
  end)

  describe('parameter gradients', function()
    local x, dy, w, b = F['small.x'], F['small.dy'], F['small.w'], F['small.b']

    it('accumulate, scaled', function()
      local dw, db = zeros(w:shape()), zeros(b:shape())
      call(C.rft_linear_backward_params, x, dy, 0.5, dw, db)
      call(C.rft_linear_backward_params, x, dy, 2.5, dw, db)
      local want_w, want_b = F['small.dw']:to_table(), F['small.db']:to_table()
      for i = 1, #want_w do want_w[i] = 3 * want_w[i] end
      for i = 1, #want_b do want_b[i] = 3 * want_b[i] end
      assert_close(dw, rft.from_table(want_w, w:shape()), 2e-5, 1e-5, 'dw after 0.5 + 2.5')
      assert_close(db, rft.from_table(want_b, b:shape()), 2e-5, 1e-5, 'db after 0.5 + 2.5')
    end)

    it('with no input features: y = b, dx empty, dw untouched', function()
      local x, w0, b0 = zeros { 2, 0 }, zeros { 3, 0 }, rft.from_table({ 1, 2, 3 }, { 3 })
      local y, dx = zeros { 1 }, zeros { 1 }
      call(C.rft_linear_forward, x, w0, b0, y)
      assert.same({ 1, 2, 3, 1, 2, 3 }, y:to_table())
      call(C.rft_linear_forward, x, w0, nil, y)
      assert.same({ 0, 0, 0, 0, 0, 0 }, y:to_table())
      call(C.rft_linear_backward_input, x, w0, y, dx)
      assert.same({ 2, 0 }, dx:shape())
    end)

    it('add nothing for an empty batch', function()
      local dw, db = zeros(w:shape()), zeros(b:shape())
      call(C.rft_linear_backward_params, zeros { 0, 5 }, zeros { 0, 4 }, 1, dw, db)
      assert.equal(0, dw:max())
      assert.equal(0, db:min())
    end)
  end)

  it('agrees with central differences', function()
    -- L = sum(y * r), dL/dy = r; each gradient along random directions v against
    -- (L(p + eps v) - L(p - eps v)) / 2 eps.
    local eps = 1e-2
    local function randn(shape, seed) return rft.rand.normal(zeros(shape), { seed = seed }) end
    local x, w, b = randn({ 4, 6 }, 1), randn({ 3, 6 }, 2), randn({ 3 }, 3)
    local r = randn({ 4, 3 }, 4)
    local rt = r:to_table()
    local function loss(xx, ww, bb)
      local y = zeros { 1 }
      call(C.rft_linear_forward, xx, ww, bb, y)
      return dot(y:to_table(), rt)
    end
    local dx, dw, db = zeros { 1 }, zeros(w:shape()), zeros(b:shape())
    call(C.rft_linear_backward_input, x, w, r, dx)
    call(C.rft_linear_backward_params, x, r, 1, dw, db)
    local function along(t, grad, seed, with)
      local v = randn(t:shape(), seed):to_table()
      local p = t:to_table()
      local plus, minus = {}, {}
      for i = 1, #p do plus[i], minus[i] = p[i] + eps * v[i], p[i] - eps * v[i] end
      local numeric = (with(rft.from_table(plus, t:shape())) - with(rft.from_table(minus, t:shape()))) / (2 * eps)
      local analytic = dot(grad:to_table(), v)
      assert(math.abs(numeric - analytic) <= 1e-3 * math.max(1, math.abs(analytic)),
        string.format('numeric %.6g, analytic %.6g', numeric, analytic))
    end
    for seed = 10, 12 do
      along(x, dx, seed, function(xx) return loss(xx, w, b) end)
      along(w, dw, seed + 10, function(ww) return loss(x, ww, b) end)
      along(b, db, seed + 20, function(bb) return loss(x, w, bb) end)
    end
  end)

  describe('rejects bad input, saying what is wrong', function()
    local w = zeros { 4, 5 }
    local y = zeros { 1 }

    it('wrong feature count', function()
      assert.error_matches(function() call(C.rft_linear_forward, zeros { 2, 6 }, w, nil, y) end,
        'linear: input has 6 features, weight expects 5 (input [2,6], weight [4,5])', 1, true)
    end)
    it('wrong dtype', function()
      assert.error_matches(function()
        call(C.rft_linear_forward, zeros { 2, 5 }, rft.tensor { shape = { 4, 5 }, dtype = 'u8' }, nil, y)
      end, 'linear: weight must be f32, got u8', 1, true)
    end)
    it('wrong number of dimensions', function()
      assert.error_matches(function() call(C.rft_linear_forward, zeros { 2, 5, 1, 1 }, w, nil, y) end,
        'linear: input must have 2 dimensions, got [2,5,1,1]', 1, true)
    end)
    it('a bias of the wrong size', function()
      assert.error_matches(function() call(C.rft_linear_forward, zeros { 2, 5 }, w, zeros { 5 }, y) end,
        'linear: bias is [5], expected [4]', 1, true)
    end)
    it('a grad_output of the wrong shape', function()
      assert.error_matches(function()
        call(C.rft_linear_backward_input, zeros { 2, 5 }, w, zeros { 3, 4 }, zeros { 1 })
      end, 'linear: grad_output is [3,4], expected [2,4]', 1, true)
    end)
    it('a grad_weight that does not fit the input', function()
      assert.error_matches(function()
        call(C.rft_linear_backward_params, zeros { 2, 6 }, zeros { 2, 4 }, 1, w, nil)
      end, 'linear: input has 6 features, grad_weight expects 5', 1, true)
    end)
    it('an output that is also an input', function()
      local x = zeros { 4, 4 }
      assert.error_matches(function() call(C.rft_linear_forward, x, zeros { 4, 4 }, nil, x) end,
        'linear: output shares memory with an input', 1, true)
    end)
  end)
end)
