-- Data-parallel training is one process's training, split: rft.train.fit on two ranks (each with
-- its share of every global batch, gradients all-reduced) against one process, from the same seed,
-- on a small convolutional network over synthetic images: parameters, the per-epoch rows and the
-- files rank 0 writes. Without batch norm, and with batch norm synchronised across the ranks
-- (--sync-bn; per-rank statistics, the default, give other numbers). A batch of 33 splits 16 / 17, so
-- the ranks' shares are weighted. The two runs sum the same products in other orders (the ranks'
-- statistics and gradients are combined over ranks, and a convolution's blocking follows its batch):
-- equal to rounding, not bits. The network has no ReLU and no max pool: where a max-pool window
-- holds a near-tie, or a ReLU's input is within rounding of 0, the two runs' last-bit differences
-- route a gradient differently, a discontinuity that moves a weight by 1 % (on VGG-16/16 it did on
-- four of six data seeds with the AVX2 code paths and two of six with AVX-512's); with a smooth loss
-- they agree to about 1e-7 of the largest parameter on both.
-- The gradient all-reduce overlaps the backward pass in buckets (rft.dist.gradient_sync); cut into
-- many small buckets it must give the blocking all-reduce's parameters bit for bit (two ranks sum
-- a + b whatever the cut): a bucket reduced twice, missed, or started before its gradients were
-- complete would not.
local mpi = require 'support.mpi'

