-- Cross-entropy and top-k counting: PyTorch's loss and gradient over all rows and over a range of
-- rows, central differences, numerical safety with large logits, and bad labels named by row.
local ffi = require 'ffi'
local rft = require 'rft'
local fx = require 'support.fixture'
local op = require 'support.opcheck'

local loss_box = ffi.new('double[1]')
local count_box = ffi.new('int64_t[1]')

local function ce(logits, labels, row0, row1, scale, dlogits)
  op.call('rft_cross_entropy', logits, labels, row0, row1, scale, loss_box, dlogits)
  return loss_box[0]
end

local function topk(logits, labels, k)
  op.call('rft_topk_correct', logits, labels, k, count_box)
  return tonumber(count_box[0])
end

describe('cross_entropy', function()
  local ref = fx.load('cross_entropy')

  it('matches PyTorch over all rows: loss and gradient', function()
    local d = op.out()
    local loss = ce(ref.logits, ref.labels, 0, 8, 1, d)
    assert.near(ref.loss:to_table()[1], loss, 1e-5)
    fx.assert_close(d, ref.dlogits, 1e-7, 1e-5, 'dlogits')
  end)

  it('matches PyTorch over rows [2, 6), scaled, with zero gradient on the other rows', function()
    local d = rft.tensor { shape = { 8, 5 } }:fill(7)     -- stale values must be overwritten
    local labels = ref.labels:view(2, 6):copy()
    local loss = ce(ref.logits, labels, 2, 6, 0.5, d)
    assert.near(ref.part_loss:to_table()[1], loss, 1e-5)
    fx.assert_close(d, ref.part_dlogits, 1e-7, 1e-5, 'part dlogits')
  end)

  it('matches PyTorch with label smoothing 0.2, and is the plain loss to the bit at 0', function()
    local d = op.out()
    op.call('rft_cross_entropy_smoothed', ref.logits, ref.labels, 0, 8, 0.2, 1, loss_box, d)
    assert.near(ref.ls_loss:to_table()[1], loss_box[0], 1e-5)
    fx.assert_close(d, ref.ls_dlogits, 1e-7, 1e-5, 'smoothed dlogits')
    local d0 = op.out()
    op.call('rft_cross_entropy_smoothed', ref.logits, ref.labels, 0, 8, 0, 1, loss_box, d0)
    local plain = op.out()
    assert.equal(ce(ref.logits, ref.labels, 0, 8, 1, plain), loss_box[0])
    assert.same(plain:to_table(), d0:to_table())
    assert.error_matches(function()
      op.call('rft_cross_entropy_smoothed', ref.logits, ref.labels, 0, 8, 1.5, 1, loss_box, nil)
    end, 'cross_entropy: label smoothing must be in %[0, 1%], got 1.5')
  end)

  it('has the gradient of central differences, with and without label smoothing', function()
    local z = op.randn({ 4, 6 }, 40, 2)
    local labels = rft.from_table({ 0, 5, 2, 2 }, { 4 }, 'i32')
    local d = op.out()
    ce(z, labels, 0, 4, 1, d)
    op.gradcheck('cross_entropy', z, function() return ce(z, labels, 0, 4, 1, nil) end, d, { eps = 1e-2, tol = 1e-3 })
    local part = labels:view(1, 4):copy()            -- rows [1, 4), smoothing 0.3, scale 2
    local function smoothed(dl)
      op.call('rft_cross_entropy_smoothed', z, part, 1, 4, 0.3, 2, loss_box, dl)
      return 2 * loss_box[0]
    end
    smoothed(d)
    op.gradcheck('smoothed cross_entropy', z, function() return smoothed(nil) end, d, { eps = 1e-2, tol = 1e-3 })
  end)

  it('stays finite for large logits and gives log K for equal ones', function()
    local z = rft.from_table({ 1000, -1000, 0, 0, 0, 0 }, { 2, 3 })
    local labels = rft.from_table({ 1, 2 }, { 2 }, 'i32')
    local d = op.out()
    local loss = ce(z, labels, 0, 2, 1, d)
    assert.near((2000 + math.log(3)) / 2, loss, 1e-9)
    for _, v in ipairs(d:to_table()) do assert.is_true(v == v and math.abs(v) <= 0.5) end
  end)

  it('names the row of a bad label and checks the range', function()
    local z = rft.tensor { shape = { 3, 4 } }
    assert.error_matches(function() ce(z, rft.from_table({ 0, 4, 1 }, { 3 }, 'i32'), 0, 3, 1, nil) end,
      'cross_entropy: labels%[1%] = 4 %(row 1 of logits%) is outside 0..3')
    assert.error_matches(function() ce(z, rft.from_table({ -1 }, { 1 }, 'i32'), 2, 3, 1, nil) end,
      'cross_entropy: labels%[0%] = %-1 %(row 2 of logits%)')
    assert.error_matches(function() ce(z, rft.from_table({ 0, 1 }, { 2 }, 'i32'), 0, 3, 1, nil) end,
      'cross_entropy: labels has shape %[2%], expected %[3%]')
    assert.error_matches(function() ce(z, rft.from_table({ 0 }, { 1 }, 'i32'), 2, 4, 1, nil) end,
      'cross_entropy: rows %[2, 4%) are not a non%-empty range of the 3 rows')
    assert.error_matches(function() ce(z, rft.from_table({ 0, 1, 2 }, { 3 }), 0, 3, 1, nil) end,
      'cross_entropy: labels must be i32, got f32')
  end)
end)

