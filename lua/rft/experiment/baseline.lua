-- rft.experiment.baseline: the baseline every robustness run starts from, trained from scratch once
-- per configuration (resuming a killed run) and cached in runs/baseline_<model>_w<width>..._s<seed>/.
local rft = require 'rft'
local report = require 'rft.report'
local util = require 'rft.util'
local cjson = require 'cjson'
local protocol = require 'rft.experiment.protocol'

local M = {}

M.defaults = { model = 'quick', width = 1, bn = true, epochs = 17, whiten = false, batch = 128, lr = 0.1,
               weight_decay = 5e-4, label_smoothing = 0, seed = 0 }

--- A network holding the weights of checkpoint `path` (a model, or a training checkpoint whose
--- optim.* tensors are left out): of model o.model, else the model the checkpoint's metadata names,
--- else M.defaults.model; at width o.width, else the metadata's, else 1; batch norm o.bn. Returns
--- the network, its width and its model's name.
function M.load_checkpoint(o, path)
  local tensors, meta = rft.safetensors.load(path)
  meta = meta or {}
  local model = o.model or meta.model or M.defaults.model
  local known = {}
  for _, name in ipairs(require('rft.cli').models()) do known[name] = true end
  if model ~= o.model and not known[model] then
    error(string.format("%s: its metadata names the model '%s', which rft.models does not have", path, tostring(model)), 2)
  end
  local width = o.width or tonumber(meta.width) or M.defaults.width
  local net = rft.models.build(model, { width = width, bn = o.bn })
  for k in pairs(tensors) do if k:match('^optim%.') then tensors[k] = nil end end
  net:load_state_dict(tensors)
  return net, width, model
end

--- The folder a baseline of this configuration is cached in.
function M.dir(o)
  local ls = (o.label_smoothing or 0) > 0 and string.format('_ls%g', o.label_smoothing) or ''
  return string.format('runs/baseline_%s_w%g%s%s_e%d%s_s%d', o.model, o.width, o.bn and '_bn' or '',
    o.whiten and '_wh' or '', o.epochs, ls, o.seed)
end

function M.build(o)
  return rft.models.build(o.model, { width = o.width, bn = o.bn, seed = o.seed })
end

--- Train a baseline from scratch (resuming a killed run); saves model.safetensors and
--- results.json in o.out. Returns the network and the results table.
function M.train(o, d)
  local t0 = rft.train.now()
  local net = M.build(o)
  print(net)
  print(string.format('training on %d images, validating on %d, testing on %d; %d threads', d.train.n,
    d.val.n, d.test.n, rft.threads()))
  util.mkdir_p(o.out)
  local key = { o.model, o.width, o.bn, o.epochs, o.batch, o.lr, o.weight_decay, o.seed }
  local ls = o.label_smoothing or 0
  if ls > 0 then key[#key + 1] = ls end      -- without smoothing, the key runs made before it existed wrote
  if o.whiten then
    key[#key + 1] = 'whiten'
    require('rft.models.whiten').apply(net, d.train.images, { images = 1000 })   -- a resumed run loads its checkpoint over it
  end
  local rows, train_seconds = rft.train.fit {
    key = cjson.encode(key), label_smoothing = ls,
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
               weight_decay = o.weight_decay, label_smoothing = ls, whiten = o.whiten or false, seed = o.seed,
               augmentation = 'random crop (4 px) + flip',
               split = '45000/5000, seed 0', data = d.dir, threads = rft.threads(), rft = rft.version() },
    test_accuracy = test_acc, val_accuracy = val_acc, per_class_test_accuracy = classes,
    seconds = rft.train.now() - t0, train_seconds = train_seconds, epochs = rows, provenance = report.provenance(),
  }
  rft.safetensors.save(o.out .. '/model.safetensors', net:state_dict(),
    { model = o.model, width = o.width, bn = tostring(o.bn), test_accuracy = test_acc })
  report.write_json(o.out .. '/results.json', results)
  return net, results
end

--- The cached baseline of this configuration (o.baseline_dir, or M.dir(o)), trained first if it
--- does not exist yet. Returns the network, its results table and its folder.
function M.get(o, d)
  local dir = o.baseline_dir or M.dir(o)
  local path = dir .. '/model.safetensors'
  local f = io.open(path, 'rb')
  if f then
    f:close()
    local net = M.build(o)
    net:load_state_dict(rft.safetensors.load(path))
    local rf = io.open(dir .. '/results.json')
    local results = rf and cjson.decode(rf:read('*a')) or {}
    if rf then rf:close() end
    print('baseline: ' .. path .. string.format(' (test accuracy %.2f %%)', results.test_accuracy or -1))
    return net, results, dir
  end
  print('baseline: none at ' .. path .. '; training it')
  local net, results = M.train(setmetatable({ out = dir }, { __index = o }), d)
  return net, results, dir
end

-- FNV-1a (32 bits) of a string, as 8 hex digits: names a cache file after what it holds.
local function fnv1a(s)
  local h = 2166136261
  for i = 1, #s do
    h = bit.bxor(h, s:byte(i))
    h = (bit.band(h, 0xffff) * 16777619 + bit.lshift(bit.rshift(h, 16) * 16777619 % 65536, 16)) % 4294967296
  end
  return bit.tohex(h)
end

--- The baseline's ten rows on dataset d (protocol.evaluate_rows), cached in its folder `dir` as
--- rows_<hash>.json, the hash and the file naming every row's pipeline, the evaluation seed and the
--- images (their number, and the part of the protocol's data unless the test set): every run from
--- this baseline with these strengths reads them instead of evaluating again.
function M.rows(net, d, presets, dir)
  local what = { eval_seed = protocol.eval_seed, images = d.n, part = d.part, pipelines = {} }
  local text = string.format('seed=%d;n=%d', protocol.eval_seed, d.n)
  if d.part and d.part ~= 'test' then text = text .. ';part=' .. d.part end   -- test: the name it always had
  for _, r in ipairs(protocol.rows) do
    what.pipelines[r] = r == 'clean' and 'none' or tostring(presets[r])
    text = text .. ';' .. r .. '=' .. what.pipelines[r]
  end
  local path = string.format('%s/rows_%s.json', dir, fnv1a(text))
  local f = io.open(path)
  if f then
    local ok, cached = pcall(cjson.decode, f:read('*a'))
    f:close()
    local same = ok and type(cached) == 'table' and cached.eval_seed == what.eval_seed and cached.images == what.images
      and (cached.part or 'test') == (what.part or 'test')
      and type(cached.pipelines) == 'table' and type(cached.rows) == 'table'
    for _, r in ipairs(protocol.rows) do
      same = same and cached.pipelines[r] == what.pipelines[r] and type(cached.rows[r]) == 'number'
    end
    if same then
      print('baseline rows: ' .. path)
      for i, r in ipairs(protocol.rows) do
        print(string.format('baseline  %-10s %6.2f %%  (%d/%d, cached)', r, cached.rows[r], i, #protocol.rows))
      end
      return cached.rows
    end
  end
  net:evaluate()
  what.rows = protocol.evaluate_rows(net, d, presets, 'baseline')
  report.write_json(path, what)
  return what.rows
end

return M
