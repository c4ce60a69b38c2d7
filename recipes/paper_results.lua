-- paper_results: turns a folder of finished runs into the committed results of the multi-seed
-- Table 3 (issue 14): table3.md/json (mean ± std per cell over seeds, the average improvement with
-- its 95 % Student t interval, the clean change, the paper's numbers beside), figure4_<method>.csv/png
-- (the ten rows per epoch from epoch 0, mean over seeds), cifar10c.md/json (mCA, related, unrelated
-- and their change from the baseline), invariance.md/json with invariance_<g>.csv/png (per-layer
-- median score), table2.md/json (IA, from ia/), search.md with search/<name>.json (the searches'
-- tables), baseline/ and runs/<slug>_s<seed>/ (the baseline's and every Table 3 run's record, never
-- their weights), each with the provenance of the
-- runs it read. It reads whatever exists, says what
-- is missing, and can be rerun as runs finish. The layout of --runs (rft.experiment.runs):
--   baseline/  table3/<slug>_s<seed>/  cifar10c/<slug>_s<seed>/, cifar10c/baseline/
--   invariance/<slug>_s<seed>_<g>/, invariance/baseline_<g>/  search/<name>/  ia/<method>/
-- Runs whose curves lack epoch 0 (made before curves.csv existed) get it by evaluating the baseline
-- on their curve images once (cached beside the baseline), unless --no-evaluate.
--   rftlua recipes/paper_results.lua --runs runs/paper_vgg4 --out results/paper_vgg4 [--no-evaluate]
local rft = require 'rft'
local cli = require 'rft.cli'
local runs = require 'rft.experiment.runs'
local files = require 'rft.experiment.paper_files'

local p = cli.parser('paper_results', 'Multi-seed Table 3, Figure 4, CIFAR-10-C and invariance from a runs folder.')
p:string('--runs', 'root of the runs: baseline/, table3/, cifar10c/, invariance/ (required)')
p:string('--out', 'results folder', 'results/paper')
p:string('--methods', 'folder slugs expected under table3/ (comma-separated), to say what is missing',
  table.concat(runs.expected.slugs, ','))
p:numbers('--seeds', 'seeds expected per method', runs.expected.seeds, { min = 0, max = 2 ^ 31 - 1 })
p:integer('--curve-images', "curve images of runs whose results.json predates that key (ca_cifar's --curve-images)",
  nil, { min = 1, max = 10000 })
p:flag('--no-evaluate', 'read files only: runs without epoch 0 on file are left out of Figure 4')
p:string('--data', 'CIFAR-10 folder for epoch 0 (default: $RFT_DATA, then data/cifar-10-batches-bin)')
p:device()
local o = p:parse(arg)
if not o.runs then p:fail('--runs is required: the folder holding baseline/, table3/, cifar10c/, invariance/') end
if #runs.list(o.runs) == 0 then p:fail('--runs: ' .. o.runs .. ' is not a folder with runs in it') end
local t0 = rft.train.now()

local expected = { slugs = {}, seeds = o.seeds, gs = runs.expected.gs }
for slug in o.methods:gmatch('[^,]+') do expected.slugs[#expected.slugs + 1] = slug end
local rs = runs.read(o.runs, { expected = expected, curve_images = o.curve_images })
if #rs.epoch0_needed > 0 and not o.no_evaluate then
  local notes = runs.evaluate_epoch0(rs, o.data)
  rs = runs.read(o.runs, { expected = expected, curve_images = o.curve_images })
  for _, n in ipairs(notes) do rs.notes[#rs.notes + 1] = n end
end

local s = files.write(o.out, rs, arg)

print(string.format('%-34s %3s %18s %18s %9s', 'method', 'n', 'avg. improvement', '95 % interval', 'clean'))
for _, m in ipairs(s.table3.methods) do
  local i = m.improvement
  print(string.format('%-34s %3d %18s %18s %+9.2f', m.label, m.n,
    i.mean and (string.format('%+.2f', i.mean) .. (i.std and string.format(' ± %.2f', i.std) or '')) or '-',
    i.lo and string.format('[%+.2f, %+.2f]', i.lo, i.hi) or '-', m.clean_change.mean or 0 / 0))
end
for _, n in ipairs(rs.notes) do print('note: ' .. n) end
if #rs.missing > 0 then
  print(string.format('missing (%d):', #rs.missing))
  for _, n in ipairs(rs.missing) do print('  ' .. n) end
end
print(string.format('wrote %s: table3.md/json, figure4_*.csv/png, cifar10c.md/json, invariance.md/json, '
  .. 'invariance_*.csv/png, baseline/%s%s (%.1f s)', o.out, #s.searches > 0 and ', search.md' or '',
  s.table2 and ', table2.md/json' or '', rft.train.now() - t0))
