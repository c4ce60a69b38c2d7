-- invariance_cifar: data-augmentation invariance (Hernandez-Garcia et al.) on CIFAR-10. Trains
-- All-CNN-C twice from the same initialisation and batches -- a baseline (alpha = 0, invariance still
-- measured) and the invariance model, loss (1 - alpha) CE + sum_l alpha_l L_inv,l over every conv's
-- ReLU -- on batches of K seed images x M copies of the heavier augmentation; reports test accuracy
-- (clean and under the heavier scheme), the per-layer invariance loss per epoch (the paper's
-- Figure 2) and the invariance scores per layer (Figure 1); tools/bench/invariance_overhead.lua
-- measures the loss's cost per step.
--   rftlua recipes/invariance_cifar.lua [--width 0.5] [--epochs 12] [--alpha 0.1] ...
-- Defaults fit a 2-core CPU in about 45 minutes; batch norm (the authors' released code) lets the short
-- run train at the paper's learning rate, where plain All-CNN-C was still at chance after an epoch.
-- The paper: --no-bn --width 1 --epochs 350 --steps-per-epoch 352 (lr 0.01, /10 at 200, 250, 300), on a GPU.
local rft = require 'rft'
local experiment = require 'rft.experiment'
local report = require 'rft.report'
local util = require 'rft.util'

local p = require('argparse')('invariance_cifar', 'All-CNN-C with and without the invariance loss.')
p:option('--data', 'CIFAR-10 folder (default: $RFT_DATA, then data/cifar-10-batches-bin)')
experiment.device_option(p)
p:option('--out', 'output folder', 'runs/invariance_cifar')
p:option('--width', 'All-CNN-C width multiplier', '0.5', tonumber)
p:flag('--no-bn', 'plain All-CNN-C, as in the paper (default: batch norm after each convolution, as in the authors\' code)')
p:option('--epochs', 'epochs of --steps-per-epoch batches', '12', tonumber)
p:option('--steps-per-epoch', 'batches per epoch (default: 45,000 images per epoch)', nil, tonumber)
p:option('--seeds', 'seed images per batch (K)', '16', tonumber)
p:option('--copies', 'augmented copies per seed image (M)', '8', tonumber)
p:option('--alpha', 'total weight of the invariance terms', '0.1', tonumber)
p:option('--lr', 'learning rate, divided by 10 at 200/350, 250/350 and 300/350 of the run', '0.01', tonumber)
p:flag('--same-class', 'denominator over same-class pairs (the authors\' released code)')
p:option('--score-images', 'test images for the invariance scores (the paper: 10,000)', '2000', tonumber)
p:option('--draws', 'draws of G per test image', '5', tonumber)
p:option('--seed', 'seed of the initialisation, the batches and the augmentations', '0', tonumber)
local o = p:parse(arg)
local t_run = rft.train.now()

local d = experiment.cifar(o.data)
local steps = o.steps_per_epoch or math.ceil(d.train.n / (o.seeds * o.copies))
local copies = rft.aug.copies(rft.aug.heavier(), o.copies)
local function lr_at(t) -- the paper's steps at 200, 250, 300 of 350 epochs, scaled to this run
  local f = t / o.epochs
  return o.lr / (f < 200 / 350 and 1 or f < 250 / 350 and 10 or f < 300 / 350 and 100 or 1000)
end
util.mkdir_p(o.out)

-- One model: returns it, its per-epoch rows (with each layer's L_inv) and its training seconds.
local function train(name, alpha)
  local net = rft.models.allcnn_c { width = o.width, bn = not o.no_bn, seed = o.seed }
  local params, grads = net:flatten()
  local opt = rft.optim.sgd { params = params, grads = grads, lr = o.lr, momentum = 0.9, nesterov = true }
  local names = {}
  for i, t in ipairs(net:taps()) do names[i] = t.name end
  if #names == 0 then
    net:forward(rft.tensor { shape = { 1, 3, 32, 32 } })
    for i, t in ipairs(net:taps()) do names[i] = t.name end
  end
  local weights = rft.loss.invariance_weights(names, alpha > 0 and alpha or 1)
  local rows, train_seconds = {}, 0
  for epoch = 1, o.epochs do
    net:train()
    local t0 = rft.train.now()
    local sums, n, ce_sum, right = {}, 0, 0, 0
    local b = 0
    for x, y, ids in rft.data.batches(d.train, { batch = o.seeds, shuffle = true, seed = o.seed, epoch = epoch }) do
      b = b + 1
      if b > steps then break end
      opt.lr = lr_at(epoch - 1 + (b - 1) / steps)
      local xs, groups = copies:apply(x, { seed = o.seed * 7919 + epoch, ids = ids })
      local labels = rft.tensor { shape = { 0 }, dtype = 'i32' }
      rft.C.rft_tensor_gather(y, groups, labels)
      net:zero_grad()
      local logits = net:forward(xs)
      local ce, g = rft.loss.cross_entropy(logits, labels, { scale = 1 - alpha })
      local _, tap_grads, per = rft.loss.invariance(net:taps(), groups, {
        weights = weights, normalizer = o.same_class and 'same_class' or 'all', labels = labels })
      -- alpha = 0 measures L_inv without training on it
      net:backward(xs, g, alpha > 0 and tap_grads or nil)
      opt:step()
      for k, v in pairs(per) do sums[k] = (sums[k] or 0) + v end
      n, ce_sum, right = n + 1, ce_sum + ce / (1 - alpha), right + rft.train.correct(logits, labels)
      rft.train.progress(string.format('%s epoch %d/%d batch %d/%d loss %.4f acc %.2f%%', name, epoch, o.epochs,
        b, steps, ce_sum / n, 100 * right / (n * o.seeds * o.copies)))
    end
    local secs = rft.train.now() - t0
    train_seconds = train_seconds + secs
    local row = { epoch = epoch, lr = opt.lr, train_loss = ce_sum / n, train_accuracy = 100 * right / (n * o.seeds * o.copies),
                  seconds = secs, val_accuracy = rft.train.evaluate(net, d.val) }
    for _, k in ipairs(names) do row[k] = sums[k] / n end
    rows[#rows + 1] = row
    rft.train.progress(string.format('%s epoch %d/%d: loss %.4f, val %.2f %%, %s', name, epoch, o.epochs,
      row.train_loss, row.val_accuracy, rft.train.hms(secs)), true)
  end
  local cols = { 'epoch', 'lr', 'train_loss', 'train_accuracy', 'val_accuracy', 'seconds' }
  for _, k in ipairs(names) do cols[#cols + 1] = k end
  rft.train.write_csv(o.out .. '/' .. name .. '_train.csv', rows, cols)
  report.plot_csv(o.out .. '/' .. name .. '_train.csv', o.out .. '/' .. name .. '_invariance_loss.png',
    { x = 'epoch', ys = names, title = name .. ': invariance loss per layer (the paper\'s Figure 2)', ylabel = 'invariance loss L_{inv}' })
  rft.safetensors.save(o.out .. '/' .. name .. '.safetensors', net:state_dict(), { model = 'allcnn_c', width = o.width })
  return net, rows, train_seconds, names
end

local results = { config = o, models = {} }
local box = { 'layer' }
for _, spec in ipairs { { 'baseline', 0 }, { 'invariance', o.alpha } } do
  local name, alpha = spec[1], spec[2]
  local net, rows, seconds, names = train(name, alpha)
  local heavier = rft.aug.heavier()
  local acc = rft.train.evaluate(net, d.test)
  local acc_h = rft.train.evaluate(net, d.test, { transform = function(x, ids) return heavier:apply(x, { seed = 99, ids = ids }) end })
  local scores = rft.invariance.layer_scores(net, d.test, rft.aug.G(), { draws = o.draws, images = o.score_images, seed = o.seed })
  local summary = rft.invariance.summary(scores, names)
  results.models[name] = { test_accuracy = acc, test_accuracy_heavier = acc_h, train_seconds = seconds,
                           scores = summary, epochs = rows }
  -- scores as CSV columns (one per layer) for the box plot
  local lines = { table.concat(names, ',') }
  local cols = {}
  for i, k in ipairs(names) do cols[i] = scores[k]:to_table() end
  for r = 1, #cols[1] do
    local v = {}
    for i = 1, #names do v[i] = string.format('%.5g', cols[i][r]) end
    lines[#lines + 1] = table.concat(v, ',')
  end
  util.write_atomic(o.out .. '/' .. name .. '_scores.csv', table.concat(lines, '\n') .. '\n')
  box.names = names
  print(string.format('%s: test %.2f %% (heavier %.2f %%); median scores %s', name, acc, acc_h,
    table.concat((function() local t = {} for i, k in ipairs(names) do t[i] = string.format('%s %.3f', k, summary[k].median) end return t end)(), ', ')))
end

-- Figure 1: per-layer score distributions, baseline beside the invariance model
local plots = {}
for i = 1, #box.names do
  plots[#plots + 1] = string.format("'%s/baseline_scores.csv' using (%d-0.18):%d with boxplot lc rgb '#4060c0' title '%s'",
    o.out, i, i, i == 1 and 'baseline' or '')
  plots[#plots + 1] = string.format("'%s/invariance_scores.csv' using (%d+0.18):%d with boxplot lc rgb '#c04040' title '%s'",
    o.out, i, i, i == 1 and 'invariance' or '')
end
local xt = {}
for i, k in ipairs(box.names) do xt[i] = string.format("'%s' %d", k, i) end
report.gnuplot_script(o.out .. '/scores.png', table.concat({
  'set datafile separator ","', 'set style data boxplot', 'set style boxplot nooutliers', 'set boxwidth 0.3',
  'set xtics (' .. table.concat(xt, ', ') .. ')', "set ylabel 'invariance score'", 'set grid ytics',
  "set title 'Invariance score per layer (the paper''s Figure 1)'", 'set key top left',
  'plot ' .. table.concat(plots, ', '),
}, '\n'))
local b, i = results.models.baseline, results.models.invariance
-- Both runs compute L_inv (the baseline to measure it); only the invariance run backpropagates it.
-- The cost of the loss against a step without it is tools/bench/invariance_overhead.lua's to measure.
results.time_ratio = i.train_seconds / b.train_seconds
results.test_accuracy = i.test_accuracy
results.seconds = rft.train.now() - t_run
report.write_json(o.out .. '/results.json', results)
print(string.format('test accuracy: baseline %.2f %%, invariance %.2f %%; training time invariance / baseline %.2f '
  .. '(both measure L_inv; tools/bench/invariance_overhead.lua times the loss against a step without it)',
  b.test_accuracy, i.test_accuracy, results.time_ratio))
