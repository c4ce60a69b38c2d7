-- rft.experiment: what the CIFAR-10 robustness recipes share, split by concern and gathered here:
--   rft.experiment.protocol     the data split, the ten rows and their evaluation (DESIGN.md §5)
--   rft.experiment.baseline     the baseline, trained once per configuration and cached in runs/
--   rft.experiment.calibration  the seven strengths (Table 1, or calibrated and cached)
--   rft.experiment.finetune     fine-tuning with a method (rft.methods) under a schedule
--   rft.experiment.tables       average improvement, text tables, a CA run's results.json
--   rft.experiment.flags        the recipes' command line (rft.cli), checked before any work
-- A recipe reads as the protocol: data, baseline, strengths, rows before, fine-tuning, rows after,
-- tables (recipes/fma_ca_cifar.lua). Nothing here names a method.
local rft = require 'rft'
local aug = require 'rft.aug'
local protocol = require 'rft.experiment.protocol'
local baseline = require 'rft.experiment.baseline'
local calibration = require 'rft.experiment.calibration'
local finetune = require 'rft.experiment.finetune'
local tables = require 'rft.experiment.tables'
local flags = require 'rft.experiment.flags'

local M = {
  protocol = protocol, baseline_cache = baseline, calibration = calibration, tables = tables, flags = flags,
  rows = protocol.rows, families = protocol.families, eval_seed = protocol.eval_seed,
  cifar = protocol.cifar, head = protocol.head, evaluate_rows = protocol.evaluate_rows,
  baseline_defaults = baseline.defaults, baseline_dir = baseline.dir, build = baseline.build,
  train_baseline = baseline.train, baseline = baseline.get, baseline_rows = baseline.rows,
  strengths = calibration.strengths,
  finetune_lr = finetune.lr,
  average_improvement = tables.average_improvement, table_text = tables.text, write_ca = tables.write_ca,
  parser = flags.parser, options = flags.options, parse = flags.parse,
}

--- Fine-tune net with a method under a schedule (rft.experiment.finetune.run); presets: the ten
--- rows' pipelines for the per-epoch curves (default: o.presets).
function M.finetune(method, net, d, schedule, o, presets)
  if presets then o = setmetatable({ presets = presets }, { __index = o }) end
  return finetune.run(method, net, d, schedule, o)
end

--- CA (paper 1): Combined+ in odd epochs, Combined- in even ones.
function M.ca_schedule(presets)
  return aug.schedule.alternate({ presets.combined_plus, presets.combined_minus }, { every = 'epoch' })
end

--- Adds --device to an argparse parser (for recipes not on rft.cli): the value becomes rft.device()
--- as it is parsed; a device that cannot be used is a usage error saying why.
function M.device_option(p)
  p:option('--device', "'cpu' or 'cuda' (default: $RFT_DEVICE, then cpu)"):convert(function(v)
    local ok, err = pcall(rft.device, v)
    if not ok then return nil, (tostring(err):gsub('^[^:]*:%d+: ', '')) end
    return v
  end)
  return p
end

--- The whole CA protocol for o.method in one call (what recipes/fma_ca_cifar.lua spells out line
--- by line): baseline, strengths, rows before, fine-tuning under CA, rows after, results.json.
--- Returns the rows before and after.
function M.run_ca(o)
  local t0 = rft.train.now()
  local d = M.cifar(o.data)
  local net, base, dir = M.baseline(o.baseline, d)
  local presets, cal = M.strengths(net, d, o, dir)
  local before = M.baseline_rows(net, d.test, presets, dir)
  local epochs, curve0 = M.finetune(o.method, net, d, M.ca_schedule(presets), o, presets)
  net:evaluate()
  local after = M.evaluate_rows(net, d.test, presets, tables.column(o.method))
  M.write_ca(o, { net = net, before = before, after = after, epochs = epochs, curve0 = curve0, presets = presets, calibration = cal,
    baseline_results = base, baseline_dir = dir, data_dir = d.dir, val_accuracy = rft.train.evaluate(net, d.val),
    seconds = rft.train.now() - t0 })
  return before, after
end

return M
