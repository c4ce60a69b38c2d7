-- rft.experiment.aggregate: the multi-seed summaries of a runs folder read by rft.experiment.runs,
-- and their files: Table 3 (mean ± std per cell over seeds, the average improvement per seed with its
-- mean and Student t 95 % interval, the clean change), Figure 4 per method (the ten rows' mean over
-- seeds per epoch from epoch 0), the held-out corruptions (mCA, related, unrelated, change from the
-- baseline), the per-layer invariance medians and Table 2 (IA), each as Markdown + JSON (+ CSV and PNG
-- for figures), with the provenance of every run that fed them. Numbers come from the runs' files only.
local stats = require 'rft.stats'
local report = require 'rft.report'
local util = require 'rft.util'
local protocol = require 'rft.experiment.protocol'
local tables = require 'rft.experiment.tables'
local runs_mod = require 'rft.experiment.runs'

local M = {}

-- The paper's Table 3 (first paper, VGG-16 pretrained, 30 epochs), as DESIGN.md and issue 14 quote it:
-- the baseline's clean accuracy and the average improvements; no per-row numbers are quoted there.
M.paper = { baseline_clean = 89.82, average_improvement = { ['AT/CA'] = 1.98, ['ST/CA'] = 8.86, ['FMA/CA'] = 8.94 } }

