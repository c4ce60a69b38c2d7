-- Random numbers: Philox-4x32-10 against published known answers, draws that depend only on
-- (seed, stream, position) whatever the split or thread count, and sane distributions.
local rft = require 'rft'
local ffi = require 'ffi'

local function fill(kind, n, o)
  local t = rft.tensor { shape = { n }, dtype = o.dtype or 'f32' }
  return rft.rand[kind](t, o)
end

local function bits_equal(a, b)
  return a:numel() == b:numel() and
    ffi.string(ffi.cast('const char *', a:data()), a:numel() * 4) ==
    ffi.string(ffi.cast('const char *', b:data()), b:numel() * 4)
end

describe('the Philox generator', function()
  it('matches the Random123 known-answer vectors for Philox-4x32-10', function()
    local cases = {
      { { 0, 0, 0, 0 }, { 0, 0 }, { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
      { { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
        { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
      { { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
        { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
    }
    local out = ffi.new('uint32_t[4]')
    for _, c in ipairs(cases) do
      rft.C.rft_philox4x32_10(ffi.new('uint32_t[4]', c[1]), ffi.new('uint32_t[2]', c[2]), out)
      for i = 1, 4 do assert.equal(c[3][i], tonumber(out[i - 1])) end
    end
  end)
end)

describe('a random fill', function()
  for _, kind in ipairs { 'uniform', 'normal', 'bernoulli' } do
    it(kind .. ' gives bit-identical values whatever the split of the work', function()
      local n = 100003
      local whole = fill(kind, n, { seed = 42, stream = 3 })
      local parts = rft.tensor { shape = { n } }
      -- fill three unequal pieces, each at its own offset
      for _, r in ipairs { { 0, 7 }, { 7, 60001 }, { 60001, n } } do
        rft.rand[kind](parts:view(r[1], r[2]), { seed = 42, stream = 3, offset = r[1] })
      end
      assert.is_true(bits_equal(whole, parts))
    end)

    it(kind .. ' gives bit-identical values on 1 and 2 threads', function()
      local old = rft.threads()
      rft.threads(1)
      local one = fill(kind, 200000, { seed = 9 })
      rft.threads(2)
      local two = fill(kind, 200000, { seed = 9 })
      rft.threads(old)
      assert.is_true(bits_equal(one, two))
    end)

    it(kind .. ' changes with the seed and with the stream', function()
      local a = fill(kind, 1000, { seed = 1, stream = 0 })
      assert.is_false(bits_equal(a, fill(kind, 1000, { seed = 2, stream = 0 })))
      assert.is_false(bits_equal(a, fill(kind, 1000, { seed = 1, stream = 1 })))
    end)
  end

  -- n = 10^6: the standard error of a mean of unit-variance values is 0.001; allow 5 of them.
  it('uniform has the mean and variance of U(lo, hi), within (lo, hi]', function()
    local t = fill('uniform', 1000000, { seed = 7, lo = -2, hi = 4 })
    local p, n = t:data(), t:numel()
    local s, s2 = 0, 0
    for i = 0, n - 1 do s = s + p[i]; s2 = s2 + p[i] * p[i] end
    local mean, var = s / n, s2 / n - (s / n) ^ 2
    assert.near(1, mean, 5 * math.sqrt(3 / n))
    assert.near(3, var, 0.02)                     -- (hi-lo)^2/12 = 3
    assert.is_true(t:min() > -2 and t:max() <= 4)
  end)

  it('normal has the requested mean and standard deviation, and normal tails', function()
    local t = fill('normal', 1000000, { seed = 11, mean = 0.5, std = 2 })
    local p, n = t:data(), t:numel()
    local s, s2, beyond = 0, 0, 0
    for i = 0, n - 1 do
      local v = p[i]; s = s + v; s2 = s2 + v * v
      if math.abs(v - 0.5) > 2 * 1.959964 then beyond = beyond + 1 end
    end
    local mean, var = s / n, s2 / n - (s / n) ^ 2
    assert.near(0.5, mean, 5 * 2 / math.sqrt(n))
    assert.near(4, var, 0.03)
    assert.near(0.05, beyond / n, 0.002)          -- two-sided 5 % beyond 1.96 sigma
  end)

  it('bernoulli hits 1 with probability p and is exactly 0 / 1 for p = 0 / 1', function()
    local t = fill('bernoulli', 1000000, { seed = 3, p = 0.025, dtype = 'u8' })
    assert.near(0.025, t:mean(), 5 * math.sqrt(0.025 * 0.975 / 1e6))
    assert.equal(0, fill('bernoulli', 1000, { p = 0 }):max())
    assert.equal(1, fill('bernoulli', 1000, { p = 1 }):min())
  end)

  it('refuses impossible parameters, naming them', function()
    assert.error_matches(function() fill('bernoulli', 4, { p = 1.5 }) end, 'rand_bernoulli: p = 1.5, expected 0 <= p <= 1')
    assert.error_matches(function() fill('normal', 4, { std = -1 }) end, 'rand_normal: std = %-1, expected >= 0')
    assert.error_matches(function() fill('uniform', 4, { lo = 2, hi = 1 }) end, 'rand_uniform: lo = 2 must not exceed hi = 1')
    assert.error_matches(function() fill('uniform', 4, { dtype = 'i32' }) end, 'rand_uniform: tensor must be f32, got i32')
  end)
end)

describe('a random permutation', function()
  it('holds every index once, depends on the seed alone, and moves most elements', function()
    local n = 50000
    local a = rft.rand.permutation(n, { seed = 5 }):to_table()
    local seen, fixed = {}, 0
    for i, v in ipairs(a) do
      assert.is_nil(seen[v]); seen[v] = true
      if v == i - 1 then fixed = fixed + 1 end
    end
    for v = 0, n - 1 do assert.is_true(seen[v]) end
    assert.is_true(fixed < 10)                     -- expected number of fixed points: 1
    assert.same(a, rft.rand.permutation(n, { seed = 5 }):to_table())
    assert.are_not.same(a, rft.rand.permutation(n, { seed = 6 }):to_table())
  end)

  it('puts each element at each place equally often', function()
    -- 3 elements, 60000 seeds: each of the 9 (element, place) cells expects 20000
    local counts = { 0, 0, 0, 0, 0, 0, 0, 0, 0 }
    for seed = 1, 60000 do
      local p = rft.rand.permutation(3, { seed = seed }):to_table()
      for place = 1, 3 do counts[p[place] * 3 + place] = counts[p[place] * 3 + place] + 1 end
    end
    for _, c in ipairs(counts) do assert.near(20000, c, 600) end   -- ~5 standard deviations
  end)
end)
