-- rft.experiment.tables: the reporting of a robustness run: Table 3's average improvement, the text
-- table, and a CA run's results.json, curves.png and final model (DESIGN.md §7's keys: `table` keyed
-- by row and by `baseline` / `<method>/CA`).
local rft = require 'rft'
local report = require 'rft.report'
local methods = require 'rft.methods'
local protocol = require 'rft.experiment.protocol'

local M = {}

--- Mean over rows of (accuracy - baseline accuracy): Table 3's average improvement (10 rows) or,
--- with rows = the 7 families, Table 2's.
function M.average_improvement(acc, base, rows)
  rows = rows or protocol.rows
  local s = 0
  for _, r in ipairs(rows) do s = s + acc[r] - base[r] end
  return s / #rows
end

--- A Table-3-like text table: one row per distortion, one column per method (names[1]: the
--- reference the improvement is measured against).
function M.text(columns, names)
  local fmt = '%-11s' .. string.rep('%14s', #names)
  local lines = { string.format(fmt, 'row', unpack(names)) }
  for _, r in ipairs(protocol.rows) do
    local cells = {}
    for i, n in ipairs(names) do cells[i] = string.format('%.2f', columns[n][r]) end
    lines[#lines + 1] = string.format(fmt, r, unpack(cells))
  end
  local cells = { '' }
  for i = 2, #names do cells[i] = string.format('%+.2f', M.average_improvement(columns[names[i]], columns[names[1]])) end
  lines[#lines + 1] = string.format(fmt, 'avg. impr.', unpack(cells))
  return table.concat(lines, '\n')
end

--- The column name a method reports under with a strategy: 'FMA/CA'.
function M.column(method, strategy) return methods.get(method).name .. '/' .. (strategy or 'CA') end

--- Figure 4 from a CSV with columns epoch and the ten rows (curves.csv, or a mean over seeds): each
--- row its own colour and marker, clean heavier, the Combined rows dashed.
function M.plot_curves(csv, png, title)
  return report.plot_csv(csv, png, { x = 'epoch', ys = protocol.rows, title = title, ylabel = 'accuracy (%)',
    thick = { 'clean' }, dashed = { 'Combined+', 'Combined-' } })
end

--- Write a CA run's outputs in o.out: model.safetensors, curves.png (from curves.csv, which starts at
--- the baseline, or train.csv where there is none), results.json; print the table. r: net, before,
--- after (rows), epochs (fit's rows), curve0 (epoch 0's rows on the curve images, as finetune.run
--- returns them), presets, calibration, baseline_results, baseline_dir, data_dir, val_accuracy,
--- seconds, config (extra keys). Returns the results table.
function M.write_ca(o, r)
  local m = methods.get(o.method)
  local col = M.column(m, 'CA')
  rft.safetensors.save(o.out .. '/model.safetensors', r.net:state_dict(),
    { model = o.model, width = o.width, bn = tostring(o.bn), method = col })
  local curves = o.out .. '/curves.csv'
  local f = io.open(curves)
  if f then f:close() else curves = o.out .. '/train.csv' end
  M.plot_curves(curves, o.out .. '/curves.png', col .. ': test accuracy per epoch (first ' .. o.curve_images .. ' images)')
  print('\n' .. M.text({ baseline = r.before, [col] = r.after }, { 'baseline', col }))
  local tbl = {}
  for _, row in ipairs(protocol.rows) do tbl[row] = { baseline = r.before[row], [col] = r.after[row] } end
  local base = r.baseline_results or {}
  local results = {
    method = col,
    config = { method = methods.config(m, o.method_options), strategy = 'CA: Combined+ on odd epochs, Combined- on even ones',
               model = o.model, width = o.width, bn = o.bn, epochs = o.epochs, lr = o.lr_schedule, batch = o.batch,
               seed = o.seed, weight_decay = o.weight_decay, train_images = o.train_images, curve_images = o.curve_images,
               bn_during_finetuning = 'frozen (evaluation mode)', strengths = r.calibration,
               combined_plus = tostring(r.presets.combined_plus), combined_minus = tostring(r.presets.combined_minus),
               eval_seed = protocol.eval_seed, baseline = r.baseline_dir, data = r.data_dir, rft = rft.version(),
               threads = rft.threads() },
    table = tbl, average_improvement = M.average_improvement(r.after, r.before),
    test_accuracy = r.after.clean, baseline_test_accuracy = r.before.clean, val_accuracy = r.val_accuracy,
    baseline_results = base.config and { test_accuracy = base.test_accuracy, seconds = base.seconds } or nil,
    epochs = r.epochs, curve_baseline = r.curve0, seconds = r.seconds, provenance = report.provenance(),
  }
  report.write_json(o.out .. '/results.json', results)
  print(string.format('wrote %s/results.json, train.csv, curves.csv, curves.png (%s in all)', o.out,
    rft.train.hms(r.seconds)))
  return results
end

return M
