-- invariance_overhead.lua: the training-time cost of the invariance loss (second paper, eq. 3), as a
-- ratio to the same All-CNN-C training step without it, in one run: batches of K seeds x M copies,
-- the step with cross-entropy alone against the step with the loss over every conv's ReLU (value
-- and gradients). Median of repetitions; a benchmark, not a test. In each repetition the kinds take turns
-- step by step (one step of each, then again, `--steps` rounds):
--   plain    cross-entropy alone;
--   inv      with the loss as recipes/invariance_cifar.lua runs it: gradients in factored form
--            (rft.loss.invariance{factored = true}), formed inside each tapped layer's backward;
--   tensors  with the loss's gradients as tensors (the default), added in the backward;
--   add      fixed tap-gradient tensors passed to the backward without computing the loss: the
--            difference to plain is the cost of adding tensors in the backward.
-- Each is timed by the wall clock and by the process's CPU time (all threads; steadier on a machine
-- shared with other work, though with more than one thread it also counts OpenMP's waiting); ratios
-- are medians of the per-repetition ratios, as tools/bench/train_step.lua's '<kind>_cpu_ratio'.
--   rftlua tools/bench/invariance_overhead.lua [--width 0.5] [--no-bn] [--reps 5] [--steps 5] [--json FILE]
local ffi = require 'ffi'
local rft = require 'rft'

local p = require('argparse')('invariance_overhead', 'Cost of the invariance loss per training step.')
p:option('--width', 'All-CNN-C width', '0.5', tonumber)
p:flag('--no-bn', 'plain All-CNN-C (default: batch norm, as recipes/invariance_cifar.lua)')
p:option('--seeds', 'K', '16', tonumber)
p:option('--copies', 'M', '8', tonumber)
p:option('--reps', 'repetitions', '5', tonumber)
p:option('--steps', 'steps per repetition', '5', tonumber)
p:flag('--cpu-time', 'accepted for older command lines: CPU time is always reported now')
p:option('--json', 'also write the numbers to this file (atomically)')
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
  if kind == 'inv' then _, tap_grads = rft.loss.invariance(net:taps(), groups, { factored = true }) end
  if kind == 'tensors' then _, tap_grads = rft.loss.invariance(net:taps(), groups) end
  if kind == 'add' then tap_grads = fixed end
  net:backward(x, dl, tap_grads)
  opt:step()
end

pcall(ffi.cdef, 'int clock_gettime(int clk, void *ts);')
local ts = ffi.new('struct { long s, ns; }')
local function cpu_now()
  ffi.C.clock_gettime(2, ts)                      -- CLOCK_PROCESS_CPUTIME_ID
  return tonumber(ts.s) + tonumber(ts.ns) * 1e-9
end

local median = require('rft.stats').median
local kinds = { 'plain', 'inv', 'tensors', 'add' }
local wall, cpu = {}, {}
for _, w in ipairs(kinds) do wall[w], cpu[w] = {}, {}; step(w) end
for r = 1, o.reps do
  for _, w in ipairs(kinds) do wall[w][r], cpu[w][r] = 0, 0 end
  for i = 1, o.steps do         -- one step of each kind in turn, each round starting one kind later: the
    for j = 0, #kinds - 1 do    -- kinds compared are timed moments apart, so drift and order hit all alike
      local w = kinds[(r + i - 2 + j) % #kinds + 1]
      local t0, c0 = rft.train.now(), cpu_now()
      step(w)
      wall[w][r], cpu[w][r] = wall[w][r] + (rft.train.now() - t0) / o.steps, cpu[w][r] + (cpu_now() - c0) / o.steps
    end
  end
end
local function ratio(t, w)
  local q = {}
  for r = 1, o.reps do q[r] = t[w][r] / t.plain[r] end
  return median(q)
end
local result = { width = o.width, bn = not o.no_bn, batch = b, seeds = o.seeds, copies = o.copies, reps = o.reps,
  steps = o.steps, threads = os.getenv('OMP_NUM_THREADS') or 'default' }
print(string.format('All-CNN-C width %g%s, batch %d = %d seeds x %d copies', o.width, o.no_bn and '' or ' with batch norm',
  b, o.seeds, o.copies))
print(string.format('%-8s %12s %12s %10s %10s', 'step', 'wall ms', 'CPU ms', 'wall ratio', 'CPU ratio'))
for _, w in ipairs(kinds) do
  local wr, cr = ratio(wall, w), ratio(cpu, w)
  result[w .. '_wall_ms'], result[w .. '_cpu_ms'] = 1000 * median(wall[w]), 1000 * median(cpu[w])
  if w ~= 'plain' then result[w .. '_ratio'], result[w .. '_cpu_ratio'] = wr, cr end
  print(string.format('%-8s %12.1f %12.1f %10.4f %10.4f', w, 1000 * median(wall[w]), 1000 * median(cpu[w]), wr, cr))
end
print(string.format('invariance step (factored, as the recipe): overhead %+.1f %% wall, %+.1f %% CPU; with tensor '
  .. 'gradients %+.1f %% wall, %+.1f %% CPU; adding fixed tensors alone %+.1f %% wall, %+.1f %% CPU',
  100 * (result.inv_ratio - 1), 100 * (result.inv_cpu_ratio - 1), 100 * (result.tensors_ratio - 1),
  100 * (result.tensors_cpu_ratio - 1), 100 * (result.add_ratio - 1), 100 * (result.add_cpu_ratio - 1)))
print(string.format('threads %s; numbers from one run on the machine as it was (the kinds taking turns step by step, rotated order)', result.threads))
if o.json then require('rft.report').write_json(o.json, result) end
