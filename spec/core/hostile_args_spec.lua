-- Careless arguments at the Lua surface: each is refused before the FFI sees it, in one line that
-- names the argument and what was expected (an int field given 2^31 would wrap to -2^31; a string
-- given to a uint64 parameter gave LuaJIT's raw conversion message).
local rft = require 'rft'

describe('careless arguments', function()
  it('view: row indices must be whole numbers', function()
    local t = rft.tensor { shape = { 4, 2 } }
    assert.error_matches(function() t:view(0.5, 2) end, '^view: i = 0.5 is not a whole row index')
    assert.error_matches(function() t:view(0, 1.5) end, 'view: j = 1.5 is not a whole row index')
    assert.error_matches(function() t:view('a') end, 'view: i = a is not a whole row index')
    assert.same({ 2, 2 }, t:view(1, 3):shape())
  end)

  it('from_table: every value a number, whole and in range for u8 and i32', function()
    assert.error_matches(function() rft.from_table({ 1, 'x', 3 }) end,
      'rft.from_table: values%[2%] is a string %(x%), expected a number')
    assert.error_matches(function() rft.from_table({ 1, true }) end, 'values%[2%] is a boolean')
    assert.error_matches(function() rft.from_table({ 300 }, { 1 }, 'u8') end,
      'values%[1%] = 300 is not a whole number in 0%.%.255 %(dtype u8%)')
    assert.error_matches(function() rft.from_table({ 1.5 }, { 1 }, 'i32') end, 'values%[1%] = 1.5 is not a whole number')
    assert.error_matches(function() rft.from_table('abc') end, 'values must be a table of numbers, got string')
    assert.same({ 0, 255 }, rft.from_table({ 0, 255 }, { 2 }, 'u8'):to_table())
  end)

  it('fill: the value must be a number', function()
    assert.error_matches(function() rft.tensor { shape = { 2 } }:fill('1') end, 'fill: value is a string, expected a number')
  end)

  it('nn.Conv2d: sizes beyond int are reported as given, not wrapped', function()
    assert.error_matches(function() rft.nn.Conv2d { cin = 1, cout = 1, k = 3, pad = 2 ^ 31 } end,
      'nn.Conv2d: pad = 2147483648 is not a whole number in 0%.%.2147483647')
    assert.error_matches(function() rft.nn.Conv2d { cin = 1, cout = 1, k = 3, stride = 0.5 } end,
      'nn.Conv2d: stride = 0.5 is not a whole number')
  end)

  it('reset(seed): the seed must be a whole number from 0 to 2^53 - 1; the stream defaults to 0', function()
    local c = rft.nn.Conv2d { cin = 1, cout = 2, k = 3 }
    for _, bad in ipairs { "'abc'", '-1', '0.5', '2^70' } do
      local seed = assert(loadstring('return ' .. bad))()
      assert.error_matches(function() c:reset(seed) end, '^nn.Conv2d:reset: seed = .* is not a whole number in 0%.%.9007199254740991')
    end
    assert.error_matches(function() rft.nn.Linear { cin = 2, cout = 2 }:reset(nil) end, 'nn.Linear:reset: seed = nil')
    c:reset(7)
    local a = c.weight:to_table()
    c:reset(7, 0)
    assert.same(a, c.weight:to_table())
  end)
end)

describe('NaN inputs to the losses', function()
  -- Choice (rft.h, rft_cross_entropy): not an error but the quiet NaN, as PyTorch answers; the
  -- training loop stops on it naming the epoch, batch and learning rate, and t:nonfinite() names
  -- the element for a direct caller.
  it('cross_entropy of NaN logits is the quiet NaN, and nonfinite() names the logit', function()
    local z = rft.from_table({ 1, 2, 0 / 0, 4 }, { 2, 2 })
    local loss, g = rft.loss.cross_entropy(z, rft.from_table({ 0, 1 }, { 2 }, 'i32'))
    assert.is_true(loss ~= loss)
    assert.equal(2, (z:nonfinite()))
    assert.is_nil(rft.from_table({ 1, 2 }):nonfinite())
    assert.is_true(g:view(1, 2):max() ~= g:view(1, 2):max())
  end)

  it('fma of a NaN map is the quiet NaN, and per_layer names the layer', function()
    local f = rft.from_table({ 1, 2, 0 / 0, 4, 1, 2, 1, 4 }, { 4, 2 })
    local loss, _, per = rft.loss.fma({ { name = 'relu1', tensor = f } }, { gamma = 1 })
    assert.is_true(loss ~= loss)
    assert.is_true(per.relu1 ~= per.relu1)
  end)
end)
