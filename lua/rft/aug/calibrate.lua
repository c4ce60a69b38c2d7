-- rft.aug.calibrate: the strength of an augmentation at which a model's accuracy falls by a target
-- (paper 1, 3.3.2: 10 points absolute on a held-out validation split), by bisection between the
-- family's neutral strength and its bound. Accuracy is assumed to fall as the strength moves away
-- from neutral. S- stops at alpha = 0; when even the bound does not cost the target, the result says
-- so (reached = false) with the accuracy at the bound.
local R = require 'rft.aug.distortions'
local T = require 'rft.tensor'

local M = {}

-- One strength (the named parameter's value) -> a pipeline, for each distortion of the registry
-- (rft.aug.distortions): zero: the neutral strength; bound: the strongest the search tries; tol:
-- default resolution.
M.families = {}
for _, d in ipairs(R.list) do
  M.families[d.name] = { param = d.param, zero = d.zero, bound = d.bound, tol = d.tol,
                         make = function(s) return R.make(d.name, s) end }
end
M.order = R.names

--- The pipeline of a family at a strength: aug.family('GN', 0.08).
function M.family(name, strength)
  if not M.families[name] then
    error("aug.family: unknown family '" .. tostring(name) .. "' (expected " .. table.concat(R.names, ', ') .. ')', 2)
  end
  return M.families[name].make(strength)
end

local function evaluator(o)
  if o.evaluate then return o.evaluate end
  if not (o.model and o.data) then
    error('aug.calibrate: give evaluate=function(strength) -> accuracy %, or model= and data=', 3)
  end
  local train = require 'rft.train'
  local fam = o.make or M.families[o.family].make
  local seed = o.seed or 0
  local buf = T.new { shape = { 0 }, dtype = 'f32' }
  return function(s)
    local p = fam(s)
    return (train.evaluate(o.model, o.data, { batch = o.batch,
      transform = function(x, ids) return p:apply(x, { seed = seed, ids = ids, out = buf }) end }))
  end
end

--- aug.calibrate{family='GN', evaluate=function(s) return acc end | model=net, data=val,
---   target_drop=10 (points; a value below 1 is a fraction: 0.10 = 10 points), baseline=acc (default:
---   accuracy at the neutral strength), lo=, hi= (the search interval, neutral and bound by default),
---   tol=, max_iter=30, seed=0, log=function(strength, accuracy)}
--- --> {family, param, strength, accuracy, baseline, drop, target_drop, reached, evaluations, history}
--- strength: the weakest strength found that costs at least the target (or the bound, reached=false).
function M.calibrate(o)
  if type(o) ~= 'table' then error('aug.calibrate: expected a table of options', 2) end
  local fam = o.family and M.families[o.family]
  if o.family and not fam then
    error("aug.calibrate: unknown family '" .. tostring(o.family) .. "' (expected " .. table.concat(R.names, ', ') .. ')', 2)
  end
  fam = fam or {}
  local lo, hi = o.lo or fam.zero, o.hi or fam.bound
  if type(lo) ~= 'number' or type(hi) ~= 'number' then
    error('aug.calibrate: give family= or both lo= (neutral end) and hi= (strong end)', 2)
  end
  local target = o.target_drop or 10
  if type(target) ~= 'number' or target <= 0 then error('aug.calibrate: target_drop must be a number > 0', 2) end
  if target < 1 then target = target * 100 end
  local tol = o.tol or fam.tol or math.abs(hi - lo) * 1e-3
  local max_iter = o.max_iter or 30
  local eval = evaluator(o)
  local history = {}
  local function run(s)
    local a = eval(s)
    if type(a) ~= 'number' then error('aug.calibrate: evaluate(' .. s .. ') returned ' .. tostring(a) .. ', not a number', 3) end
    history[#history + 1] = { strength = s, accuracy = a }
    if o.log then o.log(s, a) end
    return a
  end
  local base = o.baseline or run(lo)
  local result = { family = o.family, param = fam.param, baseline = base, target_drop = target, history = history }
  local acc_hi = run(hi)
  if base - acc_hi < target then
    result.strength, result.accuracy, result.reached = hi, acc_hi, false
  else
    local it = 0
    while math.abs(hi - lo) > tol and it < max_iter do
      local mid = (lo + hi) / 2
      local a = run(mid)
      if base - a >= target then hi, acc_hi = mid, a else lo = mid end
      it = it + 1
    end
    result.strength, result.accuracy, result.reached = hi, acc_hi, true
  end
  result.drop = base - result.accuracy
  result.evaluations = #history
  return result
end

return M
