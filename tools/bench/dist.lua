-- dist.lua: the all-reduce's share of a data-parallel training step. Run under mpirun (tools/bench/dist.sh):
-- every rank takes batch/N images of the global batch, steps, and all-reduces the flat gradient
-- buffer; the step is timed whole and the all-reduce alone, median of repetitions.
--   mpirun -np 2 build/rftlua tools/bench/dist.lua [--models fast,vgg16_w0.25,vgg16] [--batch 128] [--reps 5]
local rft = require 'rft'
local cjson = require 'cjson'
local d = rft.dist

local p = require('argparse')('dist', 'All-reduce share of a data-parallel training step.')
p:option('--models', 'models', 'fast,vgg16_w0.25,vgg16')
p:option('--batch', 'global batch', '128', tonumber)
p:option('--reps', 'repetitions', '5', tonumber)
local o = p:parse(arg)

local specs = { fast = { 'fast', {} }, vgg16_w0_25 = { 'vgg16', { width = 0.25, bn = true } },
                vgg16 = { 'vgg16', { width = 1, bn = true } }, allcnn_c = { 'allcnn_c', { bn = true } } }
local function median(t) table.sort(t); return t[math.ceil(#t / 2)] end

local r, n = d.rank(), d.size()
local lo, hi = math.floor(r * o.batch / n), math.floor((r + 1) * o.batch / n)
for name in o.models:gmatch('[^,]+') do
  local s = specs[name:gsub('%.', '_')] or error('unknown model ' .. name)
  local net = rft.models.build(s[1], s[2])
  local params, grads = net:flatten()
  d.broadcast(params, 0)
  local opt = rft.optim.sgd { params = params, grads = grads, lr = 1e-3, momentum = 0.9 }
  local x = rft.rand.uniform(rft.tensor { shape = { o.batch, 3, 32, 32 } }, { seed = 1 }):view(lo, hi)
  local yv = {}
  for i = 1, hi - lo do yv[i] = (lo + i) % 10 end
  local y = rft.from_table(yv, { hi - lo }, 'i32')
  net:train()
  local function reduce() d.allreduce(grads, 'mean') end
  local function step()
    net:zero_grad()
    local _, g = rft.loss.cross_entropy(net:forward(x), y)
    net:backward(x, g)
    reduce()
    opt:step()
  end
  step(); step()
  local steps, reduces = {}, {}
  for k = 1, o.reps do
    d.barrier()
    local t0 = rft.train.now(); step(); steps[k] = rft.train.now() - t0
    d.barrier()
    t0 = rft.train.now(); reduce(); reduces[k] = rft.train.now() - t0
  end
  local ts, tr = median(steps), median(reduces)
  local bytes = params:numel() * 4
  if r == 0 then
    print(cjson.encode { model = name, ranks = n, global_batch = o.batch, parameters = params:numel(),
                         step_s = ts, allreduce_s = tr, share = tr / ts,
                         allreduce_gbit_s = 2 * (n - 1) / n * bytes * 8 / tr / 1e9 })
    io.stdout:flush()
  end
end