local function values(runs, f)
  local out = {}
  for _, r in ipairs(runs) do
    local v = f(r)
    if type(v) == 'number' then out[#out + 1] = v end
  end
  return out
end

local function seeds(runs)
  local s = {}
  for i, r in ipairs(runs) do s[i] = r.seed or -1 end   -- -1: a run whose seed is not recorded
  return s
end

--- Table 3 of the groups of rs (rft.experiment.runs.read): {rows, baseline = {row = acc}, methods =
--- { {label, column, seeds, n, cells = {row = summary}, change = {row = summary of after - baseline},
--- improvement = summary (per-seed values in .values), clean_change = change.clean} }, paper = M.paper}. Each run's improvement is measured against
--- the baseline column of its own results.json.
function M.table3(rs)
  local t = { rows = protocol.rows, baseline = {}, methods = {}, paper = M.paper, notes = {} }
  for _, g in ipairs(rs.groups) do
    local col = g.column
    local m = { label = g.label, column = col, slug = g.slug, seeds = seeds(g.runs), n = #g.runs, cells = {},
                config = g.config }
    for _, row in ipairs(protocol.rows) do
      m.cells[row] = stats.summary(values(g.runs, function(r) return r.results.table[row] and r.results.table[row][col] end))
      t.baseline[row] = t.baseline[row] or (g.runs[1].results.table[row] or {}).baseline
    end
    m.change = {}                            -- per row: (after - baseline) per seed, with its interval
    for _, row in ipairs(protocol.rows) do
      m.change[row] = stats.summary(values(g.runs, function(r)
        local c = r.results.table[row]
        return c and type(c[col]) == 'number' and type(c.baseline) == 'number' and c[col] - c.baseline or nil
      end))
    end
    local impr = values(g.runs, function(r)
      local after, before = {}, {}
      for _, row in ipairs(protocol.rows) do
        local c = r.results.table[row]
        if not c or type(c[col]) ~= 'number' or type(c.baseline) ~= 'number' then return nil end
        after[row], before[row] = c[col], c.baseline
      end
      return tables.average_improvement(after, before)
    end)
    m.improvement = stats.summary(impr)
    m.improvement.values = impr
    m.clean_change = m.change.clean
    for _, r in ipairs(g.runs) do            -- one baseline column: say so where a run measured against another
      for _, row in ipairs(protocol.rows) do
        local b = (r.results.table[row] or {}).baseline
        if type(b) == 'number' and type(t.baseline[row]) == 'number' and math.abs(b - t.baseline[row]) > 1e-9 then
          t.notes[#t.notes + 1] = string.format('%s: its baseline %s is %.2f, not %.2f (another baseline or strengths); '
            .. 'its improvements are against its own', r.name, row, b, t.baseline[row])
          break
        end
      end
    end
    t.methods[#t.methods + 1] = m
  end
  return t
end

--- Figure 4 of one group: per epoch (from 0) the mean and std over the seeds that reached it of each
--- row. Returns {epochs = { {epoch, n, mean = {row=}, std = {row=}} }, seeds, left_out = {run name...},
--- images = {the curve image counts of the runs, sorted}}.
function M.figure4(g)
  local by_epoch, left_out, used, images = {}, {}, {}, {}
  for _, run in ipairs(g.runs) do
    images[run.curve_images] = true
    if run.curves then
      used[#used + 1] = run.seed
      for _, row in ipairs(run.curves) do
        local e = row.epoch
        by_epoch[e] = by_epoch[e] or {}
        table.insert(by_epoch[e], row)
      end
    else
      left_out[#left_out + 1] = run.name
    end
  end
  local epochs = {}
  for e in pairs(by_epoch) do epochs[#epochs + 1] = e end
  table.sort(epochs)
  local n_images = {}
  for k in pairs(images) do n_images[#n_images + 1] = k end
  table.sort(n_images)
  local out = { epochs = {}, seeds = used, left_out = left_out, images = n_images }
  for _, e in ipairs(epochs) do
    local rows = by_epoch[e]
    local entry = { epoch = e, n = #rows, mean = {}, std = {} }
    for _, r in ipairs(protocol.rows) do
      local v = values(rows, function(x) return x[r] end)
      entry.mean[r], entry.std[r] = stats.mean(v), stats.std(v)
    end
    out.epochs[#out.epochs + 1] = entry
  end
  return out
end

-- The first model of a corruption_eval results.json (the checkpoint it was run on).
local function c10c(r) return r and type(r.models) == 'table' and r.models[1] or nil end
M.cifar10c_keys = { { 'mca', 'mean_corruption_accuracy', 'mCA (15)' }, { 'related', 'related_accuracy', 'related' },
                    { 'unrelated', 'unrelated_accuracy', 'unrelated' }, { 'clean', 'clean_accuracy', 'clean' } }

--- Held-out corruptions per group: {baseline = {mca, related, unrelated, clean}, methods = { {label,
--- seeds, n, mca = summary, ..., change = {mca = mean - baseline, ...}} }, notes}.
function M.cifar10c(rs)
  local b = c10c(rs.cifar10c.baseline)
  local out = { baseline = {}, methods = {}, notes = {} }
  for _, k in ipairs(M.cifar10c_keys) do out.baseline[k[1]] = b and b[k[2]] end
  local function check(r, where)
    local cfg = r and r.config or {}
    local bench = 0
    for _, n in ipairs(r and r.corruptions or {}) do
      for _, b15 in ipairs(require('rft').corrupt.names()) do if n == b15 then bench = bench + 1 end end
    end
    if r and bench < 15 then out.notes[#out.notes + 1] = string.format('%s: mCA over %d of the 15 corruptions', where, bench) end
    if r and cfg.images and cfg.images < 10000 then
      out.notes[#out.notes + 1] = string.format('%s: on the first %d test images', where, cfg.images)
    end
  end
  check(rs.cifar10c.baseline, 'baseline')
  for _, g in ipairs(rs.groups) do
    local have = {}
    for _, run in ipairs(g.runs) do
      local r = rs.cifar10c.runs[run.name]
      if c10c(r) then have[#have + 1] = { seed = run.seed, m = c10c(r) }; check(r, run.name) end
    end
    if #have > 0 then
      local m = { label = g.label, slug = g.slug, seeds = seeds(have), n = #have, change = {} }
      for _, k in ipairs(M.cifar10c_keys) do
        m[k[1]] = stats.summary(values(have, function(h) return h.m[k[2]] end))
        m.change[k[1]] = m[k[1]].mean and out.baseline[k[1]] and m[k[1]].mean - out.baseline[k[1]] or nil
      end
      out.methods[#out.methods + 1] = m
    end
  end
  return out
end

--- Invariance per G: {gs = {g...}, by_g = {g = {layers = {...}, baseline = {layer = median}, methods =
--- { {label, seeds, n, median = {layer = mean over seeds of the per-seed median}, std = {...}} }}}}.
function M.invariance(rs)
  local out = { gs = {}, by_g = {}, notes = {} }
  local function check(r, where)
    if r and ((r.images or 10000) < 10000 or (r.draws or 5) < 5) then
      out.notes[#out.notes + 1] = string.format('%s: %d test images x %d draws of G (the paper: 10,000 x 5)', where,
        r.images or 10000, r.draws or 5)
    end
  end
  for _, gname in ipairs(rs.gs) do
    local e = { layers = nil, baseline = {}, methods = {} }
    local b = rs.invariance.baseline[gname]
    check(b, 'baseline_' .. gname)
    if b then
      e.layers = b.layers
      for _, l in ipairs(b.layers or {}) do e.baseline[l] = b.scores[l] and b.scores[l].median end
    end
    for _, g in ipairs(rs.groups) do
      local have = {}
      for _, run in ipairs(g.runs) do
        local r = (rs.invariance.runs[run.name] or {})[gname]
        if r and r.scores then
          have[#have + 1] = { seed = run.seed, r = r }; e.layers = e.layers or r.layers
          check(r, run.name .. '_' .. gname)
        end
      end
      if #have > 0 then
        local m = { label = g.label, slug = g.slug, seeds = seeds(have), n = #have, median = {}, std = {} }
        for _, l in ipairs(e.layers or {}) do
          local v = values(have, function(h) return h.r.scores[l] and h.r.scores[l].median end)
          m.median[l], m.std[l] = stats.mean(v), stats.std(v)
        end
        e.methods[#e.methods + 1] = m
      end
    end
    if e.layers then out.gs[#out.gs + 1] = gname; out.by_g[gname] = e end
  end
  return out
end

--- Table 2 (IA) from the recipes/ia_cifar.lua runs under root/ia/<folder>/results.json (one seed):
--- {families, baseline = {family = acc, clean = acc}, methods = { {label, after = {family = acc},
--- change = {family = after - baseline}, clean = {family = clean accuracy after}, average = mean
--- change over the families present, n = families present} }, folders = {...}, rows_from}, or nil when
--- none. rows_from = {family = other root}: that row comes whole from the runs under other/ia (another
--- baseline's: each cell's change is against the baseline its run was fine-tuned from, and that
--- baseline's accuracies fill the row), root's runs on that family are left out. rows_from[family] becomes
--- {root = other, baseline_clean = that baseline's clean accuracy}.
function M.table2(root, rows_from)
  local t = { families = protocol.families, baseline = {}, methods = {}, folders = {}, rows_from = {} }
  local by_label = {}
  local function add(dir, keep, source)
    for _, name in ipairs(runs_mod.list(dir .. '/ia')) do
      local r = runs_mod.read_json(dir .. '/ia/' .. name .. '/results.json')
      local valid = r and type(r.before) == 'table' and type(r.runs) == 'table'
      local used = valid and #r.runs == 0   -- a record with no run yet is listed, one whose runs are all left out is not
      for _, run in ipairs(valid and r.runs or {}) do
        if keep(run.aug) then
          used = true
          local m = by_label[run.method]
          if not m then
            m = { label = run.method, after = {}, change = {}, clean = {} }
            by_label[run.method] = m
            t.methods[#t.methods + 1] = m
          end
          local a = run.after or {}
          m.after[run.aug], m.clean[run.aug] = a[run.aug], a.clean
          if type(a[run.aug]) == 'number' and type(r.before[run.aug]) == 'number' then
            m.change[run.aug] = a[run.aug] - r.before[run.aug]
          end
        end
      end
      if used then
        t.folders[#t.folders + 1] = { dir = dir .. '/ia/' .. name, provenance = r.provenance, seconds = r.seconds }
        for k, v in pairs(r.before) do
          if keep(k) then t.baseline[k] = t.baseline[k] or v end
        end
        if source then source.baseline_clean = source.baseline_clean or r.before.clean end
      end
    end
  end
  rows_from = rows_from or {}
  add(root, function(f) return not rows_from[f] end)
  for _, f in ipairs(t.families) do
    if rows_from[f] then
      t.rows_from[f] = { root = rows_from[f] }
      add(rows_from[f], function(g) return g == f end, t.rows_from[f])
    end
  end
  if #t.folders == 0 then return nil end
  for _, m in ipairs(t.methods) do
    local sum, n = 0, 0
    for _, f in ipairs(t.families) do
      if m.change[f] then sum, n = sum + m.change[f], n + 1 end
    end
    m.n, m.average = n, n > 0 and sum / n or nil
  end
  return t
end

--- Where every number came from: this aggregation (command, commit, machine) and each run read: its
--- folder, command, commit, machine and wall time as its results.json records them (for runs made
--- before results.json held a provenance, the command from the first line of a command.txt beside it).
function M.provenance(rs, args)
  local p = report.provenance(args)
  p.runs = {}
  local function add(kind, dir, r)
    if not r then return end
    local pv = r.provenance or {}
    local mach = pv.machine or {}
    local command = pv.command
    if not command then           -- a run older than results.json's provenance: a command.txt beside it
      local f = io.open(dir .. '/command.txt')
      if f then command = (f:read('*l') or ''):gsub('%s+$', ''); f:close() end
      if command == '' then command = nil end
    end
    p.runs[#p.runs + 1] = { kind = kind, dir = dir, command = command, commit = pv.commit, dirty = pv.dirty,
      started_commit = pv.started_commit, cpu = mach.cpu, isa = mach.isa, device = mach.device, seconds = r.seconds }
  end
  add('baseline', rs.baseline.dir, rs.baseline.results)
  for _, g in ipairs(rs.groups) do
    for _, run in ipairs(g.runs) do add('table3', run.dir, run.results) end
  end
  add('cifar10c', rs.root .. '/cifar10c/baseline', rs.cifar10c.baseline)
  for _, g in ipairs(rs.groups) do
    for _, run in ipairs(g.runs) do add('cifar10c', rs.root .. '/cifar10c/' .. run.name, rs.cifar10c.runs[run.name]) end
  end
  for _, gname in ipairs(rs.gs) do
    add('invariance', rs.root .. '/invariance/baseline_' .. gname, rs.invariance.baseline[gname])
    for _, g in ipairs(rs.groups) do
      for _, run in ipairs(g.runs) do
        add('invariance', rs.root .. '/invariance/' .. run.name .. '_' .. gname, (rs.invariance.runs[run.name] or {})[gname])
      end
    end
  end
  return p
end

return M
