-- Whole steps on the GPU against the CPU: a training step of the fast model and of All-CNN-C with
-- dropout (loss, logits, every parameter gradient, then the parameters after a few SGD steps), the
-- two-view FMA and ST steps, the invariance step on K x M copies, the data path (batches with crop
-- and flip converted on the device) and evaluation. Models are built on each device from the same
-- seed, then given the CPU model's state, so only the arithmetic differs. Without a GPU every case
-- is pending (RFT_CUDA_SPECS_ON_CPU=1 runs them with the CPU standing in, to check this file).
local rft = require 'rft'
local cuda = require 'support.cuda'
local gpu, dev, close, same_bits, close_number = cuda.gpu, cuda.dev, cuda.close, cuda.same_bits, cuda.close_number

-- f() with rft.device(device) as the default device, which is restored after.
local function on(device, f)
  local old = rft.device()
  rft.device(device)
  local ok, a, b = pcall(f)
  rft.device(old)
  if not ok then error(a, 0) end
  return a, b
end

-- The same network on the CPU and on the device under test, with the CPU's parameters and
-- batch-norm statistics.
local function pair(build)
  local cpu = build()
  local g = on(cuda.device, build)
  g:load_state_dict(cpu:state_dict())
  return cpu, g
end

local function batch(n, seed)
  local x = rft.rand.uniform(rft.tensor { shape = { n, 3, 32, 32 } }, { seed = seed })
  local labels = {}
  for i = 1, n do labels[i] = (i * 7 + seed) % 10 end
  return x, rft.from_table(labels, { n }, 'i32')
end

-- One plain CE step: returns the loss and the logits (copied).
local function ce_step(net, x, y)
  net:zero_grad()
  local logits = net:forward(x)
  local loss, g = rft.loss.cross_entropy(logits, y)
  net:backward(x, g)
  return loss, logits:copy()
end

describe('a training step on the GPU', function()
  gpu('of the fast model gives the CPU loss, logits and gradients, and the same parameters after SGD', function()
    local cpu, g = pair(function() return rft.models.fast { width = 0.25, seed = 2 } end)
    local x, y = batch(12, 1)
    local xd, yd = dev(x), dev(y)
    local pc, gc = cpu:flatten()
    local pg, gg = g:flatten()
    local oc = rft.optim.sgd { params = pc, grads = gc, lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 5e-4 }
    local og = rft.optim.sgd { params = pg, grads = gg, lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 5e-4 }
    for step = 1, 3 do
      cpu:train(); g:train()
      local lc, logits_c = ce_step(cpu, x, y)
      local lg, logits_g = ce_step(g, xd, yd)
      close_number(lc, lg, 1e-5, 1e-4, 'loss at step ' .. step)
      close(logits_c, logits_g, 1e-4, 1e-3, 'logits at step ' .. step)
      close(gc, gg, 2e-5, 2e-3, 'parameter gradients at step ' .. step)
      oc:step(); og:step()
    end
    close(pc, pg, 1e-5, 1e-3, 'parameters after three steps')
    for name, t in pairs(cpu:state_dict()) do
      if name:match('running_') then close(t, g:state_dict()[name], 1e-5, 1e-3, name) end
    end
  end)

  gpu('of All-CNN-C with dropout draws the same masks and gives the CPU gradients', function()
    local cpu, g = pair(function() return rft.models.allcnn_c { width = 0.25, bn = true, dropout = true, seed = 4 } end)
    local x, y = batch(6, 2)
    cpu:train(); g:train()
    local lc, logits_c = ce_step(cpu, x, y)
    local lg, logits_g = ce_step(g, dev(x), dev(y))
    close_number(lc, lg, 1e-5, 1e-4, 'loss')
    close(logits_c, logits_g, 1e-4, 1e-3, 'logits')
    close(cpu.flat_grads, g.flat_grads, 2e-5, 2e-3, 'parameter gradients')
  end)

  gpu('two-view FMA and ST steps give the CPU losses and gradients', function()
    for _, method in ipairs { 'FMA', 'ST' } do
      local cpu, g = pair(function() return rft.models.fast { width = 0.25, seed = 5 } end)
      rft.robust.freeze_bn(cpu); rft.robust.freeze_bn(g)
      local x, y = batch(4, 3)
      local xt = rft.rand.uniform(rft.tensor { shape = { 4, 3, 32, 32 } }, { seed = 9 })
      local o = { gamma = 0.5, alpha = 0.1, exact_normalizer = true }
      cpu:zero_grad(); g:zero_grad()
      local tc, _, pc = rft.robust.step(method, cpu, x, xt, y, o)
      local tg, _, pg = rft.robust.step(method, g, dev(x), dev(xt), dev(y), o)
      close_number(tc, tg, 1e-5, 1e-4, method .. ' total loss')
      close_number(pc.extra, pg.extra, 1e-6, 1e-3, method .. ' term')
      close(cpu.flat_grads, g.flat_grads, 2e-5, 2e-3, method .. ' parameter gradients')
    end
  end)

  gpu('with the invariance loss on K x M heavier copies gives the CPU loss per layer and gradients', function()
    local cpu, g = pair(function() return rft.models.allcnn_c { width = 0.25, bn = true, seed = 6 } end)
    local x, y = batch(3, 4)
    local ids = rft.from_table({ 10, 11, 12 }, { 3 }, 'i32')
    local copies = rft.aug.copies(rft.aug.heavier(), 4)
    local function step(net, xs, groups, labels)
      net:train()
      net:zero_grad()
      local logits = net:forward(xs)
      local ce, gl = rft.loss.cross_entropy(logits, labels, { scale = 0.9 })
      local inv, tap_grads, per = rft.loss.invariance(net:taps(), groups, {})
      net:backward(xs, gl, tap_grads)
      return ce + inv, per
    end
    local xs_c, groups_c = copies:apply(x, { seed = 3, ids = ids })
    local xs_g, groups_g = copies:apply(dev(x), { seed = 3, ids = dev(ids) })
    close(xs_c, xs_g, 1e-6, 1e-5, 'the heavier copies')
    same_bits(groups_c, groups_g, 'groups')
    local labels_c = rft.tensor { shape = { 0 }, dtype = 'i32', device = 'cpu' }
    rft.C.rft_tensor_gather(y, groups_c, labels_c)
    local lc, per_c = step(cpu, xs_c, groups_c, labels_c)
    local lg, per_g = step(g, xs_g, groups_g, dev(labels_c))
    close_number(lc, lg, 1e-5, 1e-4, 'total loss')
    for name, v in pairs(per_c) do close_number(v, per_g[name], 1e-6, 1e-3, 'L_inv of ' .. name) end
    close(cpu.flat_grads, g.flat_grads, 2e-5, 2e-3, 'parameter gradients')
  end)
end)

