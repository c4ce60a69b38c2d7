-- The CIFAR crop-and-flip augmentation: the identity with pad 0 and no flip, crops checked by hand
-- from the raw Philox words, results that depend only on (seed, image index), flip and offset
-- frequencies, the f32 input path, and bad arguments.
local ffi = require 'ffi'
local rft = require 'rft'
local op = require 'support.opcheck'

local function crop_flip(pad, flip, seed, x, ids)
  local y = op.out()
  op.call('rft_crop_flip', pad, flip, seed, x, ids, y)
  return y
end

local function ids_of(t) return rft.from_table(t, { #t }, 'i32') end

-- a u8 batch of n images (C,H,W) with distinct, asymmetric content
local function images(n, c, h, w, seed)
  local t = rft.tensor { shape = { n, c, h, w }, dtype = 'u8' }
  local p = t:data()
  for i = 0, t:numel() - 1 do p[i] = (i * 37 + (seed or 0) * 11 + math.floor(i / 7)) % 251 end
  return t
end

-- the three words the engine draws for an image: Philox(counter = (0, 0, id, 0), key = (seed, 0))
local words = ffi.new('uint32_t[4]')
local function draws(seed, id, pad)
  rft.C.rft_philox4x32_10(ffi.new('uint32_t[4]', { 0, 0, id, 0 }), ffi.new('uint32_t[2]', { seed, 0 }), words)
  local span = 2 * pad + 1
  return math.floor(tonumber(words[0]) * span / 2 ^ 32) - pad, math.floor(tonumber(words[1]) * span / 2 ^ 32) - pad,
    tonumber(words[2]) >= 2 ^ 31
end

-- y for one image (C,H,W) of x shifted by (oy, ox) and maybe mirrored, zero outside, as a flat table
local function shifted(x, i, oy, ox, flipped, s)
  local _, c, h, w = unpack(x:shape())
  local p, out = x:data(), {}
  for ch = 0, c - 1 do
    for r = 0, h - 1 do
      for col = 0, w - 1 do
        local sr, sc = r + oy, (flipped and w - 1 - col or col) + ox
        local v = 0
        if sr >= 0 and sr < h and sc >= 0 and sc < w then v = p[((i * c + ch) * h + sr) * w + sc] * s end
        out[#out + 1] = v
      end
    end
  end
  return out
end

local function image_of(y, i)
  local n = y:numel() / y:shape()[1]
  local t, p = {}, y:data()
  for k = 0, n - 1 do t[k + 1] = p[i * n + k] end
  return t
end

local function close(a, b)
  if #a ~= #b then return false end
  for k = 1, #a do if math.abs(a[k] - b[k]) > 1e-6 then return false end end
  return true
end

describe('crop_flip', function()
  it('is the u8 -> [0,1] conversion with pad 0 and flip off', function()
    local x = images(3, 3, 5, 6)
    local y = crop_flip(0, 0, 7, x, ids_of { 0, 1, 2 })
    assert.same({ 3, 3, 5, 6 }, y:shape())
    assert.equal('f32', y:dtype())
    assert.same(x:float():to_table(), y:to_table())
  end)

  it('crops and flips where the Philox words of (seed, id) say', function()
    local x = images(6, 2, 5, 7)
    local ids = { 0, 5, 17, 123456, 42, 7 }
    local y = crop_flip(2, 1, 99, x, ids_of(ids))
    for i = 0, 5 do
      local oy, ox, flipped = draws(99, ids[i + 1], 2)
      assert.is_true(close(shifted(x, i, oy, ox, flipped, 1 / 255), image_of(y, i)),
        'image ' .. i .. ' is not the crop at (' .. oy .. ',' .. ox .. ') flipped=' .. tostring(flipped))
    end
  end)

  it('gives one of the (2 pad + 1)^2 crops of the zero-padded image, mirrored or not', function()
    -- by brute force, independent of how the engine draws: 3x3 image of 1..9, pad 1
    local x = rft.from_table({ 1, 2, 3, 4, 5, 6, 7, 8, 9 }, { 1, 1, 3, 3 }, 'u8')
    for id = 0, 30 do
      local got = image_of(crop_flip(1, 1, 3, x, ids_of { id }), 0)
      local found = false
      for oy = -1, 1 do
        for ox = -1, 1 do
          for _, f in ipairs { false, true } do
            found = found or close(shifted(x, 0, oy, ox, f, 1 / 255), got)
          end
        end
      end
      assert.is_true(found, 'id ' .. id .. ' gave something that is not a crop')
    end
  end)

  it('gives an image the same result in any batch and at any position', function()
    local a = images(4, 3, 8, 8, 1)
    local b = images(4, 3, 8, 8, 2)
    -- image 2 of a, dataset index 77, at position 2 of one batch and position 0 of another
    op.call('rft_tensor_copy', b:view(0, 1), a:view(2, 3))
    local ya = crop_flip(4, 1, 5, a, ids_of { 10, 11, 77, 12 })
    local yb = crop_flip(4, 1, 5, b, ids_of { 77, 3, 4, 5 })
    assert.same(image_of(ya, 2), image_of(yb, 0))
    local yc = crop_flip(4, 1, 5, a:view(2, 3), ids_of { 77 })
    assert.same(image_of(ya, 2), image_of(yc, 0))
    -- and a different seed moves it
    local yd = crop_flip(4, 1, 6, a:view(2, 3), ids_of { 77 })
    assert.is_false(close(image_of(ya, 2), image_of(yd, 0)))
  end)

  it('flips about half of the images and uses every offset about equally', function()
    local n, pad = 4000, 2
    local x = rft.tensor { shape = { n, 1, 1, 2 }, dtype = 'u8' }
    local p = x:data()
    for i = 0, n - 1 do p[2 * i], p[2 * i + 1] = 10, 200 end
    local ids = {}
    for i = 1, n do ids[i] = i - 1 end
    local y = crop_flip(0, 1, 1234, x, ids_of(ids)):data()
    local flipped = 0
    for i = 0, n - 1 do if y[2 * i] > y[2 * i + 1] then flipped = flipped + 1 end end
    assert.near(n / 2, flipped, 5 * math.sqrt(n / 4))
    -- offsets through the drawing rule checked above: each of 5 values about n/5 times
    local counts = {}
    for i = 0, n - 1 do
      local oy = draws(1234, i, pad)
      counts[oy] = (counts[oy] or 0) + 1
    end
    for o = -pad, pad do assert.near(n / 5, counts[o] or 0, 5 * math.sqrt(n * 0.16)) end
    -- with flip off nothing is mirrored
    local z = crop_flip(0, 0, 1234, x, ids_of(ids)):data()
    for i = 0, n - 1 do assert(z[2 * i] < z[2 * i + 1], 'image ' .. i .. ' mirrored with flip off') end
  end)

  it('takes f32 input unscaled, with the same crops as u8', function()
    local x = images(5, 3, 6, 6)
    local ids = ids_of { 3, 1, 4, 1, 5 }
    local from_u8 = crop_flip(3, 1, 8, x, ids)
    local from_f32 = crop_flip(3, 1, 8, x:float(), ids)
    assert.same(from_u8:to_table(), from_f32:to_table())
  end)

  it('says what is wrong with bad arguments', function()
    local x = images(2, 1, 4, 4)
    assert.error_matches(function() crop_flip(1, 1, 0, x, ids_of { 0, -3 }) end,
      'crop_flip: ids%[1%] = %-3, expected a dataset index >= 0')
    assert.error_matches(function() crop_flip(1, 1, 0, x, ids_of { 0 }) end,
      'crop_flip: ids has shape %[1%], expected %[2%] %(one per image of input %[2,1,4,4%]%)')
    assert.error_matches(function() crop_flip(1, 1, 0, rft.tensor { shape = { 2, 1, 4, 4 }, dtype = 'i32' }, ids_of { 0, 1 }) end,
      'crop_flip: input must be u8 or f32, got i32')
    assert.error_matches(function() crop_flip(-1, 1, 0, x, ids_of { 0, 1 }) end, 'crop_flip: pad = %-1')
    assert.error_matches(function() crop_flip(1, 2, 0, x, ids_of { 0, 1 }) end, 'crop_flip: flip = 2, expected 0 or 1')
  end)
end)
