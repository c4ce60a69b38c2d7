-- rft.experiment.paper_files: writes the summaries of rft.experiment.aggregate into a results folder:
-- table3.md/json, figure4_<method>.csv/png, cifar10c.md/json, invariance.md/json with
-- invariance_<g>.csv/png, and provenance in every JSON and Markdown file (the runs that fed it);
-- beside them Table 2 (table2.md/json, from ia/ runs), the baseline's record (baseline/) and the
-- searches' tables (search.md, search/).
-- Formatting only: every number is computed in rft.experiment.aggregate.
local cjson = require 'cjson'
local report = require 'rft.report'
local util = require 'rft.util'
local protocol = require 'rft.experiment.protocol'
local tables = require 'rft.experiment.tables'
local runs_mod = require 'rft.experiment.runs'
local A = require 'rft.experiment.aggregate'

local M = {}

local function f2(v) return type(v) == 'number' and string.format('%.2f', v) or '—' end
local function s2(v) return type(v) == 'number' and string.format('%+.2f', v) or '—' end
local function f3(v) return type(v) == 'number' and string.format('%.3f', v) or '—' end
local function pm(s, signed)
  if not s or not s.mean then return '—' end
  local m = signed and s2(s.mean) or f2(s.mean)
  return s.std and (m .. ' ± ' .. f2(s.std)) or m
end
local function interval(s) return s and s.lo and string.format('[%+.2f, %+.2f]', s.lo, s.hi) or '— (n < 2)' end
local function list(t, fmt)
  local o = {}
  for i, v in ipairs(t) do o[i] = (fmt or tostring)(v) end
  return table.concat(o, ', ')
end
local function row(cells) return '| ' .. table.concat(cells, ' | ') .. ' |' end
local function hms(s)
  if type(s) ~= 'number' then return '—' end
  return string.format('%d:%02d:%02d', math.floor(s / 3600), math.floor(s / 60) % 60, math.floor(s % 60))
end

-- The Markdown provenance section: the aggregation, then each run of the given kinds.
local function provenance_md(p, kinds)
  local want = {}
  for _, k in ipairs(kinds) do want[k] = true end
  local lines = { '', '## Provenance', '',
    string.format('Aggregated by `%s` at commit %s%s on %s (%s), %s.', p.command or '(no command line)',
      p.commit or '(not a git checkout)', p.dirty and ' (with uncommitted changes)' or '', p.machine.cpu,
      p.machine.isa, p.date), '',
    row { 'run', 'command', 'commit', 'machine', 'wall time' }, row { '---', '---', '---', '---', '---:' } }
  for _, r in ipairs(p.runs) do
    if want[r.kind] then
      lines[#lines + 1] = row { r.dir, r.command and ('`' .. r.command:gsub('|', '\\|') .. '`') or 'not recorded',
        r.commit and (r.commit:sub(1, 10) .. (r.dirty and ' (dirty)' or '')
          .. (r.started_commit and (', started at ' .. r.started_commit:sub(1, 10)) or '')) or 'not recorded',
        r.cpu and (r.cpu .. ', ' .. (r.isa or '?') .. (r.device and r.device ~= 'cpu' and (', ' .. r.device) or '')) or 'not recorded',
        hms(r.seconds) }
    end
  end
  return table.concat(lines, '\n')
end

