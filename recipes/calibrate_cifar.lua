-- calibrate_cifar.lua: paper 1's calibration (3.3.2) for a trained checkpoint: for each of the seven
-- augmentations, the strength at which validation accuracy falls by 10 points (bisection on the
-- 5,000-image validation split). Prints and saves a table like the paper's Table 1, and a line for
-- every step of each bisection as it happens.
--   rftlua recipes/calibrate_cifar.lua --checkpoint runs/baseline/checkpoint.safetensors
--          --model allcnn_c --width 1 [--bn] [--data DIR] [--out runs/calibrate] [--families B+,GN]
local rft = require 'rft'
local cli = require 'rft.cli'
local checkpoints = require 'rft.experiment.baseline'
local distortions = require 'rft.aug.distortions'
local util = require 'rft.util'
local aug = rft.aug

local p = cli.parser('calibrate_cifar', "paper 1's Table 1 for a trained model")
p:string('--checkpoint', 'safetensors state dict of the trained model (required)')
p:choice('--model', "architecture (default: the checkpoint's, else " .. checkpoints.defaults.model .. ')', nil, cli.models())
p:number('--width', "width multiplier (default: the checkpoint's, else 1)", nil, { above = 0, max = 16 })
p:flag('--bn', 'the model has batch normalisation')
p:string('--data', 'CIFAR-10 folder (cifar-10-batches-bin)')
p:device()
p:string('--out', 'results folder', 'runs/calibrate')
p:list('--families', 'distortions to calibrate', distortions.names, distortions.names)
p:number('--target', 'accuracy drop in points', 10, { above = 0, below = 100 })
p:integer('--seed', 'augmentation seed', 0, { min = 0, max = 2 ^ 31 - 1 })
p:integer('--batch', 'evaluation batch', 500, { min = 1, max = 5000 })
local o = p:parse(arg)
if not o.checkpoint then p:fail('--checkpoint is required: the safetensors file of the model to calibrate') end

-- model
local net
net, o.width, o.model = checkpoints.load_checkpoint(o, o.checkpoint)

-- the validation split (45,000 / 5,000, DESIGN.md §5)
local val = require('rft.experiment').cifar(o.data).val
local baseline = rft.train.evaluate(net, val, { batch = o.batch })
print(string.format('%s (width %g%s) from %s: validation accuracy %.2f %% on %d images', o.model, o.width,
                    o.bn and ', bn' or '', o.checkpoint, baseline, val.n))

local rows, lines, t0 = {}, {}, rft.train.now()
local head = string.format('%-5s %-6s %10s %10s %10s %8s %12s', 'aug', 'param', 'strength', 'accuracy', 'baseline',
                           'reached', 'paper')
for _, name in ipairs(o.families) do
  local paper = distortions.table1(name, 'cifar10')
  local r = aug.calibrate { family = name, model = net, data = val, baseline = baseline, target_drop = o.target,
    seed = o.seed, batch = o.batch, log = function(s, a)
      print(string.format('  %-4s %s = %-9.5g accuracy %6.2f %%', name, distortions.get(name).param, s, a))
      io.stdout:flush()
    end }
  rows[#rows + 1] = { family = name, param = r.param, strength = r.strength, accuracy = r.accuracy,
                      baseline = r.baseline, drop = r.drop, reached = r.reached, paper = paper,
                      evaluations = r.evaluations, history = r.history }
  lines[#lines + 1] = string.format('%-5s %-6s %10.4g %9.2f%% %9.2f%% %8s %12.4g', name, r.param, r.strength,
                                    r.accuracy, r.baseline, r.reached and 'yes' or 'NO', paper)
  print(lines[#lines])
end
print('\n' .. head .. '\n' .. table.concat(lines, '\n'))

util.mkdir_p(o.out)
local results = {
  recipe = 'calibrate_cifar', checkpoint = o.checkpoint, model = o.model, width = o.width, bn = o.bn or false,
  target_drop = o.target, seed = o.seed, val_accuracy = baseline, split = '45000/5000, seed 0',
  notes = 'GB keeps size 3 (paper Table 1); S- stops at alpha = 0; strength = weakest found costing the target',
  seconds = rft.train.now() - t0, rows = rows,
}
require('rft.report').write_json(o.out .. '/results.json', results)
print('\nwrote ' .. o.out .. '/results.json (rftlua recipes/show_augmentations.lua --calibration ' .. o.out
      .. '/results.json draws them)')
