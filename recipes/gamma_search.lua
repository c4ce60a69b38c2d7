-- gamma_search: one fine-tuning setting by grid search on the validation split: a method's weight
-- (FMA's gamma, ST's alpha: by default the method's first number flag), the learning rate (lr) or the
-- share of epochs at it (lr_top). A CA fine-tuning per value, scored by the mean validation accuracy
-- over the ten rows; the selected value is the best whose clean validation accuracy is at most
-- --max-clean-drop points under the baseline's (issue 14); when none is, the one with the smallest clean
-- drop is named as the closest (best stays null: the rule was not met). A value whose training diverges
-- is kept as such and never selected. Each value's score is kept in its folder, so a killed search
-- resumes. Writes <out>/results.json and search.md.
--   rftlua recipes/gamma_search.lua [--method FMA|ST|...] [--param gamma|lr|lr_top] [--grid 0.1,0.3,1] ...
local rft = require 'rft'
local ex = require 'rft.experiment'
local methods = require 'rft.methods'
local report = require 'rft.report'
local util = require 'rft.util'
local cjson = require 'cjson'

local p = ex.parser('gamma_search', "Grid search of a fine-tuning setting on validation.", { method = 'FMA' })
p:numbers('--grid', 'values', { 0.1, 0.3, 1, 3, 10 }, { min = 0 })
p:integer('--val-images', 'validation images scored', 2000, { min = 1, max = 5000 })
p:string('--param', "what is searched: a number option of the method (default: its first: FMA gamma, ST alpha), lr or lr_top")
p:number('--max-clean-drop', 'selection: clean validation accuracy at most this many points under the baseline', 1,
  { min = 0, max = 100 })
local args = p:parse(arg)
local o = ex.options(args, p)
local param = args.param
for _, f in ipairs(o.method.flags) do if not param and f[2] == 'number' then param = f.key end end
local schedule_param = param == 'lr' or param == 'lr_top'
if not schedule_param and (not param or type(o.method_options[param]) ~= 'number') then
  p:fail(string.format("--param must be lr, lr_top or a number option of method %s, got '%s'", o.method.name, tostring(param)))
end
for _, v in ipairs(args.grid) do
  if schedule_param and (v <= 0 or (param == 'lr_top' and v > 1)) then
    p:fail(string.format('--grid: %s must be %s, got %g', param, param == 'lr' and '> 0' or 'in (0, 1]', v))
  end
end

-- data, baseline, strengths; every value starts from the same baseline weights
local d = ex.cifar(o.data)
local net0, _, dir = ex.baseline(o.baseline, d)
local presets = ex.strengths(net0, d, o, dir)
local state = rft.safetensors.load(dir .. '/model.safetensors')
local val = ex.head(d.val, args.val_images)
local base = ex.baseline_rows(net0, val, presets, dir)

local function mean_rows(acc)
  local m = 0
  for _, r in ipairs(ex.rows) do m = m + acc[r] / #ex.rows end
  return m
end

local scores, best = {}, nil
for _, value in ipairs(args.grid) do
  local out = string.format('%s/%s_%s%g', o.out, ex.flags.slug(o.method), param, value)
  local f = io.open(out .. '/score.json')
  local score = f and cjson.decode(f:read('*a'))
  if f then f:close(); print(string.format('%s %s = %g: %s/score.json', o.method.name, param, value, out)) end
  if not score then
    local net = ex.build(o.baseline):load_state_dict(state)
    local mo = {}
    for k, v in pairs(o.method_options) do mo[k] = v end
    if not schedule_param then mo[param] = value end
    local lr, top = param == 'lr' and value or args.lr, param == 'lr_top' and value or args.lr_top
    local ft = setmetatable({ method_options = mo, curve_images = 500, lr_schedule = ex.finetune_lr(lr, o.epochs, top),
                              out = out }, { __index = o })
    local t0 = rft.train.now()
    -- a value whose training diverges (rft.train.fit stops on a non-finite loss, metric or weight) is a
    -- result of the search, kept and never selected; any other error stops the search
    local ok, err = pcall(ex.finetune, o.method, net, d, ex.ca_schedule(presets), ft, presets)
    if ok then
      net:evaluate()
      local acc = ex.evaluate_rows(net, val, presets, string.format('%s %s = %g (validation)', o.method.name, param, value))
      score = { value = value, mean_val_accuracy = mean_rows(acc), clean_drop = base.clean - acc.clean, rows = acc }
    elseif tostring(err):find('training stopped: ', 1, true) then
      score = { value = value, diverged = tostring(err):match('training stopped: .*$') }
    else
      error(err, 0)
    end
    score.options, score.lr, score.seconds = methods.config(o.method, mo), ft.lr_schedule, rft.train.now() - t0
    util.mkdir_p(out)
    report.write_json(out .. '/score.json', score)
  end
  score.eligible = not score.diverged and score.clean_drop <= args.max_clean_drop
  scores[#scores + 1] = score
  if score.diverged then
    print(string.format('%s %s = %-6g diverged: %s', o.method.name, param, value, score.diverged))
  else
    print(string.format('%s %s = %-6g mean validation accuracy over the rows %.2f %%, clean drop %.2f', o.method.name,
      param, value, score.mean_val_accuracy, score.clean_drop))
  end
  if score.eligible and (not best or score.mean_val_accuracy > best.mean_val_accuracy) then best = score end
end
local closest   -- no value met the rule: the one that came nearest to it
if not best then
  for _, s in ipairs(scores) do
    if not s.diverged and (not closest or s.clean_drop < closest.clean_drop) then closest = s end
  end
end

-- the table: one line per value, the selected one marked
local lines = {
  string.format('%s: %s on %d validation images, %d epochs on %d training images, baseline %s', o.method.name, param,
    val.n, o.epochs, math.min(o.train_images, d.train.n), dir),
  string.format('baseline: clean %.2f %%, mean over the ten rows %.2f %%; selection: best mean with clean drop <= %g',
    base.clean, mean_rows(base), args.max_clean_drop), '',
  string.format('| %s | mean of ten rows | clean | clean change | selected |', param), '| ---: | ---: | ---: | ---: | :---: |',
}
for _, s in ipairs(scores) do
  if s.diverged then
    lines[#lines + 1] = string.format('| %g | diverged | — | — | no (%s) |', s.value, s.diverged)
  else
    lines[#lines + 1] = string.format('| %g | %.2f | %.2f | %+.2f | %s |', s.value, s.mean_val_accuracy, s.rows.clean,
      -s.clean_drop, s == best and 'yes' or s == closest and 'closest: drop > ' .. args.max_clean_drop .. ', the smallest'
        or (s.eligible and '' or 'drop > ' .. args.max_clean_drop))
  end
end
local text = table.concat(lines, '\n') .. '\n'
print('\n' .. text)
print(best and string.format('best: %s = %g (%.2f %%)', param, best.value, best.mean_val_accuracy)
  or string.format('no value kept the clean drop within %g points%s', args.max_clean_drop,
    closest and string.format('; the closest: %s = %g (clean drop %.2f)', param, closest.value, closest.clean_drop) or ''))
util.write_atomic(o.out .. '/search.md', text)
report.write_json(o.out .. '/results.json', { method = o.method.name, param = param, scores = scores,
  best = best and best.value or cjson.null, val_accuracy = best and best.mean_val_accuracy or cjson.null,
  closest = closest and closest.value or nil, closest_val_accuracy = closest and closest.mean_val_accuracy or nil,
  baseline_rows = base, max_clean_drop = args.max_clean_drop, epochs = o.epochs, train_images = o.train_images,
  baseline = dir, options = methods.config(o.method, o.method_options), lr = args.lr, lr_top = args.lr_top,
  provenance = report.provenance() })
