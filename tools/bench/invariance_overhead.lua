-- invariance_overhead.lua: the training-time cost of the invariance loss (second paper, eq. 3), as a
-- ratio to the same All-CNN-C training step without it, in one run: batches of K seeds x M copies,
-- the step with cross-entropy alone against the step with the loss over every conv's ReLU (value
-- and gradients). Median of repetitions; a benchmark, not a test. A third step, alternated with the
-- two, passes fixed tap gradients to the backward without computing the loss: the difference to the
-- plain step is the cost of adding tap gradients in the backward, the rest is the loss's own.
-- On a machine shared with other work, wall time swings by more than the effect measured: --cpu-time
-- reports the process's CPU time instead (with OMP_NUM_THREADS=1 it is the step's own work; with more
-- threads it also counts OpenMP's waiting).
--   rftlua tools/bench/invariance_overhead.lua [--width 0.5] [--no-bn] [--reps 5] [--steps 5] [--cpu-time]
local ffi = require 'ffi'
local rft = require 'rft'

local p = require('argparse')('invariance_overhead', 'Cost of the invariance loss per training step.')
p:option('--width', 'All-CNN-C width', '0.5', tonumber)
p:flag('--no-bn', 'plain All-CNN-C (default: batch norm, as recipes/invariance_cifar.lua)')
p:option('--seeds', 'K', '16', tonumber)
p:option('--copies', 'M', '8', tonumber)
p:option('--reps', 'repetitions', '5', tonumber)
p:option('--steps', 'steps per repetition', '5', tonumber)
p:flag('--cpu-time', "time by the process's CPU time, not the wall clock (for a busy machine)")
local o = p:parse(arg)

local net = rft.models.allcnn_c { width = o.width, bn = not o.no_bn, seed = 1 }
local params, grads = net:flatten()
local opt = rft.optim.sgd { params = params, grads = grads, lr = 1e-3, momentum = 0.9, nesterov = true }
local b = o.seeds * o.copies
local x = rft.rand.uniform(rft.tensor { shape = { b, 3, 32, 32 } }, { seed = 1 })
local g, y = {}, {}
for i = 1, b do g[i] = math.floor((i - 1) / o.copies); y[i] = g[i] % 10 end
local groups, labels = rft.from_table(g, { b }, 'i32'), rft.from_table(y, { b }, 'i32')

-- fixed tap gradients (the loss's, copied once) for the step that only adds them
net:forward(x)
local fixed = {}
for name, t in pairs(select(2, rft.loss.invariance(net:taps(), groups))) do fixed[name] = t:copy() end

local function step(kind)
  net:zero_grad()
  local logits = net:forward(x)
  local _, dl = rft.loss.cross_entropy(logits, labels, { scale = kind == 'plain' and 1 or 0.9 })
  local tap_grads
  if kind == 'inv' then _, tap_grads = rft.loss.invariance(net:taps(), groups) end
  if kind == 'add' then tap_grads = fixed end
  net:backward(x, dl, tap_grads)
  opt:step()
end

pcall(ffi.cdef, 'int clock_gettime(int clk, void *ts);')
local ts = ffi.new('struct { long s, ns; }')
local function now()
  if not o.cpu_time then return rft.train.now() end
  ffi.C.clock_gettime(2, ts)                      -- CLOCK_PROCESS_CPUTIME_ID
  return tonumber(ts.s) + tonumber(ts.ns) * 1e-9
end

local function median(t) table.sort(t); return t[math.ceil(#t / 2)] end
local kinds = { 'plain', 'inv', 'add' }
local times = { plain = {}, inv = {}, add = {} }
for _, w in ipairs(kinds) do step(w) end
for r = 1, o.reps do
  for _, w in ipairs(kinds) do                     -- alternate, so load on the machine hits all alike
    local t0 = now()
    for _ = 1, o.steps do step(w) end
    times[w][r] = (now() - t0) / o.steps
  end
end
local a, c, t = median(times.plain), median(times.inv), median(times.add)
print(string.format('All-CNN-C width %g%s, batch %d = %d seeds x %d copies', o.width, o.no_bn and '' or ' with batch norm',
  b, o.seeds, o.copies))
print(string.format('%s: step without the invariance loss %.1f ms, with it %.1f ms: overhead %+.1f %%',
  o.cpu_time and 'CPU time' or 'wall time', 1000 * a, 1000 * c, 100 * (c / a - 1)))
print(string.format('of which adding tap gradients in the backward (fixed gradients, no loss): %.1f ms, %+.1f %%',
  1000 * (t - a), 100 * (t / a - 1)))
print(string.format('threads %s; numbers from one run on the machine as it was (alternated steps)',
  os.getenv('OMP_NUM_THREADS') or 'default'))
