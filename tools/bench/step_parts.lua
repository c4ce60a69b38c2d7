-- step_parts.lua: two kinds of two-view step (FMA and AT by default) alternated in one process, each
-- repetition timing `--steps` steps of each; prints per part (forward, loss, backward: rft.robust.timings)
-- and in all the median of each kind and the median of the paired differences, which drift on a busy
-- machine cancels out of. What a two-view method's own work costs beyond AT's, which adds nothing but
-- the second half of the batch. The method 'clean' is a plain step of the clean batch: --kinds AT,clean
-- is what doubling the batch costs, --kinds FMA,clean the two-view target's ratio from adjacent windows;
-- 'twice' (not a method) puts each view through as a batch of its own, one optimizer step for both:
-- --kinds AT,twice is what the doubled batch costs beyond two batches.
--   rftlua tools/bench/step_parts.lua --model vgg16_w0.25 --reps 8 --steps 8
--   rftlua tools/bench/step_parts.lua --model vgg16_w0.5 --bn --kinds FMA,ST
local rft = require 'rft'

local p = require('argparse')('step_parts', 'two two-view steps alternated, part by part')
p:option('--model', 'fast, quick, vgg16, allcnn_c (a _w<width> suffix scales any)', 'vgg16_w0.25')
p:option('--kinds', 'two methods, comma-separated (the second is the baseline of the differences)', 'FMA,AT')
p:option('--batch', 'clean images a step', '128', tonumber)
p:option('--reps', 'repetitions', '8', tonumber)
p:option('--steps', 'steps of each kind a repetition', '8', tonumber)
p:flag('--bn', 'with batch norm (frozen, as fine-tuning runs)')
p:flag('--random-xt', 'the second view independent noise instead of Combined+ of the first')
local o = p:parse(arg)
local kinds = {}
for k in o.kinds:gmatch('[^,]+') do kinds[#kinds + 1] = k end
if #kinds ~= 2 then error("step_parts: --kinds must name two methods, got '" .. o.kinds .. "'") end
local width = tonumber(o.model:match('_w([%d.]+)$') or 1)
local net = rft.models.build(o.model:gsub('_w[%d.]+$', ''), { width = width, bn = o.bn })
rft.robust.freeze_bn(net)
local params, grads = net:flatten()
local opt = rft.optim.sgd { params = params, grads = grads, lr = 1e-4, momentum = 0.9 }
local x = rft.rand.uniform(rft.tensor { shape = { o.batch, 3, 32, 32 } }, { seed = 1 })
local xt = rft.tensor { shape = { 0 } }
if o.random_xt then rft.rand.uniform(xt:resize { o.batch, 3, 32, 32 }, { seed = 2 })
else rft.aug.paper.cifar10['Combined+']:apply(x, { seed = 1, out = xt }) end   -- as the fine-tuning step
local yv = {}
for i = 1, o.batch do yv[i] = i % 10 end
local y = rft.from_table(yv, { o.batch }, 'i32')
local options = { FMA = { gamma = 0.03, exact_normalizer = true }, ST = { alpha = 0.1 } }
local parts = { 'forward', 'loss', 'backward', 'step' }
local res = {}
for _, k in ipairs(kinds) do res[k] = {}; for _, q in ipairs(parts) do res[k][q] = {} end end
local function run(k, r)
  rft.robust.timings = {}
  local t0 = rft.train.now()
  for _ = 1, o.steps do
    net:zero_grad()
    if k == 'twice' then   -- one plain pass of each view, then the optimizer: the two views as two batches
      rft.robust.step('clean', net, x, xt, y)
      rft.robust.step('clean', net, xt, x, y)
    else
      rft.robust.step(k, net, x, xt, y, options[k] or {})
    end
    opt:step()
  end
  local t = rft.robust.timings
  res[k].step[r] = (rft.train.now() - t0) / o.steps
  for _, q in ipairs { 'forward', 'loss', 'backward' } do res[k][q][r] = t[q] / o.steps end
end
for _, k in ipairs(kinds) do run(k, 0) end         -- warm-up: plans, buffers
for r = 1, o.reps do for _, k in ipairs(kinds) do run(k, r) end end
local function median(f)   -- of f(r) over the repetitions
  local c = {}
  for r = 1, o.reps do c[r] = f(r) end
  return require('rft.stats').median(c)
end
os.execute('/usr/bin/python3 ' .. (arg[0]:match('^(.*)/[^/]*$') or '.') .. '/machine.py')   -- which machine
io.stdout:flush()
local a, b = kinds[1], kinds[2]
print(string.format('%s, batch %d of each view, %d reps of %d steps, %d threads', o.model .. (o.bn and ' (batch norm)' or ''),
  o.batch, o.reps, o.steps, rft.threads()))
for _, q in ipairs(parts) do
  print(string.format('%-9s %s %8.2f ms   %s %8.2f ms   %s - %s %7.2f ms (median of the paired differences)', q, a,
    median(function(r) return res[a][q][r] end) * 1e3, b, median(function(r) return res[b][q][r] end) * 1e3, a, b,
    median(function(r) return res[a][q][r] - res[b][q][r] end) * 1e3))
end
print(string.format('step      %s / %s %.3f (median of the paired ratios)', a, b, median(function(r) return res[a].step[r] / res[b].step[r] end)))
