-- Affine warp (inverse map, bilinear, border modes), horizontal flip and crop-with-padding shifts,
-- each against its formula on small hand-made images.
local ffi = require 'ffi'
local rft = require 'rft'
local U = require 'aug.util'
local C = rft.C

local function affine(theta, x, border)
  local y = rft.tensor { shape = { 1 } }
  local rc = C.rft_aug_affine(border or C.RFT_BORDER_REPLICATE, theta, x, y)
  if rc ~= 0 then error(ffi.string(C.rft_last_error()), 2) end
  return y
end

describe('affine warp', function()
  it('is the identity for the identity matrix', function()
    local x = U.batch { 2, 3, 5, 7 }
    assert.is_true(U.bits_equal(x, affine(rft.from_table({ 1, 0, 0, 0, 1, 0 }, { 1, 2, 3 }), x)))
  end)

  it('turns a square image a quarter turn exactly with an integer matrix', function()
    local shape = { 1, 2, 4, 4 }
    local x = U.batch(shape, 3)
    -- output (u, v) reads input (-v + 3, u): y[c][v][u] = x[c][u][3 - v]
    local y = affine(rft.from_table({ 0, -1, 3, 1, 0, 0 }, { 1, 2, 3 }), x)
    local xs, ys, want = x:to_table(), y:to_table(), {}
    for c = 0, 1 do for v = 0, 3 do for u = 0, 3 do want[#want + 1] = U.at(xs, shape, 0, c, u, 3 - v) end end end
    U.close(ys, want, 0, 'quarter turn')
  end)

  it('interpolates bilinearly and replicates edges (half-pixel shift, one matrix per image)', function()
    local shape = { 2, 1, 3, 4 }
    local x = U.batch(shape, 5)
    local theta = rft.from_table({ 1, 0, 0.5, 0, 1, 0, 1, 0, -0.25, 0, 1, 0.75 }, { 2, 2, 3 })
    local y = affine(theta, x)
    local xs, want = x:to_table(), {}
    local function px(n, h, w)
      h = math.max(0, math.min(2, h)); w = math.max(0, math.min(3, w))
      return U.at(xs, shape, n, 0, h, w)
    end
    local function bil(n, xx, yy)
      local x0, y0 = math.floor(xx), math.floor(yy)
      local ax, ay = xx - x0, yy - y0
      local top = px(n, y0, x0) + ax * (px(n, y0, x0 + 1) - px(n, y0, x0))
      local bot = px(n, y0 + 1, x0) + ax * (px(n, y0 + 1, x0 + 1) - px(n, y0 + 1, x0))
      return top + ay * (bot - top)
    end
    for n = 0, 1 do
      for v = 0, 2 do
        for u = 0, 3 do
          want[#want + 1] = n == 0 and bil(0, u + 0.5, v) or bil(1, u - 0.25, v + 0.75)
        end
      end
    end
    U.close(y:to_table(), want, 1e-6, 'bilinear')
  end)

  it('reads the nearest edge pixel however far outside the source position falls (replicate)', function()
    local shape = { 1, 2, 3, 4 }
    local x = U.batch(shape, 9)
    local y = affine(rft.from_table({ 1, 0, 1e9, 0, 1, -1e9 }, { 1, 2, 3 }), x)
    local xs, want = x:to_table(), {}
    for c = 0, 1 do for _ = 1, 12 do want[#want + 1] = U.at(xs, shape, 0, c, 0, 3) end end
    U.close(y:to_table(), want, 0, 'far outside')
  end)

  it('reads zeros outside with the constant border', function()
    local x = rft.tensor { shape = { 1, 1, 2, 2 } }:fill(1)
    local y = affine(rft.from_table({ 1, 0, 1, 0, 1, 0 }, { 1, 2, 3 }), x, C.RFT_BORDER_CONSTANT)
    U.close(y:to_table(), { 1, 0, 1, 0 }, 0)
  end)

  it('builds matrices about the centre: pure rotation keeps the centre, zoom 2 reads twice as far', function()
    local m = rft.aug.affine_matrix(30, 0, 0, 0, 1, 1, 9, 9)
    assert.near(4, m[1] * 4 + m[2] * 4 + m[3], 1e-9)
    assert.near(4, m[4] * 4 + m[5] * 4 + m[6], 1e-9)
    local z = rft.aug.affine_matrix(0, 0, 0, 0, 2, 2, 9, 9)
    assert.near(8, z[1] * 6 + z[3], 1e-9)        -- output column 6 reads column 4 + 2·2
    local t = rft.aug.affine_matrix(0, 0.1, 0, 0, 1, 1, 9, 10)
    assert.near(1, t[3], 1e-9)                   -- 10 % of a 10-pixel width
  end)

  it('refuses a matrix of the wrong shape and an output that is the input', function()
    local x = U.batch { 2, 1, 3, 3 }
    assert.error_matches(function() affine(rft.tensor { shape = { 3, 2, 3 } }, x) end,
                         'aug_affine: theta must be %[2,2,3%] %(one matrix per image%) or %[1,2,3%], got %[3,2,3%]')
    assert.equal(C.RFT_EARG, C.rft_aug_affine(2, rft.tensor { shape = { 1, 2, 3 } }, x, x))
    assert.matches('aug_affine: y must not be x', ffi.string(C.rft_last_error()))
  end)
end)

describe('horizontal flip', function()
  it('mirrors the images whose flip value is not 0 and copies the others', function()
    local x = rft.from_table({ 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6 }, { 2, 1, 2, 3 })
    local y = rft.aug.hflip { flip = U.vals { 1, 0 } }:apply(x)
    U.close(y:to_table(), { 0.3, 0.2, 0.1, 0.6, 0.5, 0.4, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6 }, 1e-7)
  end)

  it('gives the same values out of place (vector path) and in place (scalar path)', function()
    local x = U.batch({ 4, 3, 5, 8 }, 7)
    local flip = U.vals { 1, 0, 1, 1 }
    local out = rft.aug.hflip { flip = flip }:apply(x)
    local y = x:copy()
    assert.equal(0, rft.C.rft_aug_hflip(flip, y, y))
    assert.is_true(U.bits_equal(out, y))
  end)

  it('flips about half of the images with p = 0.5', function()
    local n = 400
    local x = U.batch({ n, 1, 1, 2 }, 4)
    local y = rft.aug.hflip { p = 0.5 }:apply(x, { seed = 2 })
    local xs, ys, flipped = x:to_table(), y:to_table(), 0
    for i = 0, n - 1 do if ys[2 * i + 1] == xs[2 * i + 2] then flipped = flipped + 1 end end
    assert.near(n / 2, flipped, 5 * math.sqrt(n / 4))
  end)
end)

describe('crop with padding', function()
  it('shifts each image by whole pixels with zeros outside (dx, dy per image)', function()
    local shape = { 2, 1, 3, 4 }
    local x = U.batch(shape, 6)
    local y = rft.aug.crop { dx = U.vals { 1, -2 }, dy = U.vals { -1, 2 } }:apply(x)
    local xs, want = x:to_table(), {}
    local d = { { 1, -1 }, { -2, 2 } }
    for n = 0, 1 do
      for h = 0, 2 do
        for w = 0, 3 do
          local hh, ww = h + d[n + 1][2], w + d[n + 1][1]
          want[#want + 1] = (hh >= 0 and hh < 3 and ww >= 0 and ww < 4) and U.at(xs, shape, n, 0, hh, ww) or 0
        end
      end
    end
    U.close(y:to_table(), want, 0, 'crop')
  end)

  it('draws shifts in -pad..pad', function()
    local p = rft.aug.crop { pad = 4 }
    local lo, hi = p.params.dx:range()
    assert.same({ -4, 4 }, { lo, hi })
    local d = p.params.dx:draw(0, 1, nil, 2000)
    local seen = {}
    for _, v in ipairs(d:to_table()) do seen[v] = true; assert.is_true(v >= -4 and v <= 4 and v % 1 == 0) end
    for v = -4, 4 do assert.is_true(seen[v], 'shift ' .. v .. ' never drawn') end
  end)

  it('refuses shifts that are not whole numbers', function()
    assert.error_matches(function() rft.aug.crop { dx = 0.5, dy = 0 }:apply(U.batch { 1, 1, 2, 2 }) end,
                         'aug_crop: dx = 0.5 %(value 1%), expected a whole number')
  end)
end)

describe('flip and crop on batches larger than the caches', function()
  it('write the same values with streaming stores as image by image', function()
    local n = 12
    local x = U.batch({ n, 3, 256, 256 }, 12)       -- 9.4 MB: over the streaming threshold
    for _, p in ipairs {
      rft.aug.crop { pad = 9, border = 'constant' }, rft.aug.crop { pad = 300, border = 'reflect101' },
      rft.aug.hflip { p = 0.5 },
    } do
      local ids = rft.from_table((function() local t = {} for i = 1, n do t[i] = 100 + i end return t end)(), { n }, 'i32')
      local big = p:apply(x, { seed = 3, ids = ids })
      for i = 0, n - 1 do
        local one = p:apply(x:view(i, i + 1), { seed = 3, ids = ids:view(i, i + 1) })
        assert.is_true(U.bits_equal(one, big:view(i, i + 1):copy()), tostring(p) .. ', image ' .. i)
      end
    end
  end)
end)
