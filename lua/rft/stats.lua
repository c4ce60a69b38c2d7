-- rft.stats: the few statistics a multi-seed result or a benchmark needs: mean, median, sample standard
-- deviation, and the Student t interval of a mean (n - 1 degrees of freedom), with the t quantile computed here from the
-- regularised incomplete beta function (no table, any degrees of freedom). Not a statistics library:
-- plain Lua numbers in, plain numbers out.
local M = {}

--- Mean of a list of numbers (nil for an empty list).
function M.mean(t)
  if #t == 0 then return nil end
  local s = 0
  for _, v in ipairs(t) do s = s + v end
  return s / #t
end

--- Median of a list of numbers (the mean of the middle two for an even count; nil for an empty list);
--- the list is left as it was.
function M.median(t)
  if #t == 0 then return nil end
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  local h = #c / 2
  return #c % 2 == 1 and c[math.ceil(h)] or (c[h] + c[h + 1]) / 2
end

--- Sample standard deviation (divisor n - 1); nil with fewer than two values.
function M.std(t)
  if #t < 2 then return nil end
  local m, s = M.mean(t), 0
  for _, v in ipairs(t) do s = s + (v - m) ^ 2 end
  return math.sqrt(s / (#t - 1))
end

-- log Gamma(x), x > 0: Lanczos (g = 7, 9 terms), relative error about 1e-15.
local lanczos = { 0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7 }
local function lgamma(x)
  if x < 0.5 then return math.log(math.pi / math.abs(math.sin(math.pi * x))) - lgamma(1 - x) end
  x = x - 1
  local a, t = lanczos[1], x + 7.5
  for i = 1, 8 do a = a + lanczos[i + 1] / (x + i) end
  return 0.5 * math.log(2 * math.pi) + (x + 0.5) * math.log(t) - t + math.log(a)
end

-- Continued fraction of the incomplete beta function (modified Lentz), converging for x < (a+1)/(a+b+2).
local function betacf(a, b, x)
  local tiny = 1e-300
  local c, d = 1, 1 - (a + b) * x / (a + 1)
  if math.abs(d) < tiny then d = tiny end
  d = 1 / d
  local h = d
  for m = 1, 300 do
    local m2 = 2 * m
    local aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
    d = 1 + aa * d; if math.abs(d) < tiny then d = tiny end
    c = 1 + aa / c; if math.abs(c) < tiny then c = tiny end
    d = 1 / d; h = h * d * c
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
    d = 1 + aa * d; if math.abs(d) < tiny then d = tiny end
    c = 1 + aa / c; if math.abs(c) < tiny then c = tiny end
    d = 1 / d
    local del = d * c
    h = h * del
    if math.abs(del - 1) < 1e-15 then break end
  end
  return h
end

--- The regularised incomplete beta function I_x(a, b), 0 <= x <= 1.
function M.betainc(a, b, x)
  if x <= 0 then return 0 elseif x >= 1 then return 1 end
  local front = math.exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * math.log(x) + b * math.log(1 - x))
  if x < (a + 1) / (a + b + 2) then return front * betacf(a, b, x) / a end
  return 1 - front * betacf(b, a, 1 - x) / b
end

--- P(T <= t) for Student's t with df degrees of freedom (df > 0, need not be whole).
function M.t_cdf(t, df)
  local tail = 0.5 * M.betainc(df / 2, 0.5, df / (df + t * t))
  return t >= 0 and 1 - tail or tail
end

--- The p-quantile of Student's t with df degrees of freedom (0 < p < 1): bisection on t_cdf to a
--- relative width of 1e-13 (the cdf is monotone, so this cannot fail to converge).
function M.t_quantile(p, df)
  if not (p > 0 and p < 1) then error(string.format('rft.stats.t_quantile: p must be in (0, 1), got %s', tostring(p)), 2) end
  if not (df > 0) then error(string.format('rft.stats.t_quantile: df must be > 0, got %s', tostring(df)), 2) end
  if p == 0.5 then return 0 end
  if p < 0.5 then return -M.t_quantile(1 - p, df) end
  local lo, hi = 0, 1
  while M.t_cdf(hi, df) < p do lo, hi = hi, hi * 2 end
  for _ = 1, 200 do
    local mid = 0.5 * (lo + hi)
    if M.t_cdf(mid, df) < p then lo = mid else hi = mid end
    if hi - lo <= 1e-13 * hi then break end
  end
  return 0.5 * (lo + hi)
end

--- Summary of a sample: {n=, mean=, std=, lo=, hi=, half=, level=, df=}: the two-sided Student t
--- interval of the mean at `level` (default 0.95), mean -/+ t_{(1+level)/2, n-1} * std / sqrt(n).
--- With one value there is no std and no interval (those fields are nil); with none, n = 0 alone.
function M.summary(t, level)
  level = level or 0.95
  local n = #t
  local s = { n = n, mean = M.mean(t), std = M.std(t), level = level }
  if n >= 2 then
    s.df = n - 1
    s.half = M.t_quantile((1 + level) / 2, s.df) * s.std / math.sqrt(n)
    s.lo, s.hi = s.mean - s.half, s.mean + s.half
  end
  return s
end

return M