describe('topk_correct', function()
  local z = rft.from_table({
    0.1, 0.5, 0.2, 0.9,    -- order 3, 1, 2, 0
    3.0, 1.0, 2.0, 0.0,    -- order 0, 2, 1, 3
    1.0, 1.0, 0.0, 0.0,    -- tie between 0 and 1
  }, { 3, 4 })

  it('counts rows whose label is among the k largest logits', function()
    local labels = rft.from_table({ 3, 2, 1 }, { 3 }, 'i32')
    assert.equal(2, topk(z, labels, 1))     -- row 1's label 2 is second
    assert.equal(3, topk(z, labels, 2))
    assert.equal(0, topk(z, rft.from_table({ 0, 3, 3 }, { 3 }, 'i32'), 2))
    assert.equal(3, topk(z, rft.from_table({ 0, 3, 3 }, { 3 }, 'i32'), 4))
  end)

  it('counts a tie for the top as correct', function()
    assert.equal(1, topk(z:view(2, 3), rft.from_table({ 0 }, { 1 }, 'i32'), 1))
    assert.equal(1, topk(z:view(2, 3), rft.from_table({ 1 }, { 1 }, 'i32'), 1))
  end)

  it('names the row of a bad label and refuses k outside 1..K', function()
    assert.error_matches(function() topk(z, rft.from_table({ 0, 9, 0 }, { 3 }, 'i32'), 1) end,
      'topk_correct: labels%[1%] = 9 %(row 1%) is outside 0..3')
    assert.error_matches(function() topk(z, rft.from_table({ 0, 0, 0 }, { 3 }, 'i32'), 5) end,
      'topk_correct: k = 5, expected 1 <= k <= 4')
  end)
end)

describe('deferred metrics', function()
  it('add the losses and counts of deferred calls until a take, which starts them again', function()
    rft.loss.take_metrics('cpu')
    local z = rft.from_table({ 1, 2, 3, 0, 5, -1, 2, 2, 2, 9, 0, 1 }, { 4, 3 })
    local labels = rft.from_table({ 2, 0, 1, 0 }, { 4 }, 'i32')
    local l1 = rft.loss.cross_entropy(z, labels)
    local l2 = rft.loss.cross_entropy(z, labels:view(1, 3), { from = 1, to = 3 })
    local c1 = rft.loss.count_correct(z, labels)
    assert.is_nil((rft.loss.cross_entropy(z, labels, { deferred = true })))
    assert.is_nil((rft.loss.cross_entropy(z, labels:view(1, 3), { from = 1, to = 3, scale = 3, deferred = true })))
    assert.is_nil(rft.loss.count_correct(z, labels, { deferred = true }))
    assert.is_nil(rft.loss.count_correct(z, labels, { deferred = true }))
    local loss, count = rft.loss.take_metrics('cpu')
    assert.equal(l1 + l2, loss)                      -- the unscaled losses, summed in the same order
    assert.equal(2 * c1, count)
    loss, count = rft.loss.take_metrics('cpu')
    assert.equal(0, loss); assert.equal(0, count)
    assert.error_matches(function() rft.loss.take_metrics('gpu') end, "device must be 'cpu' or 'cuda', got gpu")
  end)
end)

describe('argmax_rows', function()
  it('gives the predicted class of each row, the first maximum on ties', function()
    local z = rft.from_table({ 0.1, 0.5, 0.2, 0.9, 3.0, 1.0, 2.0, 0.0, 1.0, 1.0, 0.0, 0.0 }, { 3, 4 })
    local pred = rft.tensor { shape = { 0 }, dtype = 'i32' }
    op.call('rft_argmax_rows', z, pred)
    assert.same({ 3, 0, 0 }, pred:to_table())
    assert.error_matches(op.calling('rft_argmax_rows', z, rft.tensor { shape = { 3 } }),
      'argmax_rows: pred must be i32, got f32')
  end)
end)
