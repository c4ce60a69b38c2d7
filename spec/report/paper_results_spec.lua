-- The multi-seed aggregation (rft.experiment.runs, .aggregate, .paper_files; recipes/paper_results.lua)
-- end to end on a fabricated runs folder whose numbers are chosen so every summary is known exactly:
-- three seeds of FMA/CA improve every row by +1, +2, +3 points, so the average improvement is
-- 2 ± 1 with the 95 % interval 2 ± t(0.975, 2) / sqrt(3), t(0.975, 2) = 0.95 sqrt(2 / (1 - 0.95^2)).
local cjson = require 'cjson'
local util = require 'rft.util'
local protocol = require 'rft.experiment.protocol'
local runs = require 'rft.experiment.runs'
local files = require 'rft.experiment.paper_files'

local rows = protocol.rows
local function json(path, t) util.mkdir_p(util.dirname(path)); util.write_atomic(path, cjson.encode(t)) end
local function text(path, s) util.mkdir_p(util.dirname(path)); util.write_atomic(path, s) end
local function read(path) local f = assert(io.open(path)); local s = f:read('*a'); f:close(); return s end

local base, curve0 = {}, {}
for i, r in ipairs(rows) do base[r] = 50 + i; curve0[r] = 40 + i end

-- A CA run's results.json: every row `delta` above the baseline; per-epoch rows epoch e = curve0 + e.
local function ca(column, method, seed, delta, extra)
  local t, epochs = {}, {}
  for _, r in ipairs(rows) do t[r] = { baseline = base[r], [column] = base[r] + delta } end
  for e = 1, 2 do
    epochs[e] = { epoch = e, train_loss = 1 }
    for _, r in ipairs(rows) do epochs[e][r] = curve0[r] + e * delta end
  end
  local res = { method = column, table = t, seconds = 60 + seed, epochs = epochs,
    config = { method = method, epochs = 2, seed = seed, curve_images = 4, model = 'fast', width = 0.25,
               combined_plus = 'P+', combined_minus = 'P-', threads = 2 } }
  for k, v in pairs(extra or {}) do res[k] = v end
  return res
end

local function corruption(mca, related, unrelated)
  local names = require('rft').corrupt.names()
  return { config = { images = 10000 }, corruptions = names, seconds = 5,
           models = { { label = 'm', clean_accuracy = 80, mean_corruption_accuracy = mca, related_accuracy = related,
                        unrelated_accuracy = unrelated } } }
end

local function invariance(m1, m2)
  return { layers = { 'relu1', 'relu2' }, scores = { relu1 = { median = m1 }, relu2 = { median = m2 } }, seconds = 3 }
end

