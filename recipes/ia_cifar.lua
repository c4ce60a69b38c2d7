-- ia_cifar: the IA strategy (paper Table 2): one fine-tuning per distortion and method, each seeing
-- only that distortion; reports clean and distorted test accuracy before and after, and the strengths.
--   rftlua recipes/ia_cifar.lua [--augs B+,GN,...] [--methods FMA,ST,AT] [--epochs 2] ...
local rft = require 'rft'
local ex = require 'rft.experiment'
local aug = require 'rft.aug'
local methods = require 'rft.methods'
local distortions = require 'rft.aug.distortions'
local report = require 'rft.report'

local p = ex.parser('ia_cifar', 'Fine-tuning with one distortion at a time (paper Table 2).')
p:list('--augs', 'distortions', distortions.names, distortions.names)
p:list('--methods', 'methods', { 'FMA', 'ST', 'AT' }, methods.names())
local args = p:parse(arg)
local o = ex.options(args, p)
local t0 = rft.train.now()

-- data, baseline, strengths, and the baseline's rows on the test set
local d = ex.cifar(o.data)
local net0, _, dir = ex.baseline(o.baseline, d)
local presets, cal = ex.strengths(net0, d, o, dir)
local base_state = rft.safetensors.load(dir .. '/model.safetensors')
local before = ex.baseline_rows(net0, d.test, presets, dir)

-- one fine-tuning per distortion and method, from the same baseline
local results, lines = { before = before, calibration = cal, runs = {}, provenance = report.provenance() }, {}
lines[1] = string.format('%-6s %-13s %10s %10s %10s %10s', 'aug', 'method', 'clean', 'clean→', 'aug', 'aug→')
for _, fam in ipairs(args.augs) do
  for _, name in ipairs(args.methods) do
    local net = ex.build(o.baseline):load_state_dict(base_state)
    local ft = setmetatable({ method_options = methods.options(name, args),
      out = string.format('%s/%s_%s', o.out, ex.flags.slug(name), fam:gsub('[+]', 'plus'):gsub('-', 'minus')) },
      { __index = o })
    ex.finetune(name, net, d, aug.schedule.fixed(presets[fam]), ft, presets)
    net:evaluate()
    local after = ex.evaluate_rows(net, d.test, presets, name .. '/IA ' .. fam)
    results.runs[#results.runs + 1] = { aug = fam, method = name .. '/IA', options = methods.config(name, ft.method_options),
                                        after = after }
    lines[#lines + 1] = string.format('%-6s %-13s %10.2f %10.2f %10.2f %10.2f', fam, name, before.clean, after.clean,
      before[fam], after[fam])
    print(lines[#lines])
  end
end
print(table.concat(lines, '\n'))
results.seconds = rft.train.now() - t0
report.write_json(o.out .. '/results.json', results)
