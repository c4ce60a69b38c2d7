-- step_loop.lua: one kind of training step repeated, for a profiler (perf record) or a plain timing of
-- that kind alone; tools/bench/train_step.lua alternates the kinds and reports ratios instead.
-- Prints the mean milliseconds a step and images/s (the clean batch) over --steps after 5 warm-up steps.
--   rftlua tools/bench/step_loop.lua --model fast --kind plain --steps 150
--   perf record -g rftlua tools/bench/step_loop.lua --model vgg16_w0.25 --kind FMA
--   rftlua tools/bench/step_loop.lua --model vgg16_w0.5 --bn --kind FMA   # Table 3's step
--   rftlua tools/bench/step_loop.lua --model vgg16_w0.25 --kind FMA --parts   # forward, loss, backward apart
local rft = require 'rft'
local ffi = require 'ffi'

local p = require('argparse')('step_loop', 'one kind of training step, repeated')
p:option('--model', 'fast, quick, vgg16, vgg16_w0.5, vgg16_w0.25 or allcnn_c (a _w<width> suffix scales any)', 'fast')
p:option('--kind', "plain (cross-entropy) or a two-view method over [x ; x~]: FMA, ST, AT", 'plain')
p:option('--batch', 'batch size (clean images)', '128', tonumber)
p:option('--steps', 'timed steps', '100', tonumber)
p:flag('--bn', 'with batch norm (the fast model has it anyway; frozen in the two-view steps, as fine-tuning runs)')
p:flag('--parts', 'also print the milliseconds a step spends in forward, loss and backward (two-view kinds)')
local o = p:parse(arg)
local width = tonumber(o.model:match('_w([%d.]+)$') or 1)
local net = rft.models.build(o.model:gsub('_w[%d.]+$', ''), { width = width, bn = o.bn })
if o.kind ~= 'plain' then rft.robust.freeze_bn(net) end
local params, grads = net:flatten()
local opt = rft.optim.sgd { params = params, grads = grads, lr = 1e-3, momentum = 0.9 }
local x = rft.rand.uniform(rft.tensor { shape = { o.batch, 3, 32, 32 } }, { seed = 1 })
local xt = rft.rand.uniform(rft.tensor { shape = { o.batch, 3, 32, 32 } }, { seed = 2 })
local yv = {}
for i = 1, o.batch do yv[i] = i % 10 end
local y = rft.from_table(yv, { o.batch }, 'i32')
local loss, dlogits = ffi.new('double[1]'), rft.tensor { shape = { 0 } }
local options = { FMA = { gamma = 0.03, exact_normalizer = true }, ST = { alpha = 0.1 }, AT = {} }
if o.kind ~= 'plain' and not options[o.kind] then error("step_loop: --kind must be plain, FMA, ST or AT, got '" .. o.kind .. "'") end
local function step()
  net:zero_grad()
  if o.kind == 'plain' then
    local logits = net:forward(x)
    rft.C.rft_cross_entropy(logits, y, 0, o.batch, 1, loss, dlogits)
    net:backward(x, dlogits, nil, { input_grad = false })
  else
    rft.robust.step(o.kind, net, x, xt, y, options[o.kind])
  end
  opt:step()
end
for _ = 1, 5 do step() end
if o.parts then rft.robust.timings = {} end
local t0 = rft.train.now()
for _ = 1, o.steps do step() end
local s = (rft.train.now() - t0) / o.steps
local bn = ''
for _, m in ipairs(net.modules) do if m.__typename == 'nn.BatchNorm2d' then bn = ' (batch norm)' end end
print(string.format('%s%s %s batch %d: %.2f ms a step, %.1f images/s, %d threads', o.model, bn, o.kind, o.batch,
  s * 1000, o.batch / s, rft.threads()))
local t = rft.robust.timings
if t and t.forward then
  print(string.format('  of which forward %.2f ms, loss %.2f ms, backward %.2f ms (the rest: zeroing, the optimizer step)',
    t.forward * 1000 / o.steps, t.loss * 1000 / o.steps, t.backward * 1000 / o.steps))
end
