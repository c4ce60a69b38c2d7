-- Gaussian blur against a direct 2-D convolution with the s x s kernel exp(-(u²+v²)/2σ²) / Σ and
-- the stated border (DESIGN.md §4: reflect-101 by default; reflect, replicate, constant, wrap).
local ffi = require 'ffi'
local rft = require 'rft'
local U = require 'aug.util'
local C = rft.C

local function border(i, n, mode)
  if i >= 0 and i < n then return i end
  if mode == 'constant' then return nil end
  if mode == 'replicate' then return i < 0 and 0 or n - 1 end
  if mode == 'wrap' then return i % n end
  if mode == 'reflect' then
    while i < 0 or i >= n do i = i < 0 and -i - 1 or 2 * n - 1 - i end
    return i
  end
  while i < 0 or i >= n do i = i < 0 and -i or 2 * n - 2 - i end       -- reflect-101
  return i
end

local function direct(xs, shape, sizes, sigmas, mode)
  local N, Cc, H, W = shape[1], shape[2], shape[3], shape[4]
  local out = {}
  for n = 0, N - 1 do
    local s, sg = sizes[n + 1], sigmas[n + 1]
    local r = (s - 1) / 2
    local k, sum = {}, 0
    for u = -r, r do
      for v = -r, r do
        local w = sg > 0 and math.exp(-(u * u + v * v) / (2 * sg * sg)) or ((u == 0 and v == 0) and 1 or 0)
        k[u * 100 + v] = w; sum = sum + w
      end
    end
    for c = 0, Cc - 1 do
      for h = 0, H - 1 do
        for w = 0, W - 1 do
          local acc = 0
          for u = -r, r do
            for v = -r, r do
              local hh, ww = border(h + u, H, mode), border(w + v, W, mode)
              if hh and ww then acc = acc + k[u * 100 + v] / sum * U.at(xs, shape, n, c, hh, ww) end
            end
          end
          out[#out + 1] = U.clip(acc)
        end
      end
    end
  end
  return out
end

local codes = { reflect101 = C.RFT_BORDER_REFLECT101, reflect = C.RFT_BORDER_REFLECT,
                replicate = C.RFT_BORDER_REPLICATE, constant = C.RFT_BORDER_CONSTANT, wrap = C.RFT_BORDER_WRAP }

describe('Gaussian blur', function()
  for _, mode in ipairs { 'reflect101', 'reflect', 'replicate', 'constant', 'wrap' } do
    it('matches a direct 2-D convolution with ' .. mode .. ' borders, size and sigma per image', function()
      local shape = { 3, 2, 7, 9 }
      local x = U.batch(shape, 4)
      local sizes, sigmas = { 3, 5, 7 }, { 0.675, 1.3, 2.0 }
      local y = rft.tensor { shape = { 1 } }
      assert.equal(0, C.rft_aug_gaussian_blur(codes[mode], U.vals(sizes), U.vals(sigmas), x, y))
      U.close(y:to_table(), direct(x:to_table(), shape, sizes, sigmas, mode), 2e-6, mode)
    end)
  end

  it('uses reflect-101 in rft.aug by default (paper: size 3, sigma 0.675)', function()
    local shape = { 2, 3, 5, 6 }
    local x = U.batch(shape, 8)
    local p = rft.aug.gaussian_blur { sigma = 0.675 }
    assert.matches('border=reflect101', tostring(p))
    U.close(p:apply(x):to_table(), direct(x:to_table(), shape, { 3, 3 }, { 0.675, 0.675 }, 'reflect101'), 2e-6)
  end)

  it('handles images narrower than the kernel and blurs in place', function()
    local shape = { 1, 1, 3, 2 }      -- W = 2 <= 2·radius: every column is a border column
    local x = U.batch(shape, 2)
    local want = direct(x:to_table(), shape, { 3 }, { 1.5 }, 'reflect101')
    assert.equal(0, C.rft_aug_gaussian_blur(0, U.val(3), U.val(1.5), x, x))
    U.close(x:to_table(), want, 2e-6)
  end)

  it('sigma = 0 leaves the image unchanged', function()
    local x = U.batch({ 2, 3, 4, 4 })
    local y = rft.tensor { shape = { 1 } }
    assert.equal(0, C.rft_aug_gaussian_blur(0, U.val(3), U.val(0), x, y))
    assert.is_true(U.bits_equal(x, y))
  end)

  it('refuses even sizes, sizes beyond the image and unknown borders, saying which', function()
    local x, y = U.batch({ 2, 1, 4, 4 }), rft.tensor { shape = { 1 } }
    assert.equal(C.RFT_EARG, C.rft_aug_gaussian_blur(0, U.val(4), U.val(1), x, y))
    assert.matches('aug_gaussian_blur: size = 4 %(value 1%), expected an odd number', ffi.string(C.rft_last_error()))
    assert.equal(C.RFT_EARG, C.rft_aug_gaussian_blur(0, U.val(9), U.val(1), x, y))
    assert.matches('aug_gaussian_blur: size = 9 %(value 1%), expected 1 <= size <= 7', ffi.string(C.rft_last_error()))
    assert.equal(C.RFT_EARG, C.rft_aug_gaussian_blur(9, U.val(3), U.val(1), x, y))
    assert.matches('aug_gaussian_blur: border = 9, expected one of reflect101', ffi.string(C.rft_last_error()))
    assert.error_matches(function() rft.aug.gaussian_blur { sigma = 1, border = 'mirror' } end,
                         "aug.gaussian_blur: border 'mirror' is not one of reflect101")
  end)
end)
