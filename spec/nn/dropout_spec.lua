-- Dropout: the keep rate and the 1/(1-p) scaling, masks that depend only on (seed, stream, offset),
-- the backward through the mask (also against central differences), edge values of p, bad arguments.
local ffi = require 'ffi'
local rft = require 'rft'
local op = require 'support.opcheck'

local function bytes(t) return ffi.string(ffi.cast('const char *', t:data()), t:numel()) end

describe('dropout', function()
  it('keeps about 1 - p of the elements and scales them by 1/(1-p)', function()
    local n, p = 200000, 0.3
    local x = rft.tensor { shape = { n } }:fill(2)
    local y, mask = op.out(), op.out('u8')
    op.call('rft_dropout_forward', p, 11, 0, 0, x, y, mask)
    local yp, mp, kept = y:data(), mask:data(), 0
    for i = 0, n - 1 do
      if mp[i] == 1 then
        kept = kept + 1
        assert(math.abs(yp[i] - 2 / 0.7) < 1e-6, 'kept element ' .. i .. ' is ' .. yp[i])
      else
        assert(mp[i] == 0 and yp[i] == 0, 'dropped element ' .. i)
      end
    end
    -- binomial: sd = sqrt(n p (1-p)) ~ 205; allow 5 sd
    assert.near(0.7 * n, kept, 5 * math.sqrt(n * 0.21))
  end)

  it('draws the mask rand_bernoulli(1 - p) would, at position offset + k', function()
    local x = op.randn({ 3, 5, 7 }, 1)
    local y, mask = op.out(), op.out('u8')
    op.call('rft_dropout_forward', 0.5, 9, 4, 13, x, y, mask)
    local want = rft.rand.bernoulli(rft.tensor { shape = { 3, 5, 7 }, dtype = 'u8' }, { seed = 9, stream = 4, offset = 13, p = 0.5 })
    assert.equal(bytes(want), bytes(mask))
    -- a piece at its own offset gives the same bits as the whole
    local part, pmask = op.out(), op.out('u8')
    op.call('rft_dropout_forward', 0.5, 9, 4, 13 + 35, x:view(1, 3), part, pmask)
    assert.equal(bytes(mask):sub(36), bytes(pmask))
  end)

  it('repeats for one (seed, stream, offset) and changes with each', function()
    local x = op.randn({ 1000 }, 2)
    local function mask_of(seed, stream, offset)
      local y, m = op.out(), op.out('u8')
      op.call('rft_dropout_forward', 0.5, seed, stream, offset, x, y, m)
      return bytes(m)
    end
    local a = mask_of(1, 0, 0)
    assert.equal(a, mask_of(1, 0, 0))
    assert.not_equal(a, mask_of(2, 0, 0))
    assert.not_equal(a, mask_of(1, 1, 0))
    assert.not_equal(a, mask_of(1, 0, 1000))
  end)

  it('runs the backward as dy * mask / (1 - p), in place too', function()
    local mask = rft.from_table({ 1, 0, 1, 1 }, { 4 }, 'u8')
    local dy = rft.from_table({ 1, 2, 3, 4 }, { 4 })
    local dx = op.out()
    op.call('rft_dropout_backward', 0.75, mask, dy, dx)
    assert.same({ 4, 0, 12, 16 }, dx:to_table())
    op.call('rft_dropout_backward', 0.75, mask, dy, dy)
    assert.same({ 4, 0, 12, 16 }, dy:to_table())
  end)

  it('has the gradient of central differences for a fixed mask', function()
    local x = op.randn({ 4, 6 }, 3)
    local r = op.randn({ 4, 6 }, 4)
    local y, mask, dx = op.out(), op.out('u8'), op.out()
    local function loss() op.call('rft_dropout_forward', 0.4, 5, 0, 0, x, y, mask); return op.dot(y, r) end
    loss()
    op.call('rft_dropout_backward', 0.4, mask, r, dx)
    op.gradcheck('dropout', x, loss, dx, { eps = 1e-2, tol = 1e-3 })
  end)

  it('is the identity for p = 0 and zero for p = 1', function()
    local x = op.randn({ 100 }, 6)
    local y, mask = op.out(), op.out('u8')
    op.call('rft_dropout_forward', 0, 1, 0, 0, x, y, mask)
    assert.same(x:to_table(), y:to_table())
    op.call('rft_dropout_forward', 1, 1, 0, 0, x, y, mask)
    assert.equal(0, y:min()); assert.equal(0, y:max()); assert.equal(0, mask:max())
  end)

  it('says what is wrong with bad arguments', function()
    local x = rft.tensor { shape = { 4 } }
    assert.error_matches(op.calling('rft_dropout_forward', 1.5, 1, 0, 0, x, op.out(), op.out('u8')),
      'dropout: p = 1.5, expected 0 <= p <= 1')
    assert.error_matches(op.calling('rft_dropout_forward', 0.5, 1, 0, 0, x, op.out(), op.out()),
      'dropout: mask must be u8, got f32')
    assert.error_matches(op.calling('rft_dropout_backward', 0.5, rft.tensor { shape = { 3 }, dtype = 'u8' }, x, op.out()),
      'dropout_backward: dy has shape %[4%], expected %[3%] like the mask')
  end)
end)
