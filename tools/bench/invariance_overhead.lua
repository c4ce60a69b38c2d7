-- invariance_overhead.lua: the training-time cost of the invariance loss (second paper, eq. 3), as a
-- ratio to the same All-CNN-C training step without it, in one run: batches of K seeds x M copies,
-- the step with cross-entropy alone against the step with the loss over every conv's ReLU (value
-- and gradients). Median of repetitions; a benchmark, not a test.
--   rftlua tools/bench/invariance_overhead.lua [--width 0.5] [--no-bn] [--reps 5] [--steps 5]
local rft = require 'rft'

local p = require('argparse')('invariance_overhead', 'Cost of the invariance loss per training step.')
p:option('--width', 'All-CNN-C width', '0.5', tonumber)
p:flag('--no-bn', 'plain All-CNN-C (default: batch norm, as recipes/invariance_cifar.lua)')
p:option('--seeds', 'K', '16', tonumber)
p:option('--copies', 'M', '8', tonumber)
p:option('--reps', 'repetitions', '5', tonumber)
p:option('--steps', 'steps per repetition', '5', tonumber)
local o = p:parse(arg)

local net = rft.models.allcnn_c { width = o.width, bn = not o.no_bn, seed = 1 }
local params, grads = net:flatten()
local opt = rft.optim.sgd { params = params, grads = grads, lr = 1e-3, momentum = 0.9, nesterov = true }
local b = o.seeds * o.copies
local x = rft.rand.uniform(rft.tensor { shape = { b, 3, 32, 32 } }, { seed = 1 })
local g, y = {}, {}
for i = 1, b do g[i] = math.floor((i - 1) / o.copies); y[i] = g[i] % 10 end
local groups, labels = rft.from_table(g, { b }, 'i32'), rft.from_table(y, { b }, 'i32')

local function step(with_inv)
  net:zero_grad()
  local logits = net:forward(x)
  local _, dl = rft.loss.cross_entropy(logits, labels, { scale = with_inv and 0.9 or 1 })
  local tap_grads
  if with_inv then _, tap_grads = rft.loss.invariance(net:taps(), groups) end
  net:backward(x, dl, tap_grads)
  opt:step()
end

local function median(t) table.sort(t); return t[math.ceil(#t / 2)] end
local times = { [false] = {}, [true] = {} }
step(false); step(true)
for r = 1, o.reps do
  for _, w in ipairs { false, true } do           -- alternate, so load on the machine hits both alike
    local t0 = rft.train.now()
    for _ = 1, o.steps do step(w) end
    times[w][r] = (rft.train.now() - t0) / o.steps
  end
end
local a, c = median(times[false]), median(times[true])
print(string.format('All-CNN-C width %g%s, batch %d = %d seeds x %d copies', o.width, o.no_bn and '' or ' with batch norm',
  b, o.seeds, o.copies))
print(string.format('step without the invariance loss %.1f ms, with it %.1f ms: overhead %+.1f %%',
  1000 * a, 1000 * c, 100 * (c / a - 1)))
