-- dist.lua: the all-reduce's share of a data-parallel training step, blocking and overlapped with the
-- backward pass. Run under mpirun (tools/bench/dist.sh): every rank takes batch/N images of the
-- global batch and steps four ways, interleaved repetition by repetition (a busy machine drifts):
--   compute     forward + backward + optimizer step, no all-reduce (the ranks drift apart: the floor)
--   blocking    then one all-reduce of the whole flat gradient buffer (RFT_DIST_OVERLAP=0's path)
--   overlapped  rft.dist.gradient_sync's buckets, started as the backward pass finishes their layers
--   reduce      the blocking all-reduce alone
-- and prints one JSON line per model (medians): the step times, the time each way spends inside the
-- collective calls (its exposed all-reduce: on the CPU, MPI moves data only inside them) and that
-- time's share of the step.
--   mpirun -np 2 build/rftlua tools/bench/dist.lua [--models fast,vgg16_w0.25,vgg16] [--batch 128]
--          [--reps 5] [--bucket-mb 4]
local rft = require 'rft'
local cjson = require 'cjson'
local d = rft.dist

local p = require('argparse')('dist', 'All-reduce share of a data-parallel training step.')
p:option('--models', 'models', 'fast,vgg16_w0.25,vgg16')
p:option('--batch', 'global batch', '128', tonumber)
p:option('--reps', 'repetitions', '5', tonumber)
p:option('--bucket-mb', 'MiB of gradient per bucket', tostring(d.bucket_bytes / 2 ^ 20), tonumber)
local o = p:parse(arg)

local specs = { fast = { 'fast', {} }, vgg16_w0_25 = { 'vgg16', { width = 0.25, bn = true } },
                vgg16 = { 'vgg16', { width = 1, bn = true } }, allcnn_c = { 'allcnn_c', { bn = true } } }
local median = require('rft.stats').median
local now = rft.train.now

local r, n = d.rank(), d.size()
local lo, hi = math.floor(r * o.batch / n), math.floor((r + 1) * o.batch / n)
local bucket_bytes = math.floor(o.bucket_mb * 2 ^ 20)
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
  local syncs = { blocking = d.gradient_sync(net, { overlap = false }),
                  overlapped = d.gradient_sync(net, { overlap = true, bucket_bytes = bucket_bytes }) }
  local function step(sync)
    net:zero_grad()
    if sync then sync:begin(1) end
    local _, g = rft.loss.cross_entropy(net:forward(x), y)
    net:backward(x, g, nil, { input_grad = false })
    if sync then sync:finish() end
    opt:step()
  end
  for _ = 1, 2 do step(syncs.blocking); step(syncs.overlapped) end    -- warm-up: buffers, MPI connections
  local t, comm = { compute = {}, blocking = {}, overlapped = {}, reduce = {} }, { blocking = {}, overlapped = {} }
  for k = 1, o.reps do
    for _, way in ipairs { 'compute', 'blocking', 'overlapped' } do
      local sync = syncs[way]
      local c0 = sync and sync.seconds
      d.barrier()
      local t0 = now(); step(sync); t[way][k] = now() - t0
      if sync then comm[way][k] = sync.seconds - c0 end
    end
    d.barrier()
    local t0 = now(); d.allreduce(grads, 'mean'); t.reduce[k] = now() - t0
  end
  local m = {}
  for way, v in pairs(t) do m[way] = median(v) end
  local cb, co = median(comm.blocking), median(comm.overlapped)
  local bytes = params:numel() * 4
  if r == 0 then
    print(cjson.encode { model = name, ranks = n, global_batch = o.batch, parameters = params:numel(),
                         buckets = #d.buckets(net, bucket_bytes), bucket_mb = o.bucket_mb,
                         compute_s = m.compute, blocking_s = m.blocking, overlapped_s = m.overlapped,
                         allreduce_s = m.reduce, exposed_blocking_s = cb, exposed_overlapped_s = co,
                         share_blocking = cb / m.blocking, share_overlapped = co / m.overlapped,
                         allreduce_gbit_s = 2 * (n - 1) / n * bytes * 8 / m.reduce / 1e9 })
    io.stdout:flush()
  end
end
