-- Whole-tensor helpers: y += alpha x, y *= alpha, and gathering rows by index, with their errors.
local rft = require 'rft'
local op = require 'support.opcheck'

describe('axpy and scale', function()
  it('adds alpha x to y across shapes of the same element count', function()
    local y = rft.from_table({ 1, 2, 3, 4 }, { 2, 2 })
    op.call('rft_tensor_axpy', 0.5, rft.from_table({ 2, 4, 6, 8 }, { 4 }), y)
    assert.same({ 2, 4, 6, 8 }, y:to_table())
  end)

  it('agrees with a Lua loop on a large tensor (several threads)', function()
    local x, y = op.randn({ 300001 }, 1), op.randn({ 300001 }, 2)
    local x0, y0 = x:to_table(), y:to_table()
    op.call('rft_tensor_axpy', -1.5, x, y)
    local p = y:data()
    for i = 0, 300000, 1013 do assert.near(y0[i + 1] - 1.5 * x0[i + 1], p[i], 1e-5) end
  end)

  it('scales in place', function()
    local y = rft.from_table({ 1, -2, 3 }, { 3 })
    op.call('rft_tensor_scale', y, -2)
    assert.same({ -2, 4, -6 }, y:to_table())
  end)

  it('names the argument that is wrong', function()
    assert.error_matches(op.calling('rft_tensor_axpy', 1, rft.tensor { shape = { 3 } }, rft.tensor { shape = { 4 } }),
      'axpy: x %[3%] has 3 elements, y %[4%] has 4')
    assert.error_matches(op.calling('rft_tensor_axpy', 1, rft.tensor { shape = { 3 }, dtype = 'u8' }, rft.tensor { shape = { 3 } }),
      'axpy: x must be f32, got u8')
    assert.error_matches(op.calling('rft_tensor_scale', rft.tensor { shape = { 3 }, dtype = 'i32' }, 2),
      'scale: y must be f32, got i32')
  end)
end)

describe('gather', function()
  it('takes whole rows by index, repeats allowed, for any dtype', function()
    local src = rft.from_table({ 1, 2, 3, 4, 5, 6, 7, 8 }, { 4, 1, 2 }, 'u8')
    local out = op.out('u8')
    op.call('rft_tensor_gather', src, rft.from_table({ 3, 0, 3 }, { 3 }, 'i32'), out)
    assert.same({ 3, 1, 2 }, out:shape())
    assert.same({ 7, 8, 1, 2, 7, 8 }, out:to_table())
    local labels = rft.from_table({ 9, 8, 7 }, { 3 }, 'i32')
    local l = op.out('i32')
    op.call('rft_tensor_gather', labels, rft.from_table({ 2, 1 }, { 2 }, 'i32'), l)
    assert.same({ 7, 8 }, l:to_table())
  end)

  it('names an index outside the rows and leaves out alone', function()
    local src = rft.from_table({ 1, 2, 3 }, { 3 })
    local out = rft.from_table({ 5, 5 }, { 2 })
    assert.error_matches(op.calling('rft_tensor_gather', src, rft.from_table({ 0, 3 }, { 2 }, 'i32'), out),
      'gather: idx%[1%] = 3 is outside the 3 rows of src %[3%]')
    assert.same({ 5, 5 }, out:to_table())
    assert.error_matches(op.calling('rft_tensor_gather', src, rft.from_table({ 0 }, { 1 }, 'i32'), op.out('u8')),
      'gather: out must be f32, got u8')
    assert.error_matches(op.calling('rft_tensor_gather', src, rft.from_table({ 0 }, { 1 }), op.out()),
      'gather: idx must be i32, got f32')
  end)
end)
