-- invariance_cifar: data-augmentation invariance (Hernandez-Garcia et al.) on CIFAR-10. Trains
-- All-CNN-C from the same initialisation and batches -- a baseline (alpha = 0, invariance still
-- measured) and, for each --alpha, a model with the loss (1 - alpha) CE + sum_l alpha_l L_inv,l over
-- every conv's ReLU -- on batches of K seed images x M copies of the heavier augmentation. With several
-- alphas the invariance model is the one selected on the validation split: the highest mean per-layer
-- median invariance score among those within --max-val-drop points of the baseline's validation
-- accuracy. Reports test accuracy (clean and under the heavier scheme), the per-layer invariance loss
-- per epoch (the paper's Figure 2) and the invariance scores per layer (Figure 1). Every training
-- resumes after a kill; each model's <out>/<name>/results.json is written once it is scored (and, with
-- --results, copied there with its CSVs and figures).
-- Defaults fit a 2-core CPU in about 45 minutes; batch norm (the authors' released code) lets the short
-- run train at the paper's learning rate, where plain All-CNN-C was still at chance after an epoch.
-- The paper: --no-bn --width 1 --epochs 350 --steps-per-epoch 352 (lr 0.01, /10 at 200, 250, 300), on a GPU.
local rft = require 'rft'
local cjson = require 'cjson'
local cli = require 'rft.cli'
local experiment = require 'rft.experiment'
local report = require 'rft.report'
local runs_io = require 'rft.experiment.runs'
local util = require 'rft.util'

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
p:numbers('--alpha', 'total weight of the invariance terms; several values: one model each, the invariance model selected on validation', { 0.1 }, { above = 0, below = 1 })
p:number('--max-val-drop', 'selection among several alphas: validation accuracy at most this many points under the baseline\'s', 0.5, { min = 0, max = 100 })
p:choice('--schedule', 'learning rate: paper (lr, /10 at 200/350, 250/350 and 300/350 of the run) or one-cycle (linear warm-up to lr over 20 %, linear decay to 0)', 'paper', { 'paper', 'one-cycle' })
p:number('--lr', 'learning rate (the peak with --schedule one-cycle)', 0.01, { above = 0, max = 10 })
p:number('--weight-decay', 'L2 weight decay (the paper: none)', 0, { min = 0, max = 1 })
p:flag('--same-class', 'denominator over same-class pairs (the authors\' released code)')
p:integer('--score-images', 'test (and validation) images for the invariance scores (the paper: 10,000)', 2000, { min = 1, max = 10000 })
p:integer('--draws', 'draws of G per test image', 5, { min = 1, max = 100 })
p:integer('--seed', 'seed of the initialisation, the batches and the augmentations', 0, { min = 0, max = 2 ^ 31 - 1 })
p:string('--results', 'also copy the records, CSVs and figures (never the weights) into this folder, each model\'s as soon as '
  .. 'it is scored: a run stopped in a later model keeps the finished ones there')
p:flag('--allow-nonfinite', 'resume from a checkpoint holding NaN or Inf (refused by default)')
local o = p:parse(arg)
local t_run, names = rft.train.now(), nil
rft.train.remove_stale_tmp(o.out)
local d, copies = experiment.cifar(o.data), rft.aug.copies(rft.aug.heavier(), o.copies)
local lr_at = o.schedule == 'one-cycle' and rft.train.one_cycle(o.lr, o.epochs) or function(t)
  local f = t / o.epochs   -- the paper's steps at 200, 250, 300 of 350 epochs, scaled to this run
  return o.lr / (f < 200 / 350 and 1 or f < 250 / 350 and 10 or f < 300 / 350 and 100 or 1000)
end
-- What a model's training depends on: a checkpoint or a scored record with another key is not this model's.
local function model_key(alpha)
  local key = { o.width, o.no_bn, o.epochs, o.steps_per_epoch or 0, o.seeds, o.copies, alpha, o.lr, o.same_class, o.seed }
  if o.schedule ~= 'paper' or o.weight_decay > 0 then   -- the key of runs made before these flags existed, otherwise
    key[#key + 1], key[#key + 2] = o.schedule, o.weight_decay
  end
  return cjson.encode(key)
end
-- Figure 2 of a model from its train.csv: each layer's invariance loss per epoch.
local function figure2(name)
  report.plot_csv(o.out .. '/' .. name .. '/train.csv', o.out .. '/' .. name .. '_invariance_loss.png',
    { x = 'epoch', ys = names, title = name .. ': invariance loss per layer (the paper\'s Figure 2)', ylabel = 'invariance loss L_{inv}' })
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
    steps_per_epoch = o.steps_per_epoch, lr = lr_at, momentum = 0.9, nesterov = true, weight_decay = o.weight_decay,
    seed = o.seed, out = o.out .. '/' .. name, columns = names, allow_nonfinite = o.allow_nonfinite, key = model_key(alpha),
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
  figure2(name)
  rft.safetensors.save(o.out .. '/' .. name .. '.safetensors', net:state_dict(), { model = 'allcnn_c', width = o.width })
  local seconds = 0   -- each epoch's once, resumed or not
  for _, r in ipairs(rows) do seconds = seconds + r.seconds end
  return net, rows, seconds
end

-- Files of o.out (relative paths; those missing skipped) copied into --results.
local function publish(files)
  if not o.results then return end
  for _, rel in ipairs(files) do
    local f = io.open(o.out .. '/' .. rel, 'rb')
    if f then
      local text = f:read('*a'); f:close()
      util.mkdir_p(util.dirname(o.results .. '/' .. rel))
      util.write_atomic(o.results .. '/' .. rel, text)
    end
  end
end
local function model_files(name)
  return { name .. '/results.json', name .. '/train.csv', name .. '_scores.csv', name .. '_invariance_loss.png' }
end

local models, heavier, G = {}, rft.aug.heavier(), rft.aug.G()
local runs = { { name = 'baseline', alpha = 0 } }
for _, a in ipairs(o.alpha) do runs[#runs + 1] = { name = string.format('invariance_a%g', a), alpha = a } end
-- A model scored before (this run, or another session's whose record was restored from results/ by
-- tools/experiments/invariance.sh) is taken from its record, with its scores' CSV beside it, untrained;
-- its Figure 2 is drawn again from its train.csv.
local function scored(r)
  local rec = runs_io.read_json(o.out .. '/' .. r.name .. '/results.json')
  if not rec or rec.key ~= model_key(r.alpha) or not util.exists(o.out .. '/' .. r.name .. '_scores.csv') then return nil end
  names = rec.layers
  print(string.format('%s: scored before (%s/%s/results.json), not trained again', r.name, o.out, r.name))
  return rec.model
end
for _, r in ipairs(runs) do
  local m = scored(r)
  if m then figure2(r.name); models[#models + 1] = m; publish(model_files(r.name)); goto continue end
  local net, rows, seconds = train(r.name, r.alpha)
  local so = { draws = o.draws, seed = o.seed }
  so.images = math.min(o.score_images, d.val.n)
  local val_summary = rft.invariance.summary(rft.invariance.layer_scores(net, d.val, G, so), names)
  so.images = o.score_images
  local scores = rft.invariance.layer_scores(net, d.test, G, so)
  local summary = rft.invariance.summary(scores, names)
  local m = { name = r.name, alpha = r.alpha, train_seconds = seconds, epochs = rows,
              val_accuracy = rft.train.evaluate(net, d.val), test_accuracy = rft.train.evaluate(net, d.test),
              test_accuracy_heavier = rft.train.evaluate(net, d.test, { transform = function(x, ids) return heavier:apply(x, { seed = 99, ids = ids }) end }),
              scores = summary, val_scores = val_summary }
  m.medians, m.median_rises, m.mean_median = rft.invariance.depth_profile(summary, names)
  m.val_mean_median = select(3, rft.invariance.depth_profile(val_summary, names))
  models[#models + 1] = m
  local score_rows = {}   -- one column per layer, one row per (image, draw): the box plot's input
  for _, k in ipairs(names) do
    for i, v in ipairs(scores[k]:to_table()) do score_rows[i] = score_rows[i] or {}; score_rows[i][k] = v end
  end
  rft.train.write_csv(o.out .. '/' .. r.name .. '_scores.csv', score_rows, names)
  -- each model's record as soon as it is scored: a run stopped before the last alpha keeps the others'
  report.write_json(o.out .. '/' .. r.name .. '/results.json', { model = m, layers = names, config = o, key = model_key(r.alpha),
                                                                 provenance = report.provenance() })
  publish(model_files(r.name))
  local ms = {}
  for i, k in ipairs(names) do ms[i] = string.format('%s %.3f', k, m.medians[i]) end
  print(string.format('%s: validation %.2f %%, test %.2f %% (heavier %.2f %%); median scores %s', r.name, m.val_accuracy,
    m.test_accuracy, m.test_accuracy_heavier, table.concat(ms, ', ')))
  ::continue::
end

-- The invariance model: the most invariant on validation among those that keep its accuracy.
local base = models[1]
local chosen, kept = rft.invariance.select({ select(2, unpack(models)) }, base, o.max_val_drop)
local rule = string.format('the highest mean of the per-layer median invariance scores on %d validation images among the '
  .. 'alphas whose validation accuracy is at most %g points under the baseline\'s', math.min(o.score_images, d.val.n), o.max_val_drop)
local selection = kept and rule or ('no alpha kept validation accuracy within ' .. o.max_val_drop
  .. ' points of the baseline\'s; the most accurate was taken')

local csvs, labels = {}, {}
for i, m in ipairs(models) do
  csvs[i], labels[i] = o.out .. '/' .. m.name .. '_scores.csv',
    i == 1 and 'baseline' or string.format('alpha %g%s', m.alpha, m == chosen and ' (selected)' or '')
end
report.boxplot_csvs(o.out .. '/scores.png', csvs, labels, names,
  { title = 'Invariance score per layer (the paper\'s Figure 1)', ylabel = 'invariance score' })

local by_name = {}
for _, m in ipairs(models) do by_name[m.name] = m end
local results = { config = o, models = by_name, invariance = chosen.name, selected_alpha = chosen.alpha, selection = selection,
                  layers = names, test_accuracy = chosen.test_accuracy, time_ratio = chosen.train_seconds / base.train_seconds,
                  seconds = rft.train.now() - t_run, provenance = report.provenance() }
report.write_json(o.out .. '/results.json', results)

local md = { '| model | alpha | validation | test | test, heavier | median score per layer | rising steps |',
             '| --- | ---: | ---: | ---: | ---: | --- | ---: |' }
for _, m in ipairs(models) do
  local ms = {}
  for i, v in ipairs(m.medians) do ms[i] = string.format('%.3f', v) end
  md[#md + 1] = string.format('| %s%s | %g | %.2f | %.2f | %.2f | %s | %d of %d |', m.name, m == chosen and ' (selected)' or '',
    m.alpha, m.val_accuracy, m.test_accuracy, m.test_accuracy_heavier, table.concat(ms, ' '), m.median_rises, #names - 1)
end
md[#md + 1] = ''
md[#md + 1] = 'Selection: ' .. selection .. '. Scores on ' .. o.score_images .. ' test images, ' .. o.draws
  .. ' draws of G each; layers ' .. table.concat(names, ', ') .. '.'
util.write_atomic(o.out .. '/results.md', table.concat(md, '\n') .. '\n')
publish { 'results.json', 'results.md', 'scores.png' }
print(table.concat(md, '\n'))
print(string.format('test accuracy: baseline %.2f %%, invariance (alpha %g) %.2f %%; training time invariance / baseline %.2f '
  .. '(both measure L_inv; tools/bench/invariance_overhead.lua times the loss alone)', base.test_accuracy, chosen.alpha,
  chosen.test_accuracy, results.time_ratio))
