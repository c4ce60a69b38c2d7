-- gamma_search: the weight of the FMA loss (gamma) or of the stability loss (alpha) by grid
-- search on the validation split: a short CA fine-tuning per value, scored by the mean validation
-- accuracy over the ten rows. Writes runs/gamma_search/results.json.
--   rftlua recipes/gamma_search.lua [--method FMA|ST] [--grid 0.1,0.3,1,3,10] [--epochs 2] ...
local experiment = require 'rft.experiment'
local report = require 'rft.report'
local aug = require 'rft.aug'
local rft = require 'rft'

local args = experiment.parser('gamma_search', 'Grid search of gamma (FMA) or alpha (ST) on validation.',
  function(p)
    p:option('--method', 'FMA or ST', 'FMA')
    p:option('--grid', 'values, comma-separated', '0.1,0.3,1,3,10')
    p:option('--val-images', 'validation images scored', '2000', tonumber)
  end):parse(arg)
local o = experiment.options(args)

local d = experiment.cifar(o.data)
local net0, _, dir = experiment.baseline(o.baseline, d)
local presets = experiment.strengths(net0, d, o, dir)
local state = rft.safetensors.load(dir .. '/model.safetensors')
local val = experiment.head(d.val, args.val_images)
local schedule = aug.schedule.alternate({ presets.combined_plus, presets.combined_minus }, { every = 'epoch' })

local scores, best = {}, nil
for v in args.grid:gmatch('[^,]+') do
  local value = tonumber(v)
  local net = experiment.build(o.baseline):load_state_dict(state)
  local ft = setmetatable({ presets = presets, lr = experiment.finetune_lr(o.lr, o.epochs), gamma = value, alpha = value,
                            out = o.out .. '/' .. args.method .. '_' .. v, curve_images = 500 }, { __index = o })
  experiment.finetune(args.method, net, d, schedule, ft)
  net:evaluate()
  local acc = experiment.evaluate_rows(net, val, presets)
  local mean = 0
  for _, r in ipairs(experiment.rows) do mean = mean + acc[r] / #experiment.rows end
  scores[#scores + 1] = { value = value, mean_val_accuracy = mean, rows = acc }
  print(string.format('%s %s = %-6g mean validation accuracy over the rows %.2f %%', args.method,
    args.method == 'FMA' and 'gamma' or 'alpha', value, mean))
  if not best or mean > best.mean_val_accuracy then best = scores[#scores] end
end
print(string.format('best: %g (%.2f %%)', best.value, best.mean_val_accuracy))
report.write_json(o.out .. '/results.json', { method = args.method, scores = scores, best = best.value,
                                               val_accuracy = best.mean_val_accuracy })