local function lists_md(rs, extra)
  local lines = {}
  local notes = {}
  for _, n in ipairs(rs.notes) do notes[#notes + 1] = n end
  for _, n in ipairs(extra or {}) do notes[#notes + 1] = n end
  if #notes > 0 then
    lines[#lines + 1] = '\n## Notes\n'
    for _, n in ipairs(notes) do lines[#lines + 1] = '- ' .. n end
  end
  if #rs.missing > 0 then
    lines[#lines + 1] = '\n## Missing (not yet run, or still running)\n'
    for _, n in ipairs(rs.missing) do lines[#lines + 1] = '- ' .. n end
  end
  return table.concat(lines, '\n')
end

local function write_json(path, t) report.write_json(path, t) end

-- rs's missing entries under one of its subfolders ('cifar10c', 'invariance')
local function missing_in(rs, sub)
  local out = {}
  for _, m in ipairs(rs.missing) do if m:find('/' .. sub .. '/', 1, true) then out[#out + 1] = m end end
  return { notes = {}, missing = out }
end

--- table3.md and table3.json.
function M.table3(out, rs, t, prov)
  local head = { 'row', 'baseline', 'paper baseline' }
  local align = { '---', '---:', '---:' }
  for _, m in ipairs(t.methods) do head[#head + 1] = m.label; align[#align + 1] = '---:' end
  local lines = { '# Table 3: every method under CA, mean ± std over seeds', '',
    string.format('Runs: `%s`. Test accuracy (%%) on the 10,000 test images; each cell the mean ± sample std '
      .. '(n − 1) over seeds. Average improvement: the mean over the ten rows of (after − baseline), per seed; its '
      .. '95 %% interval is Student t with n − 1 degrees of freedom. The paper column holds the only numbers of '
      .. "the paper's Table 3 quoted in this project (its baseline's clean accuracy and average improvements; "
      .. 'VGG-16 pretrained on ImageNet, 30 epochs); no per-row numbers are taken from it.', rs.root), '',
    row(head), row(align) }
  for _, r in ipairs(protocol.rows) do
    local cells = { r, f2(t.baseline[r]), r == 'clean' and f2(A.paper.baseline_clean) or '—' }
    for _, m in ipairs(t.methods) do cells[#cells + 1] = pm(m.cells[r]) end
    lines[#lines + 1] = row(cells)
  end
  local function extra(name, f)
    local cells = { name, '', '' }
    for _, m in ipairs(t.methods) do cells[#cells + 1] = f(m) end
    lines[#lines + 1] = row(cells)
  end
  extra('**average improvement**', function(m) return '**' .. pm(m.improvement, true) .. '**' end)
  extra('95 % interval (t, n − 1 dof)', function(m) return interval(m.improvement) end)
  extra('paper average improvement', function(m) return s2(A.paper.average_improvement[m.column]) end)
  extra('clean change', function(m) return pm(m.clean_change, true) end)
  extra('seeds (n)', function(m) return string.format('%s (n = %d)', list(m.seeds), m.n) end)
  lines[#lines + 1] = '\n## Average improvement beside the paper\n'
  lines[#lines + 1] = row { 'method', 'n', 'per seed', 'mean', '95 % interval', 'clean change', 'paper' }
  lines[#lines + 1] = row { '---', '---:', '---', '---:', '---', '---:', '---:' }
  for _, m in ipairs(t.methods) do
    lines[#lines + 1] = row { m.label, tostring(m.n), list(m.improvement.values, s2), s2(m.improvement.mean),
      interval(m.improvement), pm(m.clean_change, true), s2(A.paper.average_improvement[m.column]) }
  end
  lines[#lines + 1] = row { 'baseline clean accuracy', '', '', f2(t.baseline.clean), '', '', f2(A.paper.baseline_clean) }
  lines[#lines + 1] = '\n## Change from the baseline per row: mean [95 % interval]\n'
  local h, al = { 'row' }, { '---' }
  for _, m in ipairs(t.methods) do h[#h + 1] = m.label; al[#al + 1] = '---:' end
  lines[#lines + 1] = row(h); lines[#lines + 1] = row(al)
  for _, r in ipairs(protocol.rows) do
    local cells = { r }
    for _, m in ipairs(t.methods) do
      local c = m.change[r]
      cells[#cells + 1] = s2(c.mean) .. (c.lo and (' ' .. interval(c)) or '')
    end
    lines[#lines + 1] = row(cells)
  end
  lines[#lines + 1] = '\nFigure 4 (per-epoch curves from epoch 0, mean over seeds): `figure4_<method>.png`, its numbers in '
    .. '`figure4_<method>.csv`.'
  lines[#lines + 1] = lists_md(rs)
  lines[#lines + 1] = provenance_md(prov, { 'baseline', 'table3' })
  util.write_atomic(out .. '/table3.md', table.concat(lines, '\n') .. '\n')
  write_json(out .. '/table3.json', { runs = rs.root, rows = protocol.rows, baseline = t.baseline, paper = A.paper,
    methods = t.methods, missing = rs.missing, notes = rs.notes, provenance = prov })
end

--- figure4_<slug>.csv and .png for every group; returns the notes (groups or runs without curves).
function M.figure4(out, rs)
  local notes = {}
  for _, g in ipairs(rs.groups) do
    local f = A.figure4(g)
    if #f.left_out > 0 then
      notes[#notes + 1] = string.format('%s: %s left out of Figure 4 (no epoch 0: run recipes/paper_results.lua with '
        .. 'the data to evaluate the baseline on their curve images)', g.label, list(f.left_out))
    end
    if #f.images > 1 then
      notes[#notes + 1] = string.format('%s: its runs drew their curves on different numbers of test images (%s)',
        g.label, list(f.images))
    end
    if #f.epochs > 0 then
      local cols = { 'epoch', 'n' }
      for _, r in ipairs(protocol.rows) do cols[#cols + 1] = r end
      for _, r in ipairs(protocol.rows) do cols[#cols + 1] = r .. ' std' end
      local lines = {}
      for _, e in ipairs(f.epochs) do
        local l = { epoch = e.epoch, n = e.n }
        for _, r in ipairs(protocol.rows) do l[r] = e.mean[r]; l[r .. ' std'] = e.std[r] end
        lines[#lines + 1] = l
      end
      local csv = out .. '/figure4_' .. g.slug .. '.csv'
      require('rft').train.write_csv(csv, lines, cols)
      tables.plot_curves(csv, out .. '/figure4_' .. g.slug .. '.png', string.format(
        '%s: test accuracy per epoch, mean over seeds %s (first %s images)', g.label, list(f.seeds), list(f.images)))
    end
  end
  return notes
end

--- cifar10c.md and cifar10c.json.
function M.cifar10c(out, rs, c, prov)
  local lines = { '# Held-out corruptions (CIFAR-10-C), mean ± std over seeds', '',
    'Mean accuracy (%) over the 15 benchmark corruptions x 5 severities (mCA), over the related ones (brightness, '
      .. 'gaussian_noise, impulse_noise; with the extras gaussian_blur and saturate where evaluated) and the '
      .. 'unrelated twelve; Δ: change of the mean from the baseline.', '',
    row { 'model', 'n', 'clean', 'mCA', 'Δ mCA', 'related', 'Δ related', 'unrelated', 'Δ unrelated' },
    row { '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:' },
    row { 'baseline', '1', f2(c.baseline.clean), f2(c.baseline.mca), '', f2(c.baseline.related), '',
      f2(c.baseline.unrelated), '' } }
  for _, m in ipairs(c.methods) do
    lines[#lines + 1] = row { m.label, tostring(m.n), pm(m.clean), pm(m.mca), s2(m.change.mca), pm(m.related),
      s2(m.change.related), pm(m.unrelated), s2(m.change.unrelated) }
  end
  lines[#lines + 1] = lists_md(missing_in(rs, 'cifar10c'), c.notes)
  lines[#lines + 1] = provenance_md(prov, { 'cifar10c' })
  util.write_atomic(out .. '/cifar10c.md', table.concat(lines, '\n') .. '\n')
  write_json(out .. '/cifar10c.json', { runs = rs.root, baseline = c.baseline, methods = c.methods, notes = c.notes,
    missing = missing_in(rs, 'cifar10c').missing, provenance = prov })
end

--- invariance.md/json, and per G invariance_<g>.csv and .png (layers on x, a curve per model).
function M.invariance(out, rs, inv, prov)
  local lines = { '# Invariance score per layer (second paper, eq. 2): median over test images x draws, mean over seeds', '' }
  for _, gname in ipairs(inv.gs) do
    local e = inv.by_g[gname]
    local head, align = { 'layer', 'baseline' }, { '---', '---:' }
    local cols = { 'index', 'layer', 'baseline' }
    for _, m in ipairs(e.methods) do
      head[#head + 1] = string.format('%s (n = %d)', m.label, m.n); align[#align + 1] = '---:'
      cols[#cols + 1] = m.slug
    end
    lines[#lines + 1] = '## G = ' .. gname .. '\n'
    lines[#lines + 1] = row(head); lines[#lines + 1] = row(align)
    local csv_rows = {}
    for i, l in ipairs(e.layers) do
      local cells = { l, f3(e.baseline[l]) }
      local c = { index = i, layer = l, baseline = e.baseline[l] }
      for _, m in ipairs(e.methods) do
        cells[#cells + 1] = f3(m.median[l]) .. (m.std[l] and string.format(' ± %.3f', m.std[l]) or '')
        c[m.slug] = m.median[l]
      end
      lines[#lines + 1] = row(cells)
      csv_rows[#csv_rows + 1] = c
    end
    lines[#lines + 1] = ''
    local gslug = runs_mod.slug((gname:gsub('%+$', '_plus'):gsub('%-$', '_minus')))   -- Combined+ -> combined_plus
    local csv = out .. '/invariance_' .. gslug .. '.csv'
    require('rft').train.write_csv(csv, csv_rows, cols)
    local plots = {}
    local labels = { 'baseline' }
    for _, m in ipairs(e.methods) do labels[#labels + 1] = m.label end
    for j = 3, #cols do
      plots[#plots + 1] = string.format("'%s' using 1:%d:xtic(2) with linespoints %s lw 1.5 title '%s'", csv, j,
        report.curve_style(j - 2), labels[j - 2]:gsub("'", "''"))
    end
    report.gnuplot_script(out .. '/invariance_' .. gslug .. '.png', table.concat({
      'set datafile separator ","', 'set termoption noenhanced', 'set key outside right', 'set grid',
      'set offsets 0.3, 0.3, 0, 0', "set title 'Invariance score per layer, median (mean over seeds), G = " .. gname .. "'",
      "set xlabel 'layer'", "set ylabel 'median invariance score'", 'plot ' .. table.concat(plots, ', ') }, '\n'))
  end
  lines[#lines + 1] = lists_md(missing_in(rs, 'invariance'), inv.notes)
  lines[#lines + 1] = provenance_md(prov, { 'invariance' })
  util.write_atomic(out .. '/invariance.md', table.concat(lines, '\n') .. '\n')
  write_json(out .. '/invariance.json', { runs = rs.root, gs = inv.gs, by_g = inv.by_g, notes = inv.notes,
    missing = missing_in(rs, 'invariance').missing, provenance = prov })
end

local function read_text(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local text = f:read('*a'); f:close()
  return text
end

--- The baseline's record from root/baseline (train.csv, train.png, results.json; never its weights)
--- into out/baseline/. Returns the names copied.
function M.baseline(out, root)
  local copied = {}
  for _, name in ipairs { 'results.json', 'train.csv', 'train.png' } do
    local text = read_text(root .. '/baseline/' .. name)
    if text then
      util.mkdir_p(out .. '/baseline')
      util.write_atomic(out .. '/baseline/' .. name, text)
      copied[#copied + 1] = name
    end
  end
  return copied
end

--- Every finished Table 3 run's record from root/table3/<name>/ (results.json, train.csv, curves.csv;
--- never its weights) into out/runs/<name>/: the per-seed numbers behind every cell, kept when the
--- runs folder is not. Returns the names of the runs copied.
function M.records(out, root)
  local names = {}
  for _, name in ipairs(runs_mod.list(root .. '/table3')) do
    local dir = root .. '/table3/' .. name
    if read_text(dir .. '/results.json') then
      names[#names + 1] = name
      util.mkdir_p(out .. '/runs/' .. name)
      for _, f in ipairs { 'results.json', 'train.csv', 'curves.csv' } do
        local text = read_text(dir .. '/' .. f)
        if text then util.write_atomic(out .. '/runs/' .. name .. '/' .. f, text) end
      end
    end
  end
  return names
end

--- The finished searches under root/search (recipes/gamma_search.lua folders: search.md and
--- results.json) into out/search.md, every table under its folder's name with the command that made
--- it, and out/search/<name>.json. Returns the names of the searches found.
function M.searches(out, root)
  local names, lines = {}, { '# Searches on the validation split', '',
    'Each table comes from `recipes/gamma_search.lua` (the command under it); the selected value is the',
    'best mean validation accuracy over the ten rows whose clean accuracy dropped at most the stated bound;',
    'where no value met the bound, the one with the smallest clean drop is marked closest, and the Table 3',
    'runs use it (`tools/experiments/table3.sh`).', '' }
  for _, name in ipairs(runs_mod.list(root .. '/search')) do
    local dir = root .. '/search/' .. name
    local md, json = read_text(dir .. '/search.md'), read_text(dir .. '/results.json')
    if md and json then
      names[#names + 1] = name
      util.mkdir_p(out .. '/search')
      util.write_atomic(out .. '/search/' .. name .. '.json', json)
      local ok, r = pcall(cjson.decode, json)
      local prov = ok and type(r) == 'table' and type(r.provenance) == 'table' and r.provenance or {}
      lines[#lines + 1] = '## ' .. name
      lines[#lines + 1] = ''
      lines[#lines + 1] = md
      if prov.command then
        lines[#lines + 1] = string.format('`%s` (commit %s, %s)', prov.command, tostring(prov.commit):sub(1, 7),
          type(prov.machine) == 'table' and tostring(prov.machine.isa) or '?')
        lines[#lines + 1] = ''
      end
    end
  end
  if #names > 0 then util.write_atomic(out .. '/search.md', table.concat(lines, '\n') .. '\n') end
  return names
end

--- table2.md and table2.json (IA, one seed) when root/ia holds runs; returns the summary or nil.
--- rows_from = {family = other root}: that row from the runs under other/ia instead (A.table2).
function M.table2(out, root, rows_from)
  local t = A.table2(root, rows_from)
  if not t then return nil end
  util.mkdir_p(out)
  local head, align = { 'distortion', 'baseline' }, { '---', '---:' }
  for _, m in ipairs(t.methods) do head[#head + 1] = m.label; align[#align + 1] = '---:' end
  local lines = { '# Table 2: one distortion per fine-tuning (IA), one seed', '',
    string.format('Runs: `%s/ia`. Each cell: test accuracy (%%) on the distortion the model was fine-tuned with, '
      .. 'its change from the baseline in brackets, then the clean accuracy after that fine-tuning. Average: the '
      .. 'mean change over the distortions present (the paper averages over its seven).', root), '',
    row(head), row(align) }
  for _, f in ipairs(t.families) do
    local cells = { t.rows_from[f] and f .. ' (another baseline)' or f, f2(t.baseline[f]) }
    for _, m in ipairs(t.methods) do
      cells[#cells + 1] = m.after[f] and string.format('%s (%s); clean %s', f2(m.after[f]), s2(m.change[f]), f2(m.clean[f]))
        or '—'
    end
    lines[#lines + 1] = row(cells)
  end
  local avg = { '**average change**', '' }
  for _, m in ipairs(t.methods) do
    avg[#avg + 1] = m.average and string.format('**%s** (%d of %d)', s2(m.average), m.n, #t.families) or '—'
  end
  lines[#lines + 1] = row(avg)
  lines[#lines + 1] = string.format('\nBaseline clean accuracy: %s %%.', f2(t.baseline.clean))
  for _, f in ipairs(t.families) do
    local s = t.rows_from[f]
    if s then
      lines[#lines + 1] = string.format('The %s row comes from the runs under `%s/ia`, fine-tuned from another baseline '
        .. '(clean %s %%): its baseline column and every change in it are that baseline\'s.', f, s.root, f2(s.baseline_clean))
    end
  end
  lines[#lines + 1] = '\n## Provenance\n'
  for _, fo in ipairs(t.folders) do
    local p = type(fo.provenance) == 'table' and fo.provenance or {}
    local mach = type(p.machine) == 'table' and p.machine or {}
    lines[#lines + 1] = string.format('- `%s`: `%s` (commit %s%s%s)', fo.dir, tostring(p.command or 'not recorded'),
      p.commit and tostring(p.commit):sub(1, 10) or 'not recorded', mach.cpu and ', ' .. tostring(mach.cpu) .. ' ' .. tostring(mach.isa) or '',
      type(fo.seconds) == 'number' and string.format(', %.0f s', fo.seconds) or '')
  end
  util.write_atomic(out .. '/table2.md', table.concat(lines, '\n') .. '\n')
  write_json(out .. '/table2.json', t)
  return t
end

--- Everything, into folder out. args: the command line (for provenance). Returns the summaries.
function M.write(out, rs, args)
  util.mkdir_p(out)
  M.baseline(out, rs.root)
  M.records(out, rs.root)
  local prov = A.provenance(rs, args)
  local notes = M.figure4(out, rs)
  for _, n in ipairs(notes) do rs.notes[#rs.notes + 1] = n end
  local t = A.table3(rs)
  for _, n in ipairs(t.notes) do rs.notes[#rs.notes + 1] = n end
  M.table3(out, rs, t, prov)
  local c = A.cifar10c(rs)
  M.cifar10c(out, rs, c, prov)
  local inv = A.invariance(rs)
  M.invariance(out, rs, inv, prov)
  local searches = M.searches(out, rs.root)
  local t2 = M.table2(out, rs.root)
  return { table3 = t, cifar10c = c, invariance = inv, provenance = prov, searches = searches, table2 = t2 }
end

return M
