-- calibrate_cifar.lua: paper 1's calibration (3.3.2) for a trained checkpoint: for each of the seven
-- augmentations, the strength at which validation accuracy falls by 10 points (bisection on the
-- 5,000-image validation split). Prints and saves a table like the paper's Table 1.
--   rftlua recipes/calibrate_cifar.lua --checkpoint runs/baseline/checkpoint.safetensors
--          --model allcnn_c --width 1 [--bn] [--data DIR] [--out runs/calibrate] [--families B+,GN]
local rft = require 'rft'
local experiment = require 'rft.experiment'
local aug = rft.aug
local cjson = require 'cjson'
local util = require 'rft.util'

local args = require('argparse')('calibrate_cifar', "paper 1's Table 1 for a trained model")
args:option('--checkpoint', 'safetensors state dict of the trained model (required)')
args:option('--model', 'architecture, as rft.models.build names it', 'allcnn_c')
args:option('--width', 'width multiplier', '1', tonumber)
args:flag('--bn', 'the model has batch normalisation')
args:option('--data', 'CIFAR-10 folder (cifar-10-batches-bin)')
experiment.device_option(args)
args:option('--out', 'results folder', 'runs/calibrate')
args:option('--families', 'comma-separated subset of B+,B-,S+,S-,GN,GB,SAP', 'B+,B-,S+,S-,GN,GB,SAP')
args:option('--target', 'accuracy drop in points', '10', tonumber)
args:option('--seed', 'augmentation seed', '0', tonumber)
args:option('--batch', 'evaluation batch', '500', tonumber)
local o = args:parse(arg)
if not o.checkpoint then args:error('--checkpoint PATH is required') end

-- model
local net = rft.models.build(o.model, { width = o.width, bn = o.bn })
local state = {}
for k, t in pairs(rft.safetensors.load(o.checkpoint)) do   -- a training checkpoint also holds optim.*
  if not k:match('^optim%.') then state[k] = t end
end
net:load_state_dict(state)

-- the validation split (45,000 / 5,000, DESIGN.md §5)
local train = rft.data.cifar10 { dir = o.data, split = 'train' }
local _, val_idx = rft.data.split(train, 5000)
local val = rft.data.subset(train, val_idx)

local baseline = rft.train.evaluate(net, val, { batch = o.batch })
print(string.format('%s (width %g%s) from %s: validation accuracy %.2f %% on %d images', o.model, o.width,
                    o.bn and ', bn' or '', o.checkpoint, baseline, val.n))

local paper = aug.paper.cifar10.values
local preset = { ['B+'] = paper.B_plus, ['B-'] = paper.B_minus, ['S+'] = paper.S_plus, ['S-'] = paper.S_minus,
                 GN = paper.GN, GB = paper.GB.sigma, SAP = paper.SAP.p }
local rows, t0 = {}, rft.train.now()
print(string.format('\n%-5s %-6s %10s %10s %10s %8s %12s', 'aug', 'param', 'strength', 'accuracy', 'baseline',
                    'reached', 'paper'))
for name in o.families:gmatch('[^,]+') do
  local r = aug.calibrate { family = name, model = net, data = val, baseline = baseline, target_drop = o.target,
                            seed = o.seed, batch = o.batch }
  rows[#rows + 1] = { family = name, param = r.param, strength = r.strength, accuracy = r.accuracy,
                      baseline = r.baseline, drop = r.drop, reached = r.reached, paper = preset[name],
                      evaluations = r.evaluations, history = r.history }
  print(string.format('%-5s %-6s %10.4g %9.2f%% %9.2f%% %8s %12.4g', name, r.param, r.strength, r.accuracy,
                      r.baseline, r.reached and 'yes' or 'NO', preset[name]))
end

util.mkdir_p(o.out)
local results = {
  recipe = 'calibrate_cifar', checkpoint = o.checkpoint, model = o.model, width = o.width, bn = o.bn or false,
  target_drop = o.target, seed = o.seed, val_accuracy = baseline, split = '45000/5000, seed 0',
  notes = 'GB keeps size 3 (paper Table 1); S- stops at alpha = 0; strength = weakest found costing the target',
  seconds = rft.train.now() - t0, rows = rows,
}
util.write_atomic(o.out .. '/results.json', cjson.encode(results))
print('\nwrote ' .. o.out .. '/results.json (rftlua recipes/show_augmentations.lua --calibration ' .. o.out
      .. '/results.json draws them)')
