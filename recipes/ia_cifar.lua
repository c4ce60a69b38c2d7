-- ia_cifar: the IA strategy (paper Table 2): one fine-tuning per distortion and method, each seeing
-- only that distortion; reports clean and distorted test accuracy before and after.
--   rftlua recipes/ia_cifar.lua [--augs B+,GN,...] [--methods FMA,ST,AT] [--epochs 2] ...
local experiment = require 'rft.experiment'
local report = require 'rft.report'
local aug = require 'rft.aug'
local rft = require 'rft'

local args = experiment.parser('ia_cifar', 'Fine-tuning with one distortion at a time (paper Table 2).',
  function(p)
    p:option('--augs', 'distortions, comma-separated', 'B+,B-,GB,GN,SAP,S+,S-')
    p:option('--methods', 'methods, comma-separated', 'FMA,ST,AT')
    p:option('--gamma', 'FMA weight', '0.03', tonumber)
    p:option('--alpha', 'ST weight', '0.1', tonumber)
  end):parse(arg)
local o = experiment.options(args)

local d = experiment.cifar(o.data)
local net0, _, dir = experiment.baseline(o.baseline, d)
local presets = experiment.strengths(net0, d, o, dir)
local base_state = rft.safetensors.load(dir .. '/model.safetensors')
net0:evaluate()
local before = experiment.evaluate_rows(net0, d.test, presets)

local results, lines = { before = before, runs = {} }, {}
lines[1] = string.format('%-6s %-6s %10s %10s %10s %10s', 'aug', 'method', 'clean', 'clean→', 'aug', 'aug→')
for fam in args.augs:gmatch('[^,]+') do
  for method in args.methods:gmatch('[^,]+') do
    local net = experiment.build(o.baseline):load_state_dict(base_state)
    local ft = setmetatable({ presets = presets, lr = experiment.finetune_lr(o.lr, o.epochs),
                              out = string.format('%s/%s_%s', o.out, method, fam:gsub('[+]', 'plus'):gsub('-', 'minus')) },
                            { __index = o })
    experiment.finetune(method, net, d, aug.schedule.fixed(presets[fam]), ft)
    net:evaluate()
    local after = experiment.evaluate_rows(net, d.test, presets)
    results.runs[#results.runs + 1] = { aug = fam, method = method .. '/IA', after = after }
    lines[#lines + 1] = string.format('%-6s %-6s %10.2f %10.2f %10.2f %10.2f', fam, method, before.clean, after.clean,
      before[fam], after[fam])
    print(lines[#lines])
  end
end
print(table.concat(lines, '\n'))
report.write_json(o.out .. '/results.json', results)
