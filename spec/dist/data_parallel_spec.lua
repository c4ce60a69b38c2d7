-- Data-parallel training is one process's training, split: K SGD steps of a small VGG-16 on two
-- ranks with half the batch each (gradients all-reduced, mean) against one process with the whole
-- batch, from the same seed; and again with batch norm, synchronised across the ranks (--sync-bn).
-- The two runs sum the same products in other orders, so they agree to rounding, not bit for bit.
local mpi = require 'support.mpi'

local STEPS = [[
local rft = require 'rft'
local d = rft.dist
local bn, out = arg[1] == 'bn', arg[2]
local net = rft.models.vgg16 { width = 1 / 16, bn = bn, seed = 3 }
net:train()
for _, m in ipairs(net.modules) do m.sync = bn end
local params, grads = net:flatten()
d.broadcast(params, 0)
local opt = rft.optim.sgd { params = params, grads = grads, lr = 0.05, momentum = 0.9, weight_decay = 5e-4 }
local B, r, n = 16, d.rank(), d.size()
local lo, hi = r * B / n, (r + 1) * B / n
for step = 1, 3 do
  local x = rft.rand.uniform(rft.tensor { shape = { B, 3, 32, 32 } }, { seed = step })
  local y = {}
  for i = 1, B do y[i] = (7 * i + step) % 10 end
  local labels = rft.from_table(y, { B }, 'i32')
  net:zero_grad()
  local xs = x:view(lo, hi)
  local logits = net:forward(xs)
  local _, g = rft.loss.cross_entropy(logits, labels:view(lo, hi))
  net:backward(xs, g)
  d.allreduce(grads, 'mean')
  opt:step()
end
if r == 0 then
  local f = assert(io.open(out, 'w'))
  for _, v in ipairs(params:to_table()) do f:write(string.format('%.9g\n', v)) end
  f:close()
end
]]

local function read(path)
  local t = {}
  for line in io.lines(path) do t[#t + 1] = tonumber(line) end
  return t
end

local on_mpi = mpi.available and describe or pending
on_mpi('data-parallel SGD on two ranks', function()
  for _, mode in ipairs { 'plain', 'bn' } do
    it('gives one process\'s parameters (' .. (mode == 'bn' and 'synchronised batch norm' or 'no batch norm') .. ')', function()
      local one, two = os.tmpname(), os.tmpname()
      local o1, rc1 = mpi.run(0, STEPS, mode .. ' ' .. one)
      assert.equal(0, rc1, o1)
      local o2, rc2 = mpi.run(2, STEPS, mode .. ' ' .. two)
      assert.equal(0, rc2, o2)
      local a, b = read(one), read(two)
      os.remove(one); os.remove(two)
      assert.equal(#a, #b)
      local worst, big = 0, 0
      for i = 1, #a do
        worst = math.max(worst, math.abs(a[i] - b[i]))
        big = math.max(big, math.abs(a[i]))
      end
      -- three steps of float32 sums in other orders: a few ulps of the largest parameter
      assert(worst <= 1e-5 * big, string.format('max difference %.3g, largest parameter %.3g', worst, big))
    end)
  end
end)
