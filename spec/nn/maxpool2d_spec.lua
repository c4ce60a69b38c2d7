-- Max pooling: PyTorch's values and indices (ties included), the routed gradient against PyTorch
-- and against central differences, output sizes, and bad arguments.
local ffi = require 'ffi'
local rft = require 'rft'
local fx = require 'support.fixture'
local op = require 'support.opcheck'

local function args(kh, kw, sh, sw, ph, pw)
  return ffi.new('rft_pool2d_args', { kh, kw, sh, sw, ph or 0, pw or 0 })
end

local cases = {
  k2s2 = args(2, 2, 2, 2, 0, 0),
  k3s2p1 = args(3, 3, 2, 2, 1, 1),
  k3x2 = args(3, 2, 2, 1, 1, 1),
  ties = args(3, 3, 1, 1, 1, 1),
}

describe('maxpool2d', function()
  local ref = fx.load('maxpool2d')

  for name, a in pairs(cases) do
    it('matches PyTorch (' .. name .. '): values, indices and gradient', function()
      local x = ref[name .. '.x']
      local y, argmax, dx = op.out(), op.out('i32'), op.out()
      op.call('rft_maxpool2d_forward', a, x, y, argmax)
      fx.assert_close(y, ref[name .. '.y'], 0, 0, name .. ' y')
      assert.same(ref[name .. '.argmax']:to_table(), argmax:to_table())
      op.call('rft_maxpool2d_backward', a, x, argmax, ref[name .. '.dy'], dx)
      fx.assert_close(dx, ref[name .. '.dx'], 1e-6, 1e-6, name .. ' dx')
    end)
  end

  it('never selects padding, even when every real value is negative', function()
    local x = rft.from_table({ -5, -4, -3, -2 }, { 1, 1, 2, 2 })
    local y, argmax = op.out(), op.out('i32')
    op.call('rft_maxpool2d_forward', args(2, 2, 1, 1, 1, 1), x, y, argmax)
    assert.same({ 1, 1, 3, 3 }, y:shape())
    assert.same({ -5, -4, -4, -3, -2, -2, -3, -2, -2 }, y:to_table())
    assert.same({ 0, 1, 1, 2, 3, 3, 2, 3, 3 }, argmax:to_table())
  end)

  it('takes the first maximum on ties', function()
    local x = rft.from_table({ 1, 7, 7, 7 }, { 1, 1, 2, 2 })
    local y, argmax = op.out(), op.out('i32')
    op.call('rft_maxpool2d_forward', args(2, 2, 2, 2), x, y, argmax)
    assert.same({ 1 }, argmax:to_table())
  end)

  it('2x2 stride 2 (the vectorised path): first maximum and NaN win, as a plain reference says, odd sizes', function()
    -- values from {-1, 0, 1} so that most windows hold ties, and a NaN now and then
    local n, c, h, w = 2, 3, 7, 37
    local x = rft.tensor { shape = { n, c, h, w } }
    local p = x:data()
    for i = 0, x:numel() - 1 do p[i] = (i * 7919) % 23 == 0 and 0 / 0 or ((i * 2654435761) % 7) % 3 - 1 end
    local y, argmax = op.out(), op.out('i32')
    op.call('rft_maxpool2d_forward', args(2, 2, 2, 2), x, y, argmax)
    local oh, ow = math.floor(h / 2), math.floor(w / 2)
    assert.same({ n, c, oh, ow }, y:shape())
    local yv, iv = y:data(), argmax:data()
    for plane = 0, n * c - 1 do
      for i = 0, oh - 1 do
        for j = 0, ow - 1 do
          local best, at
          for _, uv in ipairs { { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } } do   -- row-major window order
            local k = (2 * i + uv[1]) * w + 2 * j + uv[2]
            local v = p[plane * h * w + k]
            if best == nil or v > best or (v ~= v and best == best) then best, at = v, k end
          end
          local o = plane * oh * ow + i * ow + j
          assert.equal(at, iv[o], string.format('argmax of plane %d window (%d,%d)', plane, i, j))
          if best ~= best then assert.is_true(yv[o] ~= yv[o]) else assert.equal(best, yv[o]) end
        end
      end
    end
  end)

  it('has the gradient of central differences (inputs without near-ties)', function()
    -- a shuffled ramp: all values at least 0.05 apart, so a 1e-2 step never changes a maximum
    local n = 2 * 3 * 6 * 7
    local perm = rft.rand.permutation(n, { seed = 5 }):to_table()
    local vals = {}
    for i = 1, n do vals[i] = perm[i] * 0.05 - 10 end
    local x = rft.from_table(vals, { 2, 3, 6, 7 })
    local r = op.randn({ 2, 3, 3, 4 }, 6)
    local a = args(3, 2, 2, 2, 1, 1)
    local y, argmax, dx = op.out(), op.out('i32'), op.out()
    local function loss() op.call('rft_maxpool2d_forward', a, x, y, argmax); return op.dot(y, r) end
    loss()
    assert.same({ 2, 3, 3, 4 }, y:shape())
    op.call('rft_maxpool2d_backward', a, x, argmax, r, dx)
    op.gradcheck('maxpool2d', x, loss, dx, { eps = 1e-2, tol = 1e-3 })
  end)

  it('says what is wrong with bad arguments', function()
    local x = rft.tensor { shape = { 1, 1, 4, 4 } }
    assert.error_matches(op.calling('rft_maxpool2d_forward', args(2, 2, 2, 2), rft.tensor { shape = { 4, 4 } },
      op.out(), op.out('i32')), 'maxpool2d: input must be %(N,C,H,W%), got %[4,4%]')
    assert.error_matches(op.calling('rft_maxpool2d_forward', args(2, 2, 2, 2, 2, 0), x, op.out(), op.out('i32')),
      'maxpool2d: padding 2x0 must be between 0 and half the kernel 2x2')
    assert.error_matches(op.calling('rft_maxpool2d_forward', args(5, 5, 1, 1), x, op.out(), op.out('i32')),
      'maxpool2d: kernel 5x5 is larger than the padded input 4x4')
    assert.error_matches(op.calling('rft_maxpool2d_forward', args(2, 2, 2, 2), x, op.out(), op.out()),
      'maxpool2d: argmax must be i32, got f32')
    local y, argmax = op.out(), op.out('i32')
    op.call('rft_maxpool2d_forward', args(2, 2, 2, 2), x, y, argmax)
    assert.error_matches(op.calling('rft_maxpool2d_backward', args(2, 2, 2, 2), x, argmax,
      rft.tensor { shape = { 1, 1, 3, 2 } }, op.out()),
      'maxpool2d_backward: dy has shape %[1,1,3,2%], expected %[1,1,2,2%]')
    argmax:data()[0] = 99
    assert.error_matches(op.calling('rft_maxpool2d_backward', args(2, 2, 2, 2), x, argmax, y, op.out()),
      'maxpool2d_backward: argmax element 0 is 99, outside the plane of 16 elements')
  end)
end)
