-- invariance_cifar: data-augmentation invariance (Hernandez-Garcia et al.) on CIFAR-10. Trains
-- All-CNN-C twice from the same initialisation and batches -- a baseline (alpha = 0, invariance still
-- measured) and the invariance model, loss (1 - alpha) CE + sum_l alpha_l L_inv,l over every conv's
-- ReLU -- on batches of K seed images x M copies of the heavier augmentation; reports test accuracy
-- (clean and under the heavier scheme), the per-layer invariance loss per epoch (the paper's
-- Figure 2) and the invariance scores per layer (Figure 1). Both trainings resume after a kill.
-- Defaults fit a 2-core CPU in about 45 minutes; batch norm (the authors' released code) lets the short
-- run train at the paper's learning rate, where plain All-CNN-C was still at chance after an epoch.
-- The paper: --no-bn --width 1 --epochs 350 --steps-per-epoch 352 (lr 0.01, /10 at 200, 250, 300), on a GPU.
local rft = require 'rft'
local cjson = require 'cjson'
local cli = require 'rft.cli'
local experiment = require 'rft.experiment'
local report = require 'rft.report'

local p = cli.parser('invariance_cifar', 'All-CNN-C with and without the invariance loss.')
p:string('--data', 'CIFAR-10 folder (default: $RFT_DATA, then data/cifar-10-batches-bin)')
p:device()
p:string('--out', 'output folder', 'runs/invariance_cifar')
p:number('--width', 'All-CNN-C width multiplier', 0.5, { above = 0, max = 16 })
p:flag('--no-bn', 'plain All-CNN-C, as in the paper (default: batch norm after each convolution, as in the authors\' code)')
p:integer('--epochs', 'epochs of --steps-per-epoch batches', 12, { min = 1, max = 100000 })
p:integer('--steps-per-epoch', 'batches per epoch (default: 45,000 images per epoch)', nil, { min = 1, max = 10 ^ 7 })
p:integer('--seeds', 'seed images per batch (K)', 16, { min = 1, max = 4096 })
p:integer('--copies', 'augmented copies per seed image (M)', 8, { min = 2, max = 256 })
p:number('--alpha', 'total weight of the invariance terms', 0.1, { min = 0, below = 1 })
p:number('--lr', 'learning rate, divided by 10 at 200/350, 250/350 and 300/350 of the run', 0.01, { above = 0, max = 10 })
p:flag('--same-class', 'denominator over same-class pairs (the authors\' released code)')
p:integer('--score-images', 'test images for the invariance scores (the paper: 10,000)', 2000, { min = 1, max = 10000 })
p:integer('--draws', 'draws of G per test image', 5, { min = 1, max = 100 })
p:integer('--seed', 'seed of the initialisation, the batches and the augmentations', 0, { min = 0, max = 2 ^ 31 - 1 })
p:flag('--allow-nonfinite', 'resume from a checkpoint holding NaN or Inf (refused by default)')
local o = p:parse(arg)
local t_run, names = rft.train.now(), nil
rft.train.remove_stale_tmp(o.out)
local d, copies = experiment.cifar(o.data), rft.aug.copies(rft.aug.heavier(), o.copies)
local function lr_at(t) -- the paper's steps at 200, 250, 300 of 350 epochs, scaled to this run
  local f = t / o.epochs
  return o.lr / (f < 200 / 350 and 1 or f < 250 / 350 and 10 or f < 300 / 350 and 100 or 1000)
end
-- One model, trained (or resumed) in o.out/<name>/: returns it, its rows (with each layer's L_inv), its seconds.
local function train(name, alpha)
  local net = rft.models.allcnn_c { width = o.width, bn = not o.no_bn, seed = o.seed }
  if #net:taps() == 0 then net:forward(rft.tensor { shape = { 1, 3, 32, 32 }, device = net:device() }) end
  names = {}
  for i, t in ipairs(net:taps()) do names[i] = t.name end
  local weights = rft.loss.invariance_weights(names, alpha > 0 and alpha or 1)
  local rows = rft.train.fit {
    name = name, net = net, train = d.train, val = d.val, copies = copies, batch = o.seeds, epochs = o.epochs,
    steps_per_epoch = o.steps_per_epoch, lr = lr_at, momentum = 0.9, nesterov = true, weight_decay = 0, seed = o.seed,
    out = o.out .. '/' .. name, columns = names, allow_nonfinite = o.allow_nonfinite,
    key = cjson.encode { o.width, o.no_bn, o.epochs, o.steps_per_epoch or 0, o.seeds, o.copies, alpha, o.lr, o.same_class, o.seed },
    step = function(net, x, y, ctx)
      local logits = net:forward(x)
      local ce, g = rft.loss.cross_entropy(logits, y, { scale = 1 - alpha })
      local _, tap_grads, metrics = rft.loss.invariance(net:taps(), ctx.groups, {
        weights = weights, normalizer = o.same_class and 'same_class' or 'all', labels = y, factored = true })
      net:backward(x, g, alpha > 0 and tap_grads or nil, { input_grad = false })  -- alpha = 0: L_inv measured, not trained on
      metrics.loss, metrics.correct = ce / (1 - alpha), rft.train.correct(logits, y)
      return metrics
    end,
  }
  report.plot_csv(o.out .. '/' .. name .. '/train.csv', o.out .. '/' .. name .. '_invariance_loss.png',
    { x = 'epoch', ys = names, title = name .. ': invariance loss per layer (the paper\'s Figure 2)', ylabel = 'invariance loss L_{inv}' })
  rft.safetensors.save(o.out .. '/' .. name .. '.safetensors', net:state_dict(), { model = 'allcnn_c', width = o.width })
  local seconds = 0   -- each epoch's once, resumed or not
  for _, r in ipairs(rows) do seconds = seconds + r.seconds end
  return net, rows, seconds
end

local results, heavier = { config = o, models = {} }, rft.aug.heavier()
for _, name in ipairs { 'baseline', 'invariance' } do
  local net, rows, seconds = train(name, name == 'invariance' and o.alpha or 0)
  local acc = rft.train.evaluate(net, d.test)
  local acc_h = rft.train.evaluate(net, d.test, { transform = function(x, ids) return heavier:apply(x, { seed = 99, ids = ids }) end })
  local scores = rft.invariance.layer_scores(net, d.test, rft.aug.G(), { draws = o.draws, images = o.score_images, seed = o.seed })
  local summary = rft.invariance.summary(scores, names)
  results.models[name] = { test_accuracy = acc, test_accuracy_heavier = acc_h, train_seconds = seconds,
                           scores = summary, epochs = rows }
  local score_rows, medians = {}, {}   -- one column per layer, one row per (image, draw): the box plot's input
  for i, k in ipairs(names) do
    for r, v in ipairs(scores[k]:to_table()) do score_rows[r] = score_rows[r] or {}; score_rows[r][k] = v end
    medians[i] = string.format('%s %.3f', k, summary[k].median)
  end
  rft.train.write_csv(o.out .. '/' .. name .. '_scores.csv', score_rows, names)
  print(string.format('%s: test %.2f %% (heavier %.2f %%); median scores %s', name, acc, acc_h, table.concat(medians, ', ')))
end
report.boxplot_csvs(o.out .. '/scores.png', { o.out .. '/baseline_scores.csv', o.out .. '/invariance_scores.csv' },
  { 'baseline', 'invariance' }, names, { title = 'Invariance score per layer (the paper\'s Figure 1)', ylabel = 'invariance score' })
local b, i = results.models.baseline, results.models.invariance
results.time_ratio, results.test_accuracy = i.train_seconds / b.train_seconds, i.test_accuracy
results.seconds = rft.train.now() - t_run
report.write_json(o.out .. '/results.json', results)
print(string.format('test accuracy: baseline %.2f %%, invariance %.2f %%; training time invariance / baseline %.2f (both '
  .. 'measure L_inv; tools/bench/invariance_overhead.lua times the loss alone)', b.test_accuracy, i.test_accuracy, results.time_ratio))