describe('the multi-seed results of a runs folder', function()
  local root = os.tmpname(); os.remove(root)
  local out = root .. '/results'
  local fma = { name = 'FMA', gamma = 0.03 }
  setup(function()
    json(root .. '/baseline/results.json', { test_accuracy = base.clean, seconds = 100,
      provenance = { command = 'rftlua recipes/baseline_cifar.lua --out b', commit = 'abcdef0123456789',
                     machine = { cpu = 'Test CPU', isa = 'AVX2+FMA', device = 'cpu' } } })
    -- seed 0: curves.csv; seed 1: epoch 0 in results.json; seed 2: epoch 0 only in the baseline's cache
    json(root .. '/table3/fma_s0/results.json', ca('FMA/CA', fma, 0, 1, { provenance = { command = 'rftlua recipes/ca_cifar.lua',
      commit = '1111111111aaaa', started_commit = '2222222222bbbb', machine = { cpu = 'Test CPU', isa = 'AVX-512', device = 'cpu' } } }))
    local csv = { 'epoch,' .. table.concat(rows, ',') }
    for e = 0, 2 do
      local v = {}
      for i, r in ipairs(rows) do v[i] = curve0[r] + e end
      csv[#csv + 1] = e .. ',' .. table.concat(v, ',')
    end
    text(root .. '/table3/fma_s0/curves.csv', table.concat(csv, '\n') .. '\n')
    text(root .. '/table3/fma_s0/model.safetensors', 'weights')
    json(root .. '/table3/fma_s1/results.json', ca('FMA/CA', fma, 1, 2, { curve_baseline = curve0 }))
    json(root .. '/table3/fma_s2/results.json', ca('FMA/CA', fma, 2, 3))
    text(root .. '/table3/fma_s1/command.txt', 'rftlua recipes/ca_cifar.lua --method FMA --seed 1\n')
    json(root .. '/baseline/rows_0badcafe.json', { eval_seed = protocol.eval_seed, images = 4, rows = curve0,
      pipelines = { ['Combined+'] = 'P+', ['Combined-'] = 'P-' } })
    json(root .. '/baseline/rows_00000000.json', { eval_seed = protocol.eval_seed, images = 10000, rows = base,
      pipelines = { ['Combined+'] = 'P+', ['Combined-'] = 'P-' } })
    -- the same method with another gamma: its own group, one seed
    json(root .. '/table3/fma_big_s0/results.json', ca('FMA/CA', { name = 'FMA', gamma = 0.1 }, 0, 4))
    -- a run still going
    text(root .. '/table3/clean_s0/train.csv', 'epoch,train_loss\n1,0.5\n')
    json(root .. '/cifar10c/baseline/results.json', corruption(60, 55, 62))
    json(root .. '/cifar10c/fma_s0/results.json', corruption(61, 57, 62))
    json(root .. '/cifar10c/fma_s1/results.json', corruption(63, 59, 64))
    json(root .. '/invariance/baseline_paper/results.json', invariance(0.1, 0.2))
    json(root .. '/invariance/fma_s0_paper/results.json', invariance(0.3, 0.5))
    json(root .. '/invariance/fma_s1_paper/results.json', invariance(0.5, 0.6))
    text(root .. '/baseline/train.csv', 'epoch,val_accuracy\n1,50\n')
    text(root .. '/baseline/checkpoint.safetensors', 'weights')
    -- a finished search, and one still going (no results.json yet)
    text(root .. '/search/lr_fma/search.md', '| lr | mean of ten rows |\n| 0.01 | 70.00 |\n')
    json(root .. '/search/lr_fma/results.json', { best = 0.01, provenance = { command = 'rftlua recipes/gamma_search.lua --param lr',
      commit = 'fedcba9876543210', machine = { isa = 'AVX-512' } } })
    text(root .. '/search/lr_st/search.md', 'partial')
    -- Table 2 (IA): FMA on two distortions, ST on one, from two folders
    local before = { clean = 90, ['B+'] = 70, GN = 60 }
    json(root .. '/ia/fma/results.json', { before = before, provenance = { command = 'rftlua recipes/ia_cifar.lua --methods FMA' },
      runs = { { aug = 'B+', method = 'FMA/IA', after = { clean = 89, ['B+'] = 80, GN = 61 } },
               { aug = 'GN', method = 'FMA/IA', after = { clean = 88.5, ['B+'] = 71, GN = 75 } } } })
    json(root .. '/ia/st/results.json', { before = before,
      runs = { { aug = 'GN', method = 'ST/IA', after = { clean = 89.5, GN = 70 } } } })
  end)
  teardown(function() os.execute("rm -rf '" .. root .. "'") end)

  local summary, rs
  it('groups runs by method and configuration, not folder name, and says what is missing', function()
    rs = runs.read(root, { expected = { slugs = { 'fma', 'clean' }, seeds = { 0, 1, 2 }, gs = { 'paper' } } })
    assert.equal(2, #rs.groups)
    assert.equal('FMA/CA (gamma=0.03)', rs.groups[1].label)
    assert.equal('FMA/CA (gamma=0.1)', rs.groups[2].label)
    assert.same({ 0, 1, 2 }, { rs.groups[1].runs[1].seed, rs.groups[1].runs[2].seed, rs.groups[1].runs[3].seed })
    assert.equal('curves.csv', rs.groups[1].runs[1].curves_from)
    assert.matches('curve_baseline', rs.groups[1].runs[2].curves_from)
    assert.matches('rows_0badcafe', rs.groups[1].runs[3].curves_from)
    local m = table.concat(rs.missing, '\n')
    assert.matches('table3/clean_s0/results.json %(missing; in progress: 1 epochs in train.csv%)', m)
    assert.matches('table3/clean_s1/ %(not started%)', m)
    assert.matches('cifar10c/fma_s2/results.json', m)
    assert.matches('invariance/fma_s2_paper/results.json', m)
    assert.not_matches('fma_s1/results.json', m)
  end)

  it('gives mean ± std per cell, the average improvement with its t interval, and the clean change', function()
    summary = files.write(out, rs, { [0] = 'recipes/paper_results.lua', '--runs', root })
    local t = cjson.decode(read(out .. '/table3.json'))
    local m = t.methods[1]
    assert.equal('FMA/CA (gamma=0.03)', m.label)
    assert.equal(3, m.n)
    assert.same({ 1, 2, 3 }, m.improvement.values)
    assert.near(2, m.improvement.mean, 1e-12)
    assert.near(1, m.improvement.std, 1e-12)
    local half = 0.95 * math.sqrt(2 / (1 - 0.95 ^ 2)) / math.sqrt(3)     -- t(0.975, 2) / sqrt(3), std 1
    assert.near(2 - half, m.improvement.lo, 1e-9)
    assert.near(2 + half, m.improvement.hi, 1e-9)
    assert.near(base['S+'] + 2, m.cells['S+'].mean, 1e-12)
    assert.near(1, m.cells['S+'].std, 1e-12)
    assert.near(2, m.clean_change.mean, 1e-12)
    assert.equal(base.clean, t.baseline.clean)
    local one = t.methods[2]                        -- one seed: a mean, no spread, no interval
    assert.equal(4, one.improvement.mean)
    assert.is_nil(one.improvement.std); assert.is_nil(one.improvement.lo)
    local md = read(out .. '/table3.md')
    assert.matches('| clean | 51.00 | 89.82 | 53.00 ± 1.00 | 55.00 |', md, 1, true)
    assert.matches('**+2.00 ± 1.00**', md, 1, true)
    assert.matches(string.format('[%+.2f, %+.2f]', 2 - half, 2 + half), md, 1, true)
    assert.matches('| paper average improvement |  |  | +8.94 | +8.94 |', md, 1, true)
    assert.matches('— (n < 2)', md, 1, true)
    -- per row, the change with its interval (every row moved by +1, +2, +3: the same numbers)
    assert.matches(string.format('| S- | +2.00 [%+.2f, %+.2f] | +4.00 |', 2 - half, 2 + half), md, 1, true)
  end)

  it('draws Figure 4 per method from epoch 0, whichever file holds epoch 0', function()
    local f = runs.read_csv(out .. '/figure4_fma_ca_gamma_0_03.csv')
    assert.equal(3, #f)
    assert.same({ 0, 3 }, { f[1].epoch, f[1].n })
    for _, r in ipairs(rows) do
      assert.near(curve0[r], f[1][r], 1e-4)           -- the baseline, the same for every seed
      assert.near(curve0[r] + 2 * 2, f[3][r], 1e-4)   -- epoch 2: curve0 + 2 delta, mean delta 2
      assert.near(2, f[3][r .. ' std'], 1e-4)         -- deltas 1, 2, 3 times 2 epochs: std 2
    end
  end)

  it('summarises the held-out corruptions against the baseline and the invariance per layer', function()
    local c = cjson.decode(read(out .. '/cifar10c.json'))
    assert.equal(60, c.baseline.mca)
    local m = c.methods[1]
    assert.same({ 2, 62, 2, 58, 3 }, { m.n, m.mca.mean, m.change.mca, m.related.mean, m.change.related })
    assert.near(math.sqrt(2), m.mca.std, 1e-12)
    assert.matches('| FMA/CA (gamma=0.03) | 2 | 80.00 ± 0.00 | 62.00 ± 1.41 | +2.00 |', read(out .. '/cifar10c.md'), 1, true)
    local inv = cjson.decode(read(out .. '/invariance.json'))
    assert.same({ 'paper' }, inv.gs)
    local p = inv.by_g.paper
    assert.same({ 'relu1', 'relu2' }, p.layers)
    assert.equal(0.1, p.baseline.relu1)
    assert.near(0.4, p.methods[1].median.relu1, 1e-12)
    assert.near(0.55, p.methods[1].median.relu2, 1e-12)
    local csv = runs.read_csv(out .. '/invariance_paper.csv')
    assert.near(0.55, csv[2].fma_ca_gamma_0_03, 1e-6)
  end)

  it('copies the baseline\'s record without its weights, and every finished search with its command', function()
    assert.equal('epoch,val_accuracy\n1,50\n', read(out .. '/baseline/train.csv'))
    assert.is_nil(io.open(out .. '/baseline/checkpoint.safetensors'))
    assert.same({ 'lr_fma' }, summary.searches)
    local md = read(out .. '/search.md')
    assert.matches('## lr_fma\n\n| lr | mean of ten rows |\n| 0.01 | 70.00 |', md, 1, true)
    assert.matches('`rftlua recipes/gamma_search.lua --param lr` (commit fedcba9, AVX-512)', md, 1, true)
    assert.not_matches('lr_st', md)
    assert.equal(0.01, cjson.decode(read(out .. '/search/lr_fma.json')).best)
  end)

  it("keeps every finished run's record without its weights: the per-seed numbers outlive the runs folder", function()
    assert.equal(read(root .. '/table3/fma_s0/results.json'), read(out .. '/runs/fma_s0/results.json'))
    assert.equal(read(root .. '/table3/fma_s0/curves.csv'), read(out .. '/runs/fma_s0/curves.csv'))
    assert.is_nil(io.open(out .. '/runs/fma_s0/model.safetensors'))
    assert.equal(read(root .. '/table3/fma_s2/results.json'), read(out .. '/runs/fma_s2/results.json'))
    assert.is_nil(io.open(out .. '/runs/clean_s0/train.csv'))   -- still going: nothing yet
  end)

  it('puts the IA runs into Table 2: each distortion\'s accuracy after its own fine-tuning, and the average change', function()
    local t = summary.table2
    assert.same({ 'FMA/IA', 'ST/IA' }, { t.methods[1].label, t.methods[2].label })
    assert.equal(10, t.methods[1].change['B+']); assert.equal(15, t.methods[1].change.GN)
    assert.equal(12.5, t.methods[1].average); assert.equal(2, t.methods[1].n)
    assert.equal(10, t.methods[2].average); assert.is_nil(t.methods[2].after['B+'])
    local md = read(out .. '/table2.md')
    assert.matches('| GN | 60.00 | 75.00 (+15.00); clean 88.50 | 70.00 (+10.00); clean 89.50 |', md, 1, true)
    assert.matches('| B+ | 70.00 | 80.00 (+10.00); clean 89.00 | — |', md, 1, true)
    assert.matches('| **average change** |  | **+12.50** (2 of 7) | **+10.00** (1 of 7) |', md, 1, true)
    assert.matches('`rftlua recipes/ia_cifar.lua --methods FMA`', md, 1, true)
    assert.equal(12.5, cjson.decode(read(out .. '/table2.json')).methods[1].average)
  end)

  it("takes a row whole from another baseline's IA runs when told to, its changes against that baseline", function()
    local other = root .. '/second'
    json(other .. '/ia/st/results.json', { before = { clean = 88, ['B+'] = 74, GN = 50 },
      runs = { { aug = 'B+', method = 'ST/IA', after = { clean = 87.5, ['B+'] = 80 } },
               { aug = 'GN', method = 'ST/IA', after = { clean = 87, GN = 99 } } } })   -- GN: not asked for
    local t = files.table2(out .. '/combined', root, { ['B+'] = other })
    local fma, st = t.methods[1], t.methods[2]
    assert.is_nil(fma.after['B+'])                   -- this root's B+ run is left out: the row is the other's
    assert.equal(74, t.baseline['B+']); assert.equal(60, t.baseline.GN); assert.equal(90, t.baseline.clean)
    assert.same({ 6, 10 }, { st.change['B+'], st.change.GN })
    assert.equal(8, st.average); assert.equal(15, fma.average)
    assert.same({ root = other, baseline_clean = 88 }, t.rows_from['B+'])
    local md = read(out .. '/combined/table2.md')
    assert.matches('| B+ (another baseline) | 74.00 | — | 80.00 (+6.00); clean 87.50 |', md, 1, true)
    assert.matches('The B+ row comes from the runs under `' .. other .. '/ia`, fine-tuned from another baseline (clean 88.00 %)', md, 1, true)
  end)

  it('records where every number came from', function()
    local t = cjson.decode(read(out .. '/table3.json'))
    assert.equal('rftlua recipes/paper_results.lua --runs ' .. root, t.provenance.command)
    assert.is_string(t.provenance.machine.cpu)
    local seen = {}
    for _, r in ipairs(t.provenance.runs) do seen[r.dir] = r end
    assert.equal('rftlua recipes/baseline_cifar.lua --out b', seen[root .. '/baseline'].command)
    assert.equal(61, seen[root .. '/table3/fma_s1'].seconds)
    assert.equal('rftlua recipes/ca_cifar.lua --method FMA --seed 1', seen[root .. '/table3/fma_s1'].command)
    local md = read(out .. '/table3.md')
    assert.matches('| ' .. root .. '/baseline | `rftlua recipes/baseline_cifar.lua --out b` | abcdef0123 | Test CPU, AVX2+FMA | 0:01:40 |',
      md, 1, true)
    assert.matches('| ' .. root .. '/table3/fma_s2 | not recorded | not recorded | not recorded | 0:01:02 |', md, 1, true)
    -- a run that began on an earlier commit than it ended on says both
    assert.matches('| ' .. root .. '/table3/fma_s0 | `rftlua recipes/ca_cifar.lua` | 1111111111, started at 2222222222 | Test CPU, AVX-512 | 0:01:00 |',
      md, 1, true)
  end)

  it("orders the columns as the paper does: FMA, ST, AT, then AT-distorted and the control", function()
    local r2 = os.tmpname(); os.remove(r2)
    json(r2 .. '/baseline/results.json', { test_accuracy = base.clean })
    for i, m in ipairs { { 'clean', 'clean/CA' }, { 'at_distorted', 'AT-distorted/CA' }, { 'at', 'AT/CA' },
                         { 'st', 'ST/CA' }, { 'fma', 'FMA/CA' } } do
      json(r2 .. '/table3/' .. m[1] .. '_s0/results.json', ca(m[2], { name = m[2]:gsub('/CA$', '') }, 0, i))
    end
    local function labels()
      local got = {}
      for _, g in ipairs(runs.read(r2, { expected = { slugs = {}, seeds = { 0 }, gs = {} } }).groups) do got[#got + 1] = g.label end
      return got
    end
    assert.same({ 'FMA/CA', 'ST/CA', 'AT/CA', 'AT-distorted/CA', 'clean/CA' }, labels())
    -- two FMA configurations whose learning-rate schedules differ are told apart by the schedule's
    -- first rate, not by every entry of the list
    local function schedule(lr) return { { epochs = 8, lr = lr }, { epochs = 2, lr = lr / 100 }, { epochs = 2, lr = lr / 1e4 } } end
    local r = ca('FMA/CA', { name = 'FMA' }, 0, 5)
    r.config.lr = schedule(0.001)
    json(r2 .. '/table3/fma_s0/results.json', r)
    r = ca('FMA/CA', { name = 'FMA' }, 0, 6)
    r.config.lr = schedule(0.003)
    json(r2 .. '/table3/fma_lr0.003_s0/results.json', r)
    local got = labels()
    os.execute("rm -rf '" .. r2 .. "'")
    assert.same({ 'FMA/CA (lr=0.001)', 'FMA/CA (lr=0.003)', 'ST/CA', 'AT/CA', 'AT-distorted/CA', 'clean/CA' }, got)
  end)
end)