local FIT = [[
package.path = 'spec/?.lua;' .. package.path
local rft = require 'rft'
local bn, out = arg[1] == 'bn', arg[2]
rft.train.sync_bn = arg[3] == 'sync'
local synthetic = require 'support.synthetic'
-- seven convolutions (two of stride 2), each with batch norm in the bn mode, global average pooling
-- and a linear layer: no ReLU and no max pool, so that the loss is smooth in every activation
local nn, layers, cin = rft.nn, { input = { 3, 32, 32 } }, 3
for _, c in ipairs { { 16, 1 }, { 16, 1 }, { 32, 2 }, { 32, 1 }, { 32, 1 }, { 64, 2 }, { 64, 1 } } do
  layers[#layers + 1] = nn.Conv2d { cin = cin, cout = c[1], k = 3, stride = c[2], pad = 1, bias = not bn }
  if bn then layers[#layers + 1] = nn.BatchNorm2d { c = c[1] } end
  cin = c[1]
end
layers[#layers + 1] = nn.GlobalAvgPool2d()
layers[#layers + 1] = nn.Linear { cin = cin, cout = 4 }
local net = nn.Sequential(layers)
net:reset(3)
net:flatten()
-- without batch norm the layers are linear: halved, each keeps about 0.7 of its input's scale
-- (initialised for a ReLU's gain of 2), so the logits start small rather than at thousands
if not bn then net.flat_params:scale(0.5) end
local rows = rft.train.fit { net = net, train = synthetic(99, 1), val = synthetic(40, 2), epochs = 2, batch = 33,
                             lr = 0.01, out = out, key = 'dp' }
local f = assert(io.open(out .. '/params.txt', 'w'))     -- every rank its own file: what it holds
for _, v in ipairs(net.flat_params:to_table()) do f:write(string.format('%.9g\n', v)) end
f:close()
print(string.format('ROWS %.9g %.9g %.9g %.9g', rows[1].train_loss, rows[2].train_loss, rows[2].train_accuracy,
  rows[2].val_accuracy))
print(string.format('BUCKETS %d OVERLAP %s', #rft.dist.buckets(net, rft.dist.bucket_bytes), tostring(rft.dist.overlap)))
]]

local function read(path)
  local t = {}
  for line in io.lines(path) do t[#t + 1] = tonumber(line) end
  return t
end

local function max_diff(a, b)
  local worst, big = 0, 0
  for i = 1, #a do
    worst = math.max(worst, math.abs(a[i] - b[i]))
    big = math.max(big, math.abs(a[i]))
  end
  return worst, big
end

local function run(n, mode, sync, env)
  local dir = os.tmpname()
  os.remove(dir)
  local out, rc = mpi.run(n, FIT, mode .. ' ' .. dir .. ' ' .. (sync and 'sync' or ''), env)
  assert.equal(0, rc, out)
  return dir, out
end

local on_mpi = mpi.available and describe or pending
on_mpi('rft.train.fit on two ranks', function()
  for _, case in ipairs { { 'plain', true }, { 'bn', true } } do
    local mode = case[1]
    it('gives one process\'s training (' .. (mode == 'bn' and 'synchronised batch norm' or 'no batch norm') .. ')', function()
      local d1, o1 = run(0, mode, true)
      local d2, o2 = run(2, mode, true)
      local a, b = read(d1 .. '/params.txt'), read(d2 .. '/params.txt')
      assert.equal(#a, #b)
      local worst, big = max_diff(a, b)
      -- two epochs of float32 sums in other orders: a few ulps of the largest parameter
      assert(worst <= 1e-5 * big, string.format('max difference %.3g, largest parameter %.3g', worst, big))
      -- the rows (losses, accuracies) are the global batch's, printed once, by rank 0
      local r1 = { o1:match('ROWS (%S+) (%S+) (%S+) (%S+)') }
      local r2 = { o2:match('ROWS (%S+) (%S+) (%S+) (%S+)') }
      assert.equal(4, #r2, o2)
      local _, count = o2:gsub('ROWS', '')
      assert.equal(1, count)
      for i = 1, 4 do assert.near(tonumber(r1[i]), tonumber(r2[i]), 1e-4 * math.max(1, math.abs(tonumber(r1[i])))) end
      -- rank 0 wrote the checkpoint and the CSV, once, atomically
      for _, f in ipairs { 'checkpoint.safetensors', 'train.csv' } do
        assert.truthy(io.open(d2 .. '/' .. f), f)
      end
      os.execute('rm -rf ' .. d1 .. ' ' .. d2)
    end)
  end
  for _, case in ipairs { { 'plain', true }, { 'bn', true }, { 'bn', false } } do
    local mode, sync = case[1], case[2]
    it(string.format('overlapped in small buckets equals the blocking all-reduce exactly (%s)',
        mode == 'plain' and 'no batch norm' or sync and 'synchronised batch norm' or 'per-rank batch norm'), function()
      local d_off, o_off = run(2, mode, sync, 'RFT_DIST_OVERLAP=0')
      local d_on, o_on = run(2, mode, sync, 'RFT_DIST_BUCKET_MB=0.001')    -- 1 KiB: a bucket per layer
      assert.truthy(o_off:find('OVERLAP false', 1, true), o_off)
      local buckets = tonumber(o_on:match('BUCKETS (%d+) OVERLAP true'))
      assert(buckets and buckets >= 8, o_on)
      local a, b = read(d_off .. '/params.txt'), read(d_on .. '/params.txt')
      assert.equal(#a, #b)
      for i = 1, #a do
        if a[i] ~= b[i] then error(string.format('parameter %d: %.9g blocking, %.9g overlapped', i, a[i], b[i])) end
      end
      assert.equal(o_off:match('ROWS [^\n]*'), o_on:match('ROWS [^\n]*'))
      os.execute('rm -rf ' .. d_off .. ' ' .. d_on)
    end)
  end
  it('with per-rank batch-norm statistics (the default) differs from one process', function()
    local d1 = run(0, 'bn', false)
    local d2 = run(2, 'bn', false)
    local worst, big = max_diff(read(d1 .. '/params.txt'), read(d2 .. '/params.txt'))
    assert(worst > 1e-4 * big, string.format('max difference %.3g', worst))
    os.execute('rm -rf ' .. d1 .. ' ' .. d2)
  end)
end)
