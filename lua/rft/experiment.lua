-- rft.experiment: what the CIFAR-10 recipes share. The protocol of DESIGN.md §5 (45,000 / 5,000
-- split with seed 0, test set for reported numbers), the cached baseline, calibration of the
-- seven strengths, the ten robustness rows, fine-tuning with a method under a schedule, and the
-- tables, CSVs, pictures and results.json every run leaves in runs/<name>/.
local rft = require 'rft'
local aug = require 'rft.aug'
local report = require 'rft.report'
local util = require 'rft.util'
local cjson = require 'cjson'

local M = {}

--- The ten rows of the robustness tables, in the order of the paper's Table 3.
M.rows = { 'clean', 'B+', 'B-', 'GB', 'GN', 'SAP', 'S+', 'S-', 'Combined+', 'Combined-' }
M.families = { 'B+', 'B-', 'GB', 'GN', 'SAP', 'S+', 'S-' }
M.eval_seed = 20240601              -- test-time distortions: one fixed draw for every model

--- CIFAR-10 under the protocol: {train=, val=, test=, dir=}.
function M.cifar(dir)
  local full = rft.data.cifar10 { dir = dir, split = 'train' }
  local test = rft.data.cifar10 { dir = full.dir, split = 'test' }
  local tr, va = rft.data.split(full, 5000)
  return { train = rft.data.subset(full, tr), val = rft.data.subset(full, va), test = test, dir = full.dir }
end

--- The first n images of a dataset (evaluation subsets for per-epoch curves and calibration).
function M.head(d, n)
  if not n or n >= d.n then return d end
  local idx = rft.tensor { shape = { n }, dtype = 'i32', device = 'cpu' }
  local p = idx:data()
  for i = 0, n - 1 do p[i] = i end
  local s = rft.data.subset(rft.data.with_ids(d), idx)
  s.classes = d.classes
  return s
end

-- ---- baseline --------------------------------------------------------------------------------

M.baseline_defaults = { model = 'fast', width = 1, bn = true, epochs = 15, batch = 128, lr = 0.1,
                        weight_decay = 5e-4, seed = 0 }

--- The folder a baseline of this configuration is cached in.
function M.baseline_dir(o)
  return string.format('runs/baseline_%s_w%g%s_e%d_s%d', o.model, o.width, o.bn and '_bn' or '', o.epochs, o.seed)
end

function M.build(o)
  return rft.models.build(o.model, { width = o.width, bn = o.bn, seed = o.seed })
end

--- Train a baseline from scratch (resuming a killed run); saves model.safetensors and
--- results.json in o.out. Returns the network and the results table.
function M.train_baseline(o, d)
  local t0 = rft.train.now()
  local net = M.build(o)
  print(net)
  print(string.format('training on %d images, validating on %d, testing on %d; %d threads', d.train.n,
    d.val.n, d.test.n, rft.threads()))
  util.mkdir_p(o.out)
  local rows, train_seconds = rft.train.fit {
    key = cjson.encode { o.model, o.width, o.bn, o.epochs, o.batch, o.lr, o.weight_decay, o.seed },
    net = net, train = d.train, val = d.val, epochs = o.epochs, batch = o.batch, seed = o.seed,
    lr = rft.train.one_cycle(o.lr, o.epochs), momentum = 0.9, nesterov = true, weight_decay = o.weight_decay,
    out = o.out,
  }
  report.plot_csv(o.out .. '/train.csv', o.out .. '/train.png',
    { x = 'epoch', ys = { 'train_accuracy', 'val_accuracy' }, title = 'baseline ' .. o.model, ylabel = 'accuracy (%)' })
  local test_acc, per_class = rft.train.evaluate(net, d.test)
  local val_acc = rft.train.evaluate(net, d.val)
  local classes = {}
  for c = 0, 9 do classes[d.test.classes[c + 1]] = per_class[c] end
  local results = {
    config = { model = o.model, width = o.width, bn = o.bn, epochs = o.epochs, batch = o.batch, lr = o.lr,
               schedule = 'one-cycle (linear warm-up 20 %, linear decay)', momentum = 0.9, nesterov = true,
               weight_decay = o.weight_decay, seed = o.seed, augmentation = 'random crop (4 px) + flip',
               split = '45000/5000, seed 0', data = d.dir, threads = rft.threads(), rft = rft.version() },
    test_accuracy = test_acc, val_accuracy = val_acc, per_class_test_accuracy = classes,
    seconds = rft.train.now() - t0, train_seconds = train_seconds, epochs = rows,
  }
  rft.safetensors.save(o.out .. '/model.safetensors', net:state_dict(),
    { model = o.model, width = o.width, bn = tostring(o.bn), test_accuracy = test_acc })
  report.write_json(o.out .. '/results.json', results)
  return net, results
