-- Gaussian noise and salt-and-pepper: the draws are keyed exactly as aug_math.h says (checked with
-- an independent reading of Philox), moments and rates hold on large batches, and values stay in [0,1].
local ffi = require 'ffi'
local rft = require 'rft'
local U = require 'aug.util'
local C = rft.C

describe('Gaussian noise', function()
  it('adds mean + sigma·z with z from Philox (seed, id << 32 | stream) in tiles of 1024 values', function()
    local shape = { 2, 3, 20, 20 }          -- 1200 values an image: a full tile and a partial one
    local x = rft.tensor { shape = shape }:fill(0.5)
    local ids, seed, tag = { 7, 123456 }, 99, 5
    local y = rft.tensor { shape = { 1 } }
    assert.equal(0, C.rft_aug_gaussian_noise(seed, tag, rft.from_table(ids, { 2 }, 'i32'), U.vals { 0, 0.02 },
                                             U.vals { 0.05, 0.1 }, x, y))
    local ys, want = y:to_table(), {}
    for n = 0, 1 do
      for e = 0, 1199 do
        local j = e % 1024
        local w = U.philox(seed, ids[n + 1], tag, math.floor(e / 1024) * 256 + j % 256)
        local k = math.floor(j / 256)
        local pair = k >= 2 and 3 or 1
        local r = math.sqrt(-2 * math.log(U.unit(w[pair])))
        local th = 2 * math.pi * U.unit(w[pair + 1])
        local z = (k % 2 == 1) and r * math.sin(th) or r * math.cos(th)
        want[#want + 1] = U.clip(0.5 + (n == 0 and 0 or 0.02) + (n == 0 and 0.05 or 0.1) * z)
      end
    end
    U.close(ys, want, 3e-6, 'noise')
  end)

  it('has the requested mean and standard deviation on a large batch', function()
    local x = rft.tensor { shape = { 64, 3, 32, 32 } }:fill(0.5)
    local y = rft.aug.gaussian_noise { sigma = 0.04, mean = 0.01 }:apply(x, { seed = 3 })
    local p, n = y:data(), y:numel()
    local s, s2, beyond = 0, 0, 0
    for i = 0, n - 1 do
      local d = p[i] - 0.5
      s = s + d; s2 = s2 + d * d
      if math.abs(d - 0.01) > 3 * 0.04 then beyond = beyond + 1 end
    end
    local mean = s / n
    local sd = math.sqrt(s2 / n - mean * mean)
    assert.near(0.01, mean, 5 * 0.04 / math.sqrt(n))
    assert.near(0.04, sd, 0.04 * 0.01)
    assert.near(0.0027, beyond / n, 0.0006)         -- the normal's 3-sigma tails
  end)

  it('clips to [0,1]', function()
    local y = rft.aug.gaussian_noise { sigma = 3 }:apply(U.batch { 8, 3, 16, 16 }, { seed = 1 })
    assert.is_true(U.in_unit(y))
    assert.is_true(y:min() == 0 and y:max() == 1)
  end)
end)

describe('salt-and-pepper', function()
  it('adds ±rho with the mask and sign words of Philox in tiles of 512 draws', function()
    local shape = { 1, 3, 12, 16 }          -- 576 values: a full tile and a partial one
    local x = rft.tensor { shape = shape }:fill(0.5)
    local seed, tag, id, p, q, rho = 5, 77, 31, 0.3, 0.6, 0.25
    local y = rft.tensor { shape = { 1 } }
    assert.equal(0, C.rft_aug_salt_pepper(0, seed, tag, rft.from_table({ id }, { 1 }, 'i32'), U.val(p), U.val(q),
                                          U.val(rho), x, y))
    local want = {}
    for e = 0, 575 do
      local j = e % 512
      local w = U.philox(seed, id, tag, math.floor(e / 512) * 256 + j % 256)
      local k = math.floor(j / 256)
      local m = U.unit(w[2 * k + 1]) <= p and 1 or 0
      local b = U.unit(w[2 * k + 2]) <= q and 1 or 0
      want[e + 1] = U.clip(0.5 + rho * m * (2 * b - 1))
    end
    U.close(y:to_table(), want, 1e-7, 'salt-and-pepper')
  end)

  local function rates(per)
    local x = rft.tensor { shape = { 32, 3, 32, 32 } }:fill(0.5)
    local y = rft.aug.salt_pepper { p = 0.1, q = 0.7, rho = 0.3, per = per }:apply(x, { seed = 11 })
    local d, n = y:data(), y:numel()
    local hit, up, same_pixel = 0, 0, 0
    for i = 0, n - 1 do
      if d[i] ~= 0.5 then
        hit = hit + 1
        if d[i] > 0.5 then up = up + 1 end
      end
    end
    -- a pixel's channels agree (all hit or none) when drawn per pixel
    for img = 0, 31 do
      for px = 0, 1023 do
        local base = img * 3072 + px
        local a, b, c = d[base] ~= 0.5, d[base + 1024] ~= 0.5, d[base + 2048] ~= 0.5
        if a == b and b == c then same_pixel = same_pixel + 1 end
      end
    end
    return hit / n, up / hit, same_pixel / (32 * 1024), n
  end

  it('changes each value with probability p, upward with probability q (per value)', function()
    local rate, up, same, n = rates('value')
    assert.near(0.1, rate, 5 * math.sqrt(0.09 / n))
    assert.near(0.7, up, 5 * math.sqrt(0.21 / (n * 0.1)))
    assert.near(0.9 ^ 3 + 0.1 ^ 3, same, 0.01)       -- independent channels
  end)

  it('draws one mask and sign per pixel as an option', function()
    local rate, up, same, n = rates('pixel')
    assert.near(0.1, rate, 5 * math.sqrt(0.09 / (n / 3)))
    assert.near(0.7, up, 0.03)
    assert.equal(1, same)
  end)

  it('refuses p outside [0,1], naming it', function()
    assert.error_matches(function()
      rft.aug.salt_pepper { p = 2 }:apply(U.batch { 2, 3, 4, 4 })
    end, 'aug_salt_pepper: p = 2 %(value 1%), expected 0 <= p <= 1')
    assert.error_matches(function() rft.aug.salt_pepper { p = 0.1, per = 'channel' } end,
                         "aug.salt_pepper: per must be 'value' or 'pixel'")
  end)
end)
