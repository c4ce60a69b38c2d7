-- batch_scaling.lua: how each layer's forward and backward scale from one batch size to another (a
-- two-view step runs the network at twice the clean batch). Two copies of the network, one per batch,
-- take turns within each repetition; prints per module the milliseconds at the first batch and the
-- median ratio of the paired timings, then the whole step's. Plain steps (cross-entropy, SGD), the
-- input's gradient included.
--   rftlua tools/bench/batch_scaling.lua --model vgg16_w0.25 --batches 128,256 --reps 5 --steps 15
local rft = require 'rft'
local ffi = require 'ffi'

local p = require('argparse')('batch_scaling', 'per-layer cost at two batch sizes')
p:option('--model', 'fast, quick, vgg16, allcnn_c (a _w<width> suffix scales any)', 'vgg16_w0.25')
p:option('--batches', 'two batch sizes, comma-separated', '128,256')
p:option('--reps', 'repetitions', '5', tonumber)
p:option('--steps', 'steps of each batch a repetition', '15', tonumber)
local o = p:parse(arg)
local sizes = {}
for b in o.batches:gmatch('[^,]+') do sizes[#sizes + 1] = tonumber(b) end
if #sizes ~= 2 then error("batch_scaling: --batches must name two sizes, got '" .. o.batches .. "'") end
local width = tonumber(o.model:match('_w([%d.]+)$') or 1)

local function setup(batch)
  local net = rft.models.build(o.model:gsub('_w[%d.]+$', ''), { width = width })
  net:train()
  local params, grads = net:flatten()
  local opt = rft.optim.sgd { params = params, grads = grads, lr = 1e-3, momentum = 0.9 }
  local x = rft.rand.uniform(rft.tensor { shape = { batch, 3, 32, 32 } }, { seed = 1 })
  local yv = {}
  for i = 1, batch do yv[i] = i % 10 end
  local y = rft.from_table(yv, { batch }, 'i32')
  local loss, dl = ffi.new('double[1]'), rft.tensor { shape = { 0 } }
  local s = { net = net, fwd = {}, bwd = {}, step = {} }
  local function timed(i, f, into)   -- wraps module i's hook, adding its seconds into into[i][rep]
    return function(...)
      local t = rft.train.now()
      local r = f(...)
      if s.rep then into[i][s.rep] = (into[i][s.rep] or 0) + rft.train.now() - t end
      return r
    end
  end
  for i, m in ipairs(net.modules) do
    s.fwd[i], s.bwd[i] = {}, {}
    m.forward, m.backward = timed(i, m.forward, s.fwd), timed(i, m.backward, s.bwd)
    if m.forward_relu then m.forward_relu = timed(i, m.forward_relu, s.fwd) end
    if m.backward_relu then m.backward_relu = timed(i, m.backward_relu, s.bwd) end
  end
  function s.run(rep)
    s.rep = rep
    local t0 = rft.train.now()
    for _ = 1, o.steps do
      net:zero_grad()
      local logits = net:forward(x)
      rft.C.rft_cross_entropy(logits, y, 0, batch, 1, loss, dl)
      net:backward(x, dl)
      opt:step()
    end
    if rep then s.step[rep] = rft.train.now() - t0 end
  end
  return s
end

local A, B = setup(sizes[1]), setup(sizes[2])
A.run(); B.run()                                    -- warm-up: plans, buffers
for r = 1, o.reps do A.run(r); B.run(r) end
local function median(f)   -- of f(r) over the repetitions
  local c = {}
  for r = 1, o.reps do c[r] = f(r) end
  return require('rft.stats').median(c)
end
os.execute('/usr/bin/python3 ' .. (arg[0]:match('^(.*)/[^/]*$') or '.') .. '/machine.py')
io.stdout:flush()
print(string.format('%s, batch %d against %d, %d reps of %d steps, %d threads; ms at batch %d, then the median ratio',
  o.model, sizes[2], sizes[1], o.reps, o.steps, rft.threads(), sizes[1]))
for i, m in ipairs(A.net.modules) do
  local function cols(a, b)
    if not a[1] then return '     -          ' end
    return string.format('%7.2f ms x%.2f', median(function(r) return a[r] end) / o.steps * 1e3,
      median(function(r) return (b[r] or 0) / a[r] end))
  end
  print(string.format('%2d %-36s forward %s   backward %s', i, tostring(m):sub(1, 36), cols(A.fwd[i], B.fwd[i]),
    cols(A.bwd[i], B.bwd[i])))
end
print(string.format('step %.2f ms x%.3f', median(function(r) return A.step[r] end) / o.steps * 1e3,
  median(function(r) return B.step[r] / A.step[r] end)))