end

--- The cached baseline of this configuration, trained first if it does not exist yet.
function M.baseline(o, d)
  local dir = o.baseline_dir or M.baseline_dir(o)
  local path = dir .. '/model.safetensors'
  if io.open(path, 'rb') then
    local net = M.build(o)
    net:load_state_dict(rft.safetensors.load(path))
    local f = io.open(dir .. '/results.json')
    local results = f and cjson.decode(f:read('*a')) or {}
    if f then f:close() end
    print('baseline: ' .. path .. string.format(' (test accuracy %.2f %%)', results.test_accuracy or -1))
    return net, results, dir
  end
  print('baseline: none at ' .. path .. '; training it')
  local net, results = M.train_baseline(setmetatable({ out = dir }, { __index = o }), d)
  return net, results, dir
end

-- ---- augmentations ---------------------------------------------------------------------------

--- The seven strengths: Table 1's presets (paper=true) or calibrated on (a subset of) the
--- validation split so that each costs the baseline target_drop points; calibrations are cached in
--- the baseline's folder. Returns the preset set (aug.paper.cifar10-like) and a table of rows.
function M.strengths(net, d, o, dir)
  if o.paper_params then
    local rows = {}
    for _, f in ipairs(M.families) do rows[#rows + 1] = { family = f, strength = 'Table 1' } end
    return aug.paper.cifar10, { source = 'paper Table 1', rows = rows }
  end
  local path = string.format('%s/calibration_drop%g_n%d.json', dir, o.target_drop, o.calib_images)
  local f = io.open(path)
  if f then
    local cal = cjson.decode(f:read('*a')); f:close()
    print('calibration: ' .. path)
    return aug.from_calibration(cal), cal
  end
  local val = M.head(d.val, o.calib_images)
  local cal = { source = path, target_drop = o.target_drop, images = val.n, rows = {} }
  net:evaluate()
  local base = rft.train.evaluate(net, val)
  for _, fam in ipairs(M.families) do
    local r = aug.calibrate { family = fam, model = net, data = val, target_drop = o.target_drop, baseline = base,
                              seed = M.eval_seed, tol = o.calib_tol }
    print(string.format('calibrated %-4s strength %-8.4g accuracy %.2f %% (baseline %.2f %%)%s', fam, r.strength,
      r.accuracy, base, r.reached and '' or '  target not reachable: stopped at the bound'))
    cal.rows[#cal.rows + 1] = { family = fam, strength = r.strength, accuracy = r.accuracy, baseline = base,
                                reached = r.reached, evaluations = r.evaluations }
  end
  report.write_json(path, cal)
  return aug.from_calibration(cal), cal
end

--- Accuracy (%) of net on each of the ten rows over dataset d: {clean=, ['B+']=, ...}.
function M.evaluate_rows(net, d, presets)
  local out = {}
  for _, row in ipairs(M.rows) do
    local p = row ~= 'clean' and presets[row]
    out[row] = rft.train.evaluate(net, d, {
      transform = p and function(x, ids) return p:apply(x, { seed = M.eval_seed, ids = ids }) end,
    })
  end
  return out
end

-- ---- fine-tuning -----------------------------------------------------------------------------

--- Fine-tune net with a method ('FMA', 'ST', 'AT') under a schedule (an rft.aug schedule: which
--- pipeline distorts each epoch and batch). Per-epoch accuracy on every row of d.curve_set goes to
--- o.out/train.csv. o: epochs, lr (schedule), batch, seed, gamma, alpha, weight_decay.
function M.finetune(method, net, d, schedule, o)
  local cols = {}
  for _, r in ipairs(M.rows) do cols[#cols + 1] = r end
  local curve = M.head(d.test, o.curve_images)
  local key = cjson.encode { method = method, schedule = tostring(schedule), epochs = o.epochs, lr = o.lr,
    batch = o.batch, seed = o.seed, gamma = o.gamma, alpha = o.alpha, kl = o.kl, exact = o.exact_normalizer,
    train_images = o.train_images }
  return rft.train.fit {
    key = key, net = net, train = M.head(d.train, o.train_images), epochs = o.epochs, batch = o.batch, seed = o.seed + 1,
    lr = o.lr, momentum = 0.9, weight_decay = o.weight_decay, out = o.out, columns = cols,
    mode = rft.robust.freeze_bn,
    step = function(n, x, y, ctx)
      local p = aug.schedule.at(schedule, ctx.epoch, ctx.batch)
      local xt = p:apply(x, { seed = o.seed * 7919 + ctx.epoch, ids = ctx.ids })
      return rft.robust.step(method, n, x, xt, y, o)
    end,
    on_epoch = function(_, row)
      local acc = M.evaluate_rows(net, curve, o.presets)
      for r, a in pairs(acc) do row[r] = a end
    end,
  }
end

-- ---- reporting -------------------------------------------------------------------------------

--- Mean over rows of (accuracy - baseline accuracy): Table 3's average improvement (10 rows) or,
--- with rows = the 7 families, Table 2's.
function M.average_improvement(acc, base, rows)
  local s = 0
  for _, r in ipairs(rows or M.rows) do s = s + acc[r] - base[r] end
  return s / #(rows or M.rows)
end

--- A Table-3-like text table: one row per distortion, one column per method.
function M.table_text(columns, names)
  local lines = { string.format('%-11s' .. string.rep('%12s', #names), 'row', unpack(names)) }
  for _, r in ipairs(M.rows) do
    local cells = {}
    for i, n in ipairs(names) do cells[i] = string.format('%.2f', columns[n][r]) end
    lines[#lines + 1] = string.format('%-11s' .. string.rep('%12s', #names), r, unpack(cells))
  end
  local base = columns[names[1]]
  local cells = { '' }
  for i = 2, #names do cells[i] = string.format('%+.2f', M.average_improvement(columns[names[i]], base)) end
  lines[#lines + 1] = string.format('%-11s' .. string.rep('%12s', #names), 'avg. impr.', unpack(cells))
  return table.concat(lines, '\n')
end

-- ---- the CA experiment (recipes/fma_ca_cifar.lua, st_ca_cifar.lua, at_ca_cifar.lua) ------------

--- The flags every CIFAR robustness recipe takes; `extra` adds the method's own.
--- Adds --device to an argparse parser: the value becomes rft.device() as it is parsed (models,
--- batches and losses then live there); a device that cannot be used is a usage error saying why.
function M.device_option(p)
  p:option('--device', "'cpu' or 'cuda' (default: $RFT_DEVICE, then cpu)"):convert(function(v)
    local ok, err = pcall(rft.device, v)
    if not ok then return nil, (tostring(err):gsub('^[^:]*:%d+: ', '')) end
    return v
  end)
  return p
end

function M.parser(name, description, extra)
  local p = require('argparse')(name, description)
  local b = M.baseline_defaults
  p:option('--data', 'CIFAR-10 folder (default: $RFT_DATA, then data/cifar-10-batches-bin)')
  M.device_option(p)
  p:option('--out', 'output folder', 'runs/' .. name)
  p:option('--model', 'fast, vgg16 or allcnn_c', b.model)
  p:option('--width', 'width multiplier', tostring(b.width), tonumber)
  p:option('--bn', 'batch norm (true/false)', tostring(b.bn))
  p:option('--baseline-epochs', 'epochs of the baseline when it must be trained', tostring(b.epochs), tonumber)
  p:option('--baseline-lr', 'peak learning rate of the baseline', tostring(b.lr), tonumber)
  p:option('--baseline', 'folder of a trained baseline (default: runs/baseline_<model>_w<width>..._s<seed>)')
  p:option('--epochs', 'fine-tuning epochs: an even number gives Combined+ and Combined- as many (the paper: 30+)', '2', tonumber)
  p:option('--lr', 'fine-tuning learning rate: lr for half the epochs, lr/100 then lr/10^4 (the paper\'s shape)', '0.01', tonumber)
  p:option('--batch', 'batch size (clean images; the step sees twice as many)', '128', tonumber)
  p:option('--weight-decay', 'L2 weight decay', '5e-4', tonumber)
  p:option('--seed', 'seed of the baseline, the batches and the distortions', '0', tonumber)
  p:flag('--paper-params', "use Table 1's strengths instead of calibrating them")
  p:option('--target-drop', 'calibration: accuracy points each distortion costs the baseline', '10', tonumber)
  p:option('--calib-images', 'calibration: validation images used', '2000', tonumber)
  p:option('--curve-images', 'test images for the per-epoch curves (the tables use all 10,000)', '2000', tonumber)
  p:option('--train-images', 'fine-tune on the first N training images (default: all 45,000)', nil, tonumber)
  if extra then extra(p) end
  return p
end

--- The learning-rate pieces of a fine-tuning of e epochs at lr: 1/2, 1/4, 1/4 of the epochs at
--- lr, lr/100, lr/10^4 (the paper's 20/10/10 epochs at 1e-2, 1e-4, 1e-6).
function M.finetune_lr(lr, e)
  local a = math.max(1, math.floor(e / 2 + 0.5))
  local b = math.max(0, math.floor((e - a) / 2 + 0.5))
  local pieces = { { lr = lr, epochs = a } }
  if b > 0 then pieces[#pieces + 1] = { lr = lr / 100, epochs = b } end
  if e - a - b > 0 then pieces[#pieces + 1] = { lr = lr / 1e4, epochs = e - a - b } end
  return pieces
end

--- Options from parsed flags, in the shape the functions above take.
function M.options(a)
  return {
    data = a.data, out = a.out, model = a.model, width = a.width, bn = a.bn == 'true',
    epochs = a.epochs, baseline_epochs = a.baseline_epochs, batch = a.batch, seed = a.seed, lr = a.lr,
    weight_decay = a.weight_decay, paper_params = a.paper_params, target_drop = a.target_drop,
    calib_images = a.calib_images, curve_images = a.curve_images, train_images = a.train_images,
    gamma = a.gamma, alpha = a.alpha, kl = a.kl, exact_normalizer = not a.constant_normalizer,
    baseline = { model = a.model, width = a.width, bn = a.bn == 'true', epochs = a.baseline_epochs,
                 batch = a.batch, lr = a.baseline_lr, weight_decay = a.weight_decay, seed = a.seed,
                 baseline_dir = a.baseline },
  }
end

--- Baseline, strengths, evaluation before, fine-tuning with `method` under CA (Combined+ and
--- Combined- alternating every epoch), evaluation after; prints Table 3's two columns and writes
--- results.json, train.csv and curves.png in o.out.
function M.run_ca(method, o)
  local t0 = rft.train.now()
  util.mkdir_p(o.out)
  local d = M.cifar(o.data)
  local net, base_results, dir = M.baseline(o.baseline, d)
  local presets, cal = M.strengths(net, d, o, dir)
  print('distortions: ' .. tostring(presets.combined_plus) .. '\n             ' .. tostring(presets.combined_minus))
  net:evaluate()
  local before = M.evaluate_rows(net, d.test, presets)
  local schedule = aug.schedule.alternate({ presets.combined_plus, presets.combined_minus }, { every = 'epoch' })
  local ft = setmetatable({ presets = presets, lr = M.finetune_lr(o.lr, o.epochs), out = o.out }, { __index = o })
  local rows = M.finetune(method, net, d, schedule, ft)
  net:evaluate()
  local after = M.evaluate_rows(net, d.test, presets)
  local col = method .. '/CA'
  rft.safetensors.save(o.out .. '/model.safetensors', net:state_dict(), { model = o.model, method = col })
  local cols = {}
  for _, r in ipairs(M.rows) do cols[#cols + 1] = r end
  report.plot_csv(o.out .. '/train.csv', o.out .. '/curves.png',
    { x = 'epoch', ys = cols, title = col .. ': test accuracy per epoch (first ' .. o.curve_images .. ' images)',
      ylabel = 'accuracy (%)' })
  local text = M.table_text({ baseline = before, [col] = after }, { 'baseline', col })
  print('\n' .. text)
  local tbl = {}
  for _, r in ipairs(M.rows) do tbl[r] = { baseline = before[r], [col] = after[r] } end
  report.write_json(o.out .. '/results.json', {
    method = col,
    config = { method = method, strategy = 'CA: Combined+ on odd epochs, Combined- on even ones', model = o.model,
               width = o.width, bn = o.bn, epochs = o.epochs, lr = ft.lr, batch = o.batch, seed = o.seed,
               weight_decay = o.weight_decay, gamma = method == 'FMA' and o.gamma or nil,
               alpha = method == 'ST' and o.alpha or nil, stability_form = method == 'ST' and (o.kl and 'KL' or 'cross-entropy') or nil,
               fma = method == 'FMA' and { layers = 'every ReLU output', weights = 'equal', eps = 1e-8,
                                           normaliser = o.exact_normalizer and 'differentiated' or 'constant' } or nil,
               bn_during_finetuning = 'frozen (evaluation mode)', strengths = cal,
               combined_plus = tostring(presets.combined_plus), combined_minus = tostring(presets.combined_minus),
               eval_seed = M.eval_seed, baseline = dir, data = d.dir, rft = rft.version(), threads = rft.threads() },
    table = tbl, average_improvement = M.average_improvement(after, before),
    test_accuracy = after.clean, baseline_test_accuracy = before.clean, val_accuracy = rft.train.evaluate(net, d.val),
    baseline_results = base_results.config and { test_accuracy = base_results.test_accuracy, seconds = base_results.seconds } or nil,
    epochs = rows, seconds = rft.train.now() - t0,
  })
  print(string.format('wrote %s/results.json, train.csv, curves.png (%s in all)', o.out, rft.train.hms(rft.train.now() - t0)))
  return before, after
end

return M
