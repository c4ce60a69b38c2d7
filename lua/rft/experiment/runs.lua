-- rft.experiment.runs: reads a folder of finished experiments in the layout of the multi-seed Table 3
-- (recipes/paper_results.lua), whatever part of it exists, and says what is missing. M.read reads files
-- only (results.json, curves.csv, the baseline's rows_<hash>.json caches); M.evaluate_epoch0 alone
-- evaluates, the baseline on a run's curve images where no file holds them. The layout, under one root:
--   baseline/                        recipes/baseline_cifar.lua (and the CA recipes' caches beside it)
--   table3/<slug>_s<seed>/           recipes/ca_cifar.lua --method M --seed S --baseline <root>/baseline
--   cifar10c/<run>/, cifar10c/baseline/            recipes/corruption_eval.lua
--   invariance/<run>_<g>/, invariance/baseline_<g>/ recipes/invariance_score.lua --g <g>
-- Runs are grouped by what they are (results.json's method column and configuration, every key but
-- the seed and the output folder), never by folder name.
local cjson = require 'cjson'
local util = require 'rft.util'
local protocol = require 'rft.experiment.protocol'

local M = {}

M.expected = { slugs = { 'at', 'st', 'fma', 'at_distorted', 'clean' }, seeds = { 0, 1, 2 },
               gs = { 'paper', 'Combined+', 'Combined-' } }
M.default_curve_images = 2000     -- rft.experiment.flags' --curve-images default, for runs that predate the key

local exists = util.exists

--- A JSON file decoded, or nil and why not.
function M.read_json(path)
  local f = io.open(path)
  if not f then return nil, 'missing' end
  local text = f:read('*a'); f:close()
  local ok, v = pcall(cjson.decode, text)
  if not ok or type(v) ~= 'table' then return nil, 'not valid JSON: ' .. tostring(v) end
  return v
end

--- The folders directly under dir (sorted), {} when dir does not exist.
function M.list(dir)
  local out = {}
  local p = io.popen("ls -1 '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  if not p then return out end
  for name in p:lines() do
    local f = io.open(dir .. '/' .. name .. '/.', 'rb')       -- a folder opens with a trailing '/.'
    if f then f:close(); out[#out + 1] = name end
  end
  p:close()
  table.sort(out)
  return out
end

--- A CSV of numbers: list of rows keyed by the header's names (an empty cell is absent).
function M.read_csv(path)
  local f = io.open(path)
  if not f then return nil end
  local header, rows = {}, {}
  for name in (f:read('*l') .. ','):gmatch('([^,]*),') do header[#header + 1] = name end
  for line in f:lines() do
    if line ~= '' then
      local row, i = {}, 0
      for v in (line .. ','):gmatch('([^,]*),') do i = i + 1; row[header[i]] = tonumber(v) end
      rows[#rows + 1] = row
    end
  end
  f:close()
  return rows
end

local canonical = util.canonical

-- What makes two runs the same experiment: the configuration without seed, output or timing.
M.ignored = { seed = true, threads = true, rft = true, data = true, baseline = true, strengths = true,
              curve_images = true }
local function identity(r)
  local c = { column = r.method }
  for k, v in pairs(r.config or {}) do if not M.ignored[k] then c[k] = v end end
  return c
end

-- The configuration entries (flattened 'a.b') whose values differ between groups of one column.
local function flat(t, prefix, out)
  for k, v in pairs(t) do
    local name = prefix and (prefix .. '.' .. k) or tostring(k)
    if type(v) == 'table' then flat(v, name, out) else out[name] = tostring(v) end
  end
  return out
end

--- The slug of a label, for file names: 'FMA/CA (gamma=0.1)' -> 'fma_ca_gamma_0_1'.
function M.slug(label) return (label:lower():gsub('[^%w]+', '_'):gsub('^_+', ''):gsub('_+$', '')) end

--- The epoch-0 rows of a run from its baseline's caches: rows_<hash>.json files beside the baseline
--- holding curve_images images under the run's own Combined+ and Combined- (which name every strength).
function M.cached_epoch0(baseline_dir, config, images)
  local p = io.popen("ls -1 '" .. baseline_dir:gsub("'", "'\\''") .. "'/rows_*.json 2>/dev/null")
  if not p then return nil end
  for path in p:lines() do
    local c = M.read_json(path)
    if c and c.images == images and (c.part or 'test') == 'test' and c.eval_seed == protocol.eval_seed and type(c.pipelines) == 'table'
        and c.pipelines['Combined+'] == config.combined_plus and c.pipelines['Combined-'] == config.combined_minus
        and type(c.rows) == 'table' then
      p:close()
      return c.rows, path
    end
  end
  p:close()
  return nil
end

-- The per-epoch curves of a run from epoch 0: curves.csv, or results.json's epochs with epoch 0 from
-- curve_baseline or the baseline's cache. Returns the list (index e + 1 holds epoch e) or nil and why.
local function curves(run, baseline_dir)
  local csv = M.read_csv(run.dir .. '/curves.csv')
  if csv and csv[1] and csv[1].epoch == 0 then return csv, 'curves.csv' end
  local r = run.results
  local e0, from = r.curve_baseline, 'results.json curve_baseline'
  if not e0 and baseline_dir then
    e0, from = M.cached_epoch0(baseline_dir, r.config or {}, run.curve_images)
  end
  if not e0 then return nil, 'no epoch 0' end
  local out = { setmetatable({ epoch = 0 }, { __index = e0 }) }
  for _, row in ipairs(r.epochs or {}) do out[#out + 1] = row end
  return out, 'results.json epochs, epoch 0 from ' .. from
end

--- Read everything under root. o: expected (M.expected's shape), curve_images (of runs whose
--- results.json predates that key; default M.default_curve_images). Returns
--- { root, baseline = {dir, results}, groups = { {label, slug, column, config, runs = {run...}} },
---   cifar10c = {baseline = result, runs = {name = result}}, invariance = {baseline = {g = result},
---   runs = {name = {g = result}}}, missing = {line...}, notes = {line...}, epoch0_needed = {run...} }
--- A run: {name, dir, seed, results, curve_images, curves (or nil), curves_from}.
function M.read(root, o)
  o = o or {}
  local want = o.expected or M.expected
  local out = { root = root, groups = {}, missing = {}, notes = {}, epoch0_needed = {},
                cifar10c = { runs = {} }, invariance = { baseline = {}, runs = {} } }
  local function missing(s) out.missing[#out.missing + 1] = s end
  local function note(s) out.notes[#out.notes + 1] = s end

  local bdir = root .. '/baseline'
  local bres, why = M.read_json(bdir .. '/results.json')
  out.baseline = { dir = bdir, results = bres }
  if not bres then missing(bdir .. '/results.json (' .. why .. ')') end
  local have_bdir = exists(bdir .. '/model.safetensors') or bres ~= nil

  -- Table 3 runs, grouped by identity
  local by_key, names = {}, {}
  for _, name in ipairs(M.list(root .. '/table3')) do
    local dir = root .. '/table3/' .. name
    local r, err = M.read_json(dir .. '/results.json')
    if not r then
      local csv = M.read_csv(dir .. '/train.csv')
      missing(string.format('%s/results.json (%s%s)', dir, err,
        csv and string.format('; in progress: %d epochs in train.csv', #csv) or ''))
    elseif type(r.table) ~= 'table' or not r.method then
      note(dir .. '/results.json has no table or method: not a CA run, left out')
    else
      local cfg = r.config or {}
      local run = { name = name, dir = dir, seed = cfg.seed or tonumber(name:match('_s(%d+)$')), results = r,
                    curve_images = cfg.curve_images or o.curve_images or M.default_curve_images }
      if not cfg.curve_images then
        note(string.format('%s: results.json does not say its curve images; taken as %d (%s)', name,
          run.curve_images, o.curve_images and '--curve-images' or 'the flag default'))
      end
      run.curves, run.curves_from = curves(run, have_bdir and bdir or nil)
      if not run.curves then out.epoch0_needed[#out.epoch0_needed + 1] = run end
      names[name] = true
      local id = identity(r)
      local key = canonical(id)
      if not by_key[key] then
        by_key[key] = { column = r.method, config = id, runs = {} }
        out.groups[#out.groups + 1] = by_key[key]
      end
      local g = by_key[key]
      for _, other in ipairs(g.runs) do
        if other.seed == run.seed then note(string.format('%s and %s: same configuration and seed %s', other.name, name,
          tostring(run.seed))) end
      end
      g.runs[#g.runs + 1] = run
    end
  end
  for _, slug in ipairs(want.slugs) do
    for _, s in ipairs(want.seeds) do
      local name = string.format('%s_s%d', slug, s)
      if not names[name] and not exists(root .. '/table3/' .. name .. '/train.csv') then
        missing(string.format('%s/table3/%s/ (not started)', root, name))
      end
    end
  end

  -- labels: the column, and where several groups share it, what differs between them
  local per_column = {}
  for _, g in ipairs(out.groups) do
    per_column[g.column] = per_column[g.column] or {}
    table.insert(per_column[g.column], g)
  end
  for _, g in ipairs(out.groups) do
    local peers = per_column[g.column]
    g.label = g.column
    if #peers > 1 then
      local mine, keys, diff, shown = flat(g.config, nil, {}), {}, {}, {}
      for k, v in pairs(mine) do
        for _, p in ipairs(peers) do
          if p ~= g and flat(p.config, nil, {})[k] ~= v then keys[#keys + 1] = k; break end
        end
      end
      table.sort(keys)
      for _, k in ipairs(keys) do
        -- a list that differs in many entries (the lr schedule: lr.1.lr, lr.2.lr, ...) is named by the
        -- first, as its own name where the entry's field has it ('lr=0.001')
        local top, leaf = k:match('^([^.]+)%..*%.([^.]+)$')
        if not (top and shown[top]) then
          if top then shown[top] = true end
          diff[#diff + 1] = (top and leaf == top and top or k:gsub('^method%.', '')) .. '=' .. mine[k]
        end
      end
      g.label = g.column .. ' (' .. table.concat(diff, ', ') .. ')'
    end
    g.slug = M.slug(g.label)
    table.sort(g.runs, function(a, b) return (a.seed or -1) < (b.seed or -1) end)
  end
  -- the paper's column order (FMA, ST, AT), then AT-distorted, the control and any other, by label
  local rank = { ['FMA/CA'] = 1, ['ST/CA'] = 2, ['AT/CA'] = 3, ['AT-distorted/CA'] = 4, ['clean/CA'] = 5 }
  table.sort(out.groups, function(a, b)
    local ra, rb = rank[a.column] or 6, rank[b.column] or 6
    if ra ~= rb then return ra < rb end
    return a.label < b.label
  end)

  -- held-out corruptions and invariance, matched to the runs by folder name
  local cres = M.read_json(root .. '/cifar10c/baseline/results.json')
  out.cifar10c.baseline = cres
  if not cres then missing(root .. '/cifar10c/baseline/results.json') end
  local gs = {}
  for _, g in ipairs(want.gs) do gs[g] = true end
  for _, name in ipairs(M.list(root .. '/invariance')) do
    local r = M.read_json(root .. '/invariance/' .. name .. '/results.json')
    local base_g = name:match('^baseline_(.+)$')
    if r and base_g then out.invariance.baseline[base_g] = r; gs[base_g] = true end
  end
  for _, g in ipairs(out.groups) do
    for _, run in ipairs(g.runs) do
      local c = M.read_json(root .. '/cifar10c/' .. run.name .. '/results.json')
      out.cifar10c.runs[run.name] = c
      if not c then missing(root .. '/cifar10c/' .. run.name .. '/results.json') end
      out.invariance.runs[run.name] = {}
      for gname in pairs(gs) do
        local r = M.read_json(root .. '/invariance/' .. run.name .. '_' .. gname .. '/results.json')
        out.invariance.runs[run.name][gname] = r
        if not r then missing(root .. '/invariance/' .. run.name .. '_' .. gname .. '/results.json') end
      end
    end
  end
  for gname in pairs(gs) do
    if not out.invariance.baseline[gname] then missing(root .. '/invariance/baseline_' .. gname .. '/results.json') end
  end
  out.gs = {}
  for _, g in ipairs(want.gs) do if gs[g] then out.gs[#out.gs + 1] = g; gs[g] = nil end end
  local extra = {}
  for g in pairs(gs) do extra[#extra + 1] = g end
  table.sort(extra)
  for _, g in ipairs(extra) do out.gs[#out.gs + 1] = g end
  table.sort(out.missing)
  return out
end

--- For each run of rs.epoch0_needed (runs without an epoch 0 on file), the baseline's ten rows on the
--- run's curve images under the run's strengths (rft.experiment.baseline.rows: evaluated once per
--- strengths and image count, then cached beside the baseline, where M.read finds it). data_dir: the
--- CIFAR-10 folder (nil: $RFT_DATA). Returns the notes on runs it could not do.
function M.evaluate_epoch0(rs, data_dir)
  local rft = require 'rft'
  local aug = require 'rft.aug'
  local baseline = require 'rft.experiment.baseline'
  local notes, test, nets = {}, nil, {}
  for _, run in ipairs(rs.epoch0_needed) do
    local cfg = run.results.config or {}
    local cal = cfg.strengths
    local presets = type(cal) == 'table' and (cal.source == 'paper Table 1' and aug.paper.cifar10 or aug.from_calibration(cal))
    if not presets or tostring(presets.combined_plus) ~= cfg.combined_plus
        or tostring(presets.combined_minus) ~= cfg.combined_minus then
      notes[#notes + 1] = run.name .. ': its strengths do not rebuild its Combined+ / Combined-; epoch 0 not evaluated'
    elseif not exists(rs.baseline.dir .. '/model.safetensors') then
      notes[#notes + 1] = run.name .. ': no baseline model in ' .. rs.baseline.dir .. '; epoch 0 not evaluated'
    else
      local key = string.format('%s_%g_%s', cfg.model, cfg.width, tostring(cfg.bn))
      if not nets[key] then
        nets[key] = baseline.build { model = cfg.model, width = cfg.width, bn = cfg.bn, seed = 0 }
        nets[key]:load_state_dict(rft.safetensors.load(rs.baseline.dir .. '/model.safetensors'))
      end
      test = test or rft.data.cifar10 { dir = data_dir, split = 'test' }
      print(string.format('%s: epoch 0 of the curves, the baseline on the first %d test images', run.name, run.curve_images))
      baseline.rows(nets[key], protocol.head(test, run.curve_images), presets, rs.baseline.dir)
    end
  end
  return notes
end

return M
