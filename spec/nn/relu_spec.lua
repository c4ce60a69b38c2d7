-- ReLU: values, in-place use, the gradient from the output (finite differences away from 0), and
-- bad arguments.
local rft = require 'rft'
local op = require 'support.opcheck'

describe('relu', function()
  it('keeps positive values and zeroes negative ones', function()
    local x = rft.from_table({ -2, -0.5, 0, 0.5, 3, -1 }, { 2, 3 })
    local y = op.out()
    op.call('rft_relu_forward', x, y)
    assert.same({ 2, 3 }, y:shape())
    assert.same({ 0, 0, 0, 0.5, 3, 0 }, y:to_table())
  end)

  it('runs in place', function()
    local x = rft.from_table({ -1, 2, -3, 4 }, { 4 })
    op.call('rft_relu_forward', x, x)
    assert.same({ 0, 2, 0, 4 }, x:to_table())
  end)

  it('passes the gradient where the output is positive, in place on dy too', function()
    local y = rft.from_table({ 0, 1.5, 0, 2 }, { 2, 2 })
    local dy = rft.from_table({ 10, 20, 30, 40 }, { 2, 2 })
    local dx = op.out()
    op.call('rft_relu_backward', y, dy, dx)
    assert.same({ 0, 20, 0, 40 }, dx:to_table())
    op.call('rft_relu_backward', y, dy, dy)
    assert.same({ 0, 20, 0, 40 }, dy:to_table())
  end)

  it('adds a tap gradient in its own pass, bit for bit as the sum then the backward, in place on dy too', function()
    local y = op.randn({ 2, 3, 4, 5 }, 5)
    op.call('rft_relu_forward', y, y)                 -- an output: zeros where the input was negative
    local dy, extra = op.randn({ 2, 3, 4, 5 }, 6), op.randn({ 2, 3, 4, 5 }, 7, 1e-3)
    local sum = dy:copy()
    assert.equal(0, rft.C.rft_tensor_axpy(1, extra, sum))
    local want, got = op.out(), op.out()
    op.call('rft_relu_backward', y, sum, want)         -- the unfused reference: (dy + extra) * [y > 0]
    op.call('rft_relu_backward_add', y, dy, extra, got)
    assert.same(want:to_table(), got:to_table())
    op.call('rft_relu_backward_add', y, dy, extra, dy)
    assert.same(want:to_table(), dy:to_table())
    assert.error_matches(op.calling('rft_relu_backward_add', y, dy, extra, extra),
      'relu_backward_add: dx must not be extra')
    assert.error_matches(op.calling('rft_relu_backward_add', y, dy, rft.tensor { shape = { 3 } }, op.out()),
      'relu_backward_add: extra has shape %[3%], expected %[2,3,4,5%] like the output y')
  end)

  it('has the gradient of central differences (inputs kept away from 0)', function()
    local x = op.randn({ 2, 3, 4, 5 }, 3)
    local p = x:data()
    for i = 0, x:numel() - 1 do if math.abs(p[i]) < 0.1 then p[i] = p[i] < 0 and -0.1 or 0.1 end end
    local r = op.randn({ 2, 3, 4, 5 }, 4)
    local y, dx = op.out(), op.out()
    local function loss() op.call('rft_relu_forward', x, y); return op.dot(y, r) end
    loss()
    op.call('rft_relu_backward', y, r, dx)
    op.gradcheck('relu', x, loss, dx, { eps = 1e-2, tol = 1e-3 })
  end)

  it('propagates NaN in the forward', function()
    local x = rft.from_table({ 0 / 0, -1 }, { 2 })
    local y = op.out()
    op.call('rft_relu_forward', x, y)
    local t = y:to_table()
    assert.is_true(t[1] ~= t[1])
    assert.equal(0, t[2])
  end)

  it('names the argument that is wrong', function()
    local x = rft.tensor { shape = { 2, 2 } }
    assert.error_matches(op.calling('rft_relu_forward', rft.tensor { shape = { 2 }, dtype = 'u8' }, op.out()),
      'relu: input must be f32, got u8 %[2%]')
    assert.error_matches(op.calling('rft_relu_forward', x, op.out('i32')), 'relu: output must be f32, got i32')
    assert.error_matches(op.calling('rft_relu_backward', x, rft.tensor { shape = { 4 } }, op.out()),
      'relu_backward: dy has shape %[4%], expected %[2,2%] like the output y')
    assert.error_matches(op.calling('rft_relu_forward', nil, op.out()), 'relu: input is missing')
  end)
end)
