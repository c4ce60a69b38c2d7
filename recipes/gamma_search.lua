-- gamma_search: the weight of a method's loss term (FMA's gamma, ST's alpha: by default the method's
-- first number flag) by grid search on the validation split: a short CA fine-tuning per value, scored
-- by the mean validation accuracy over the ten rows. Writes runs/gamma_search/results.json.
--   rftlua recipes/gamma_search.lua [--method FMA|ST|...] [--grid 0.1,0.3,1,3,10] [--epochs 2] ...
local rft = require 'rft'
local ex = require 'rft.experiment'
local methods = require 'rft.methods'
local report = require 'rft.report'

local p = ex.parser('gamma_search', "Grid search of a method's weight on validation.", { method = 'FMA' })
p:numbers('--grid', 'values', { 0.1, 0.3, 1, 3, 10 }, { min = 0 })
p:integer('--val-images', 'validation images scored', 2000, { min = 1, max = 5000 })
p:string('--param', "what is searched: a number option of the method (default: its first: FMA gamma, ST alpha) or lr")
local args = p:parse(arg)
local o = ex.options(args, p)
local param = args.param
for _, f in ipairs(o.method.flags) do if not param and f[2] == 'number' then param = f.key end end
if param ~= 'lr' and (not param or type(o.method_options[param]) ~= 'number') then
  p:fail(string.format("--param must be lr or a number option of method %s, got '%s'", o.method.name, tostring(param)))
end
for _, v in ipairs(args.grid) do
  if param == 'lr' and v <= 0 then p:fail('--grid: a learning rate must be > 0, got ' .. v) end
end

-- data, baseline, strengths; every value starts from the same baseline weights
local d = ex.cifar(o.data)
local net0, _, dir = ex.baseline(o.baseline, d)
local presets = ex.strengths(net0, d, o, dir)
local state = rft.safetensors.load(dir .. '/model.safetensors')
local val = ex.head(d.val, args.val_images)

local scores, best = {}, nil
for _, value in ipairs(args.grid) do
  local net = ex.build(o.baseline):load_state_dict(state)
  local mo = {}
  for k, v in pairs(o.method_options) do mo[k] = v end
  if param ~= 'lr' then mo[param] = value end
  local ft = setmetatable({ method_options = mo, curve_images = 500,
                            lr_schedule = param == 'lr' and ex.finetune_lr(value, o.epochs) or o.lr_schedule,
                            out = string.format('%s/%s_%s%g', o.out, ex.flags.slug(o.method), param, value) },
                          { __index = o })
  ex.finetune(o.method, net, d, ex.ca_schedule(presets), ft, presets)
  net:evaluate()
  local acc = ex.evaluate_rows(net, val, presets, string.format('%s %s = %g (validation)', o.method.name, param, value))
  local mean = 0
  for _, r in ipairs(ex.rows) do mean = mean + acc[r] / #ex.rows end
  scores[#scores + 1] = { value = value, mean_val_accuracy = mean, rows = acc }
  print(string.format('%s %s = %-6g mean validation accuracy over the rows %.2f %%', o.method.name, param, value, mean))
  if not best or mean > best.mean_val_accuracy then best = scores[#scores] end
end
print(string.format('best: %s = %g (%.2f %%)', param, best.value, best.mean_val_accuracy))
report.write_json(o.out .. '/results.json', { method = o.method.name, param = param, scores = scores, best = best.value,
  val_accuracy = best.mean_val_accuracy, options = methods.config(o.method, o.method_options) })
