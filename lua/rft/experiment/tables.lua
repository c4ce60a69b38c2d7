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

--- Write a CA run's outputs in o.out: model.safetensors, curves.png (from train.csv), results.json;
--- print the table. r: net, before, after (rows), epochs (fit's rows), presets, calibration,
--- baseline_results, baseline_dir, data_dir, val_accuracy, seconds, config (extra keys). Returns the
--- results table.
function M.write_ca(o, r)
  local m = methods.get(o.method)
  local col = M.column(m, 'CA')
  rft.safetensors.save(o.out .. '/model.safetensors', r.net:state_dict(), { model = o.model, method = col })
  report.plot_csv(o.out .. '/train.csv', o.out .. '/curves.png',
    { x = 'epoch', ys = protocol.rows, title = col .. ': test accuracy per epoch (first ' .. o.curve_images .. ' images)',
      ylabel = 'accuracy (%)' })
  print('\n' .. M.text({ baseline = r.before, [col] = r.after }, { 'baseline', col }))
  local tbl = {}
  for _, row in ipairs(protocol.rows) do tbl[row] = { baseline = r.before[row], [col] = r.after[row] } end
  local base = r.baseline_results or {}
  local results = {
    method = col,
    config = { method = methods.config(m, o.method_options), strategy = 'CA: Combined+ on odd epochs, Combined- on even ones',
               model = o.model, width = o.width, bn = o.bn, epochs = o.epochs, lr = o.lr_schedule, batch = o.batch,
               seed = o.seed, weight_decay = o.weight_decay, train_images = o.train_images,
               bn_during_finetuning = 'frozen (evaluation mode)', strengths = r.calibration,
               combined_plus = tostring(r.presets.combined_plus), combined_minus = tostring(r.presets.combined_minus),
               eval_seed = protocol.eval_seed, baseline = r.baseline_dir, data = r.data_dir, rft = rft.version(),
               threads = rft.threads() },
    table = tbl, average_improvement = M.average_improvement(r.after, r.before),
    test_accuracy = r.after.clean, baseline_test_accuracy = r.before.clean, val_accuracy = r.val_accuracy,
    baseline_results = base.config and { test_accuracy = base.test_accuracy, seconds = base.seconds } or nil,
    epochs = r.epochs, seconds = r.seconds,
  }
  report.write_json(o.out .. '/results.json', results)
  print(string.format('wrote %s/results.json, train.csv, curves.png (%s in all)', o.out, rft.train.hms(r.seconds)))
  return results
end

return M