describe('the data path on the GPU', function()
  -- A small dataset in the layout rft.data.cifar10 returns.
  local function dataset(n)
    local images = rft.tensor { shape = { n, 3, 32, 32 }, dtype = 'u8', device = 'cpu' }
    local p = images:data()
    for i = 0, images:numel() - 1 do p[i] = (i * 131 + 7) % 256 end
    local labels = {}
    for i = 1, n do labels[i] = i % 10 end
    return { images = images, labels = rft.from_table(labels, { n }, 'i32', 'cpu'), n = n,
             classes = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j' } }
  end

  gpu('gives the CPU batches bit for bit, cropped and flipped, the last one short', function()
    local d = dataset(37)
    local o = { batch = 16, shuffle = true, seed = 3, epoch = 2, crop = 4, flip = true }
    local want = {}
    for x, y, ids in rft.data.batches(d, o) do want[#want + 1] = { x:copy(), y:copy(), ids:copy() } end
    o.device = cuda.device
    local b = 0
    for x, y, ids in rft.data.batches(d, o) do
      b = b + 1
      assert.equal(cuda.device, x:device())
      same_bits(want[b][1], x, 'images of batch ' .. b)
      same_bits(want[b][2], y, 'labels of batch ' .. b)
      same_bits(want[b][3], ids, 'ids of batch ' .. b)
    end
    assert.equal(3, b)
  end)

  gpu('evaluates a model to the CPU accuracy, per class and loss', function()
    local d = dataset(50)
    local cpu, g = pair(function() return rft.models.fast { width = 0.25, seed = 7 } end)
    local acc_c, per_c, loss_c = rft.train.evaluate(cpu, d, { batch = 20 })
    local acc_g, per_g, loss_g = rft.train.evaluate(g, d, { batch = 20 })    -- batches go to g's device
    -- ties between near-equal logits could flip a prediction; these random weights leave none
    assert.equal(acc_c, acc_g)
    assert.same(per_c, per_g)
    close_number(loss_c, loss_g, 1e-5, 1e-4, 'mean loss')
  end)

  gpu('scores invariance per layer as the CPU does', function()
    local d = dataset(12)
    local cpu, g = pair(function() return rft.models.fast { width = 0.25, seed = 8 } end)
    local sc, names = rft.invariance.layer_scores(cpu, d, rft.aug.G(), { draws = 2, batch = 5 })
    local sg = rft.invariance.layer_scores(g, d, rft.aug.G(), { draws = 2, batch = 5 })
    for _, name in ipairs(names) do close(sc[name], sg[name], 1e-4, 1e-3, 'scores of ' .. name) end
  end)
end)
