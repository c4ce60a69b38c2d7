-- rft.stats against SciPy (spec/fixtures/stats.json, written by tools/fixtures/stats.py) and exact
-- small cases: mean, median, sample std, the Student t quantile and the 95 % interval of a mean.
local stats = require 'rft.stats'
local cjson = require 'cjson'

local function fixture()
  local f = assert(io.open('spec/fixtures/stats.json'), 'missing spec/fixtures/stats.json (run tools/fixtures/stats.py)')
  local t = cjson.decode(f:read('*a'))
  f:close()
  return t
end

-- |got - want| <= atol + rtol |want|, naming the case on failure
local function close(want, got, rtol, atol, what)
  assert(math.abs(got - want) <= atol + rtol * math.abs(want),
    string.format('%s: expected %.17g, got %.17g (difference %.3g)', what, want, got, got - want))
end

describe('rft.stats', function()
  local fx = fixture()

  it('gives the mean and the sample standard deviation (n - 1) of exact small cases', function()
    assert.equal(2, stats.mean { 1, 2, 3 })
    assert.equal(1, stats.std { 1, 2, 3 })                 -- ((1 + 0 + 1) / 2)^0.5
    assert.equal(math.sqrt(0.5), stats.std { 1, 2 })
    assert.is_nil(stats.mean {})
    assert.is_nil(stats.std { 5 })                        -- one seed: no spread to report
    local t = { 3, 1, 2 }
    assert.equal(2, stats.median(t))
    assert.same({ 3, 1, 2 }, t)                           -- left unsorted
    assert.equal(2.5, stats.median { 4, 1, 3, 2 })         -- the middle two's mean
    assert.equal(7, stats.median { 7 })
    assert.is_nil(stats.median {})
  end)

  it('has the textbook t quantiles: 12.706 (1 dof), 4.303 (2), 1.960 as dof grows', function()
    close(12.706204736174705, stats.t_quantile(0.975, 1), 0, 1e-9, 't(0.975, 1)')   -- tan(pi (0.975 - 1/2))
    close(2 * 0.975 - 1, stats.t_quantile(0.975, 2) / math.sqrt(2 + stats.t_quantile(0.975, 2) ^ 2), 0, 1e-12,
      't(0.975, 2) solves t / sqrt(2 + t^2) = 2p - 1')
    close(1.959963984540054, stats.t_quantile(0.975, 1e7), 1e-6, 0, 't(0.975, 1e7) -> normal')
    assert.equal(0, stats.t_quantile(0.5, 3))
  end)

  -- The quantile is bisected to a relative width of 1e-13 on a cdf good to ~1e-14 (Lanczos lgamma,
  -- continued fraction to 1e-15); at the steepest case here (p = 0.995, 1 dof, density 7.9e-5 at
  -- t = 63.7) that moves t by ~1e-10 relative. 1e-9 relative is well clear of that and far below
  -- any error in the formulas (a wrong dof or tail is off by more than 1e-3). SciPy's own t.ppf
  -- (cephes stdtrit) is the looser side: at (0.9, 3 dof) it returns 1.6377443572, whose t.cdf in
  -- SciPy is 0.90000000036, while rft's 1.6377443537 gives SciPy's t.cdf 0.8999999999999967. So the
  -- quantiles are compared at 1e-8 relative (that case is 2.1e-9 off), the cdf and betainc at 1e-11.
  it('matches scipy.stats.t.ppf and t.cdf, and scipy.special.betainc', function()
    for _, c in ipairs(fx.t_ppf) do
      close(c.q, stats.t_quantile(c.p, c.df), 1e-8, 1e-12, string.format('t_quantile(%g, %g)', c.p, c.df))
    end
    for _, c in ipairs(fx.t_cdf) do
      close(c.cdf, stats.t_cdf(c.t, c.df), 1e-11, 1e-14, string.format('t_cdf(%g, %g)', c.t, c.df))
    end
    for _, c in ipairs(fx.betainc) do
      close(c.i, stats.betainc(c.a, c.b, c.x), 1e-11, 1e-14, string.format('betainc(%g, %g, %g)', c.a, c.b, c.x))
    end
  end)

  it('gives the 95 % t interval of a mean as scipy.stats.t.interval does', function()
    for i, c in ipairs(fx.samples) do
      local s = stats.summary(c.x)
      assert.equal(#c.x, s.n)
      assert.equal(#c.x - 1, s.df)
      close(c.mean, s.mean, 1e-13, 0, 'mean of sample ' .. i)
      close(c.std, s.std, 1e-12, 0, 'std of sample ' .. i)
      close(c.lo, s.lo, 1e-8, 1e-12, 'interval low of sample ' .. i)
      close(c.hi, s.hi, 1e-8, 1e-12, 'interval high of sample ' .. i)
    end
  end)

  it('reports no interval for one value and only n for none', function()
    local one = stats.summary { 3.5 }
    assert.same({ 1, 3.5 }, { one.n, one.mean })
    assert.is_nil(one.std); assert.is_nil(one.lo); assert.is_nil(one.half)
    assert.equal(0, stats.summary({}).n)
  end)

  it('names a bad probability or dof', function()
    assert.error_matches(function() stats.t_quantile(1, 3) end, 'p must be in %(0, 1%), got 1')
    assert.error_matches(function() stats.t_quantile(0.9, 0) end, 'df must be > 0, got 0')
  end)
end)
