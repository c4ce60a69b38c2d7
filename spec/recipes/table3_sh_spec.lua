-- tools/experiments/table3.sh: the flags each method's Table 3 runs get are the ones its searches
-- selected (FMA under the normaliser whose search scored higher, the schedule searched last), and a
-- missing search stops the script rather than running a method with an empty flag; IA runs once per
-- method and distortion, its records kept in results/. The script's functions are sourced alone.
-- tools/experiments/table2_second_baseline.sh: a second baseline's S- row at the first baseline's
-- selected settings, its records kept beside the baseline's record, never mixed with another baseline's;
-- the whole Table 2 with its S- row in place of the first baseline's.
local BIN = 'build/rftlua'
local exists = require('rft.util').exists

local function write(path, text)
  os.execute("mkdir -p '" .. path:match('^(.*)/') .. "'")
  local f = assert(io.open(path, 'w')); f:write(text); f:close()
end

local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local t = f:read('*a'); f:close()
  return t
end

-- <root>/rftlua: rftlua itself, except that ia_cifar.lua only logs its flags in <root>/calls and writes
-- a record in its --out (the distortion trained: 70 % before, 80 % after; clean 88 %, then 87 %)
local function fake_rftlua(root)
  write(root .. '/rftlua', table.concat({ '#!/bin/bash',
    'if [ "$1" = recipes/ia_cifar.lua ]; then echo "${*:2}" >> ' .. root .. '/calls',
    '  out=${*: -1}; aug=$(echo "$*" | sed "s/.*--augs \\([^ ]*\\).*/\\1/"); mkdir -p "$out"',
    '  echo "{\\"before\\": {\\"clean\\": 88, \\"$aug\\": 70}, \\"runs\\": [{\\"aug\\": \\"$aug\\", '
      .. '\\"method\\": \\"AT/IA\\", \\"after\\": {\\"clean\\": 87, \\"$aug\\": 80}}]}" > "$out/results.json"',
    'else exec ' .. BIN .. ' "$@"; fi', '' }, '\n'))
end

-- what a shell command prints
local function capture(cmd)
  local p = io.popen(cmd)
  local out = p:read('*a'); p:close()
  return out
end

-- `fn args` (a function of the script) in a shell that sourced it with ROOT=root: its output and exit status
local function call(root, fn, args)
  local out = capture(string.format(
    [[bash -c 'export ROOT=%s; source tools/experiments/table3.sh; x=$(%s %s); echo "$x"' 2>/dev/null; echo "rc=$?"]],
    root, fn, args))
  return out:match('^(.-)\n?rc='), tonumber(out:match('rc=(%d+)'))
end
local function selected(root, method) return call(root, 'setting', method) end

describe('tools/experiments/table3.sh', function()
  it("gives each method the values its searches selected, and stops where a search is missing", function()
    if not exists(BIN) then return pending('build/rftlua not built') end
    local root = os.tmpname(); os.remove(root)
    local searches = {
      lr_fma = '{"best": 0.01, "val_accuracy": 50}', lr_st = '{"best": 0.003, "val_accuracy": 50}',
      lr_clean = '{"best": 0.03, "val_accuracy": 50}', gamma_fma = '{"best": 0.1, "val_accuracy": 60.5}',
      gamma_fma_constant = '{"best": 0.3, "val_accuracy": 61}', alpha_st = '{"best": 1, "val_accuracy": 55}',
      lr_at = '{"best": null, "val_accuracy": null}',
      lr_at_distorted = '{"best": null, "val_accuracy": null, "closest": 0.0003, "closest_val_accuracy": 40}',
    }
    for name, json in pairs(searches) do write(root .. '/search/' .. name .. '/results.json', json) end
    assert.same({ '--lr 0.01 --gamma 0.3 --constant-normalizer true', 0 }, { selected(root, 'FMA') })
    assert.same({ '--lr 0.003 --alpha 1', 0 }, { selected(root, 'ST') })
    assert.same({ '--lr 0.03', 0 }, { selected(root, 'clean') })
    -- the differentiated normaliser wins when its search scored higher
    write(root .. '/search/gamma_fma/results.json', '{"best": 0.1, "val_accuracy": 62}')
    assert.same({ '--lr 0.01 --gamma 0.1 --constant-normalizer false', 0 }, { selected(root, 'FMA') })
    -- the joint grid: a weight searched at another rate wins with a higher score, but only one that
    -- kept the clean drop within bounds (a search's closest value never does)
    write(root .. '/search/gamma_fma_lr0.0003/results.json',
      '{"best": null, "val_accuracy": null, "closest": 1, "closest_val_accuracy": 99}')
    assert.same({ '--lr 0.01 --gamma 0.1 --constant-normalizer false', 0 }, { selected(root, 'FMA') })
    write(root .. '/search/gamma_fma_lr0.003/results.json', '{"best": 0.3, "val_accuracy": 62.5}')
    assert.same({ '--lr 0.003 --gamma 0.3 --constant-normalizer false', 0 }, { selected(root, 'FMA') })
    -- no value kept the clean drop within bounds and none is named the closest: a failure
    local _, rc = selected(root, 'AT')
    assert.is_not.equal(0, rc)
    -- no value met the rule but one came closest: that one
    assert.same({ '--lr 0.0003', 0 }, { selected(root, 'AT-distorted') })
    os.execute("rm -rf '" .. root .. "'")
  end)

  it('adds the schedule its search selected, and names the run folder by it where it moves off LR_TOP', function()
    if not exists(BIN) then return pending('build/rftlua not built') end
    local root = os.tmpname(); os.remove(root)
    write(root .. '/search/lr_st/results.json', '{"best": 0.003, "val_accuracy": 50}')
    write(root .. '/search/alpha_st/results.json', '{"best": 1, "val_accuracy": 55}')
    write(root .. '/search/lr_clean/results.json', '{"best": 0.03, "val_accuracy": 50}')
    -- no schedule search yet: no run
    local _, rc = call(root, 'selected', 'ST')
    assert.is_not.equal(0, rc)
    write(root .. '/search/lr_top_st/results.json', '{"best": 1, "val_accuracy": 56}')
    write(root .. '/search/lr_top_clean/results.json', '{"best": 0.6667, "val_accuracy": 51}')
    assert.same({ '--lr 0.003 --alpha 1 --lr-top 1', 0 }, { call(root, 'selected', 'ST') })
    assert.same({ '--lr 0.03 --lr-top 0.6667', 0 }, { call(root, 'selected', 'clean') })
    assert.same({ root .. '/table3/st_top1_s2', 0 }, { call(root, 'run_dir', 'ST 2') })
    assert.same({ root .. '/table3/clean_s0', 0 }, { call(root, 'run_dir', 'clean 0') })
    os.execute("rm -rf '" .. root .. "'")
  end)

  it("keeps FMA's one-coordinate setting as a second configuration only where the joint grid moved it", function()
    if not exists(BIN) then return pending('build/rftlua not built') end
    local root = os.tmpname(); os.remove(root)
    write(root .. '/search/lr_fma/results.json', '{"best": 0.001, "val_accuracy": 50}')
    write(root .. '/search/gamma_fma/results.json', '{"best": 0.1, "val_accuracy": 60}')
    write(root .. '/search/gamma_fma_constant/results.json', '{"best": 0.03, "val_accuracy": 59}')
    assert.same({ '', 0 }, { call(root, 'second_fma', '') })
    write(root .. '/search/gamma_fma_lr0.003/results.json', '{"best": 0.1, "val_accuracy": 61}')
    assert.same({ root .. '/table3/fma_lr0.001_s0 --lr 0.001 --gamma 0.1 --constant-normalizer false', 0 },
      { call(root, 'second_fma', '') })
    os.execute("rm -rf '" .. root .. "'")
  end)

  it('finds the rates beside a rate in LR_GRID, for the joint grid around FMA\'s', function()
    if not exists(BIN) then return pending('build/rftlua not built') end
    local function neighbours(r)
      return capture(string.format([[bash -c 'source tools/experiments/table3.sh; neighbours %s' 2>&1]], r))
    end
    assert.equal('0.0003\n0.003\n', neighbours('0.001'))
    assert.equal('0.001\n', neighbours('0.0003'))
    assert.equal('0.003\n', neighbours('0.01'))
    assert.equal('', neighbours('0.5'))
  end)

  it('reads the grid a finished search scored, so that a changed grid runs the search again', function()
    if not exists(BIN) then return pending('build/rftlua not built') end
    local root = os.tmpname(); os.remove(root)
    write(root .. '/results.json', '{"scores": [{"value": 0.0003}, {"value": 0.001}, {"value": 0.01}]}')
    assert.equal('0.0003,0.001,0.01\n', capture(string.format([[bash -c 'source tools/experiments/table3.sh; grid_of %s' 2>&1]], root)))
    os.execute("rm -rf '" .. root .. "'")
  end)

  it('searches the weights of the methods in METHODS only, at the rate each one selected', function()
    if not exists(BIN) then return pending('build/rftlua not built') end
    local root = os.tmpname(); os.remove(root)
    write(root .. '/search/lr_fma/results.json', '{"best": 0.003}')
    write(root .. '/search/lr_st/results.json', '{"best": 0.01}')
    local function calls(methods)   -- stage_search with search() replaced by a line naming what it would run
      return (capture(string.format([[bash -c 'export ROOT=%s METHODS="%s"; source tools/experiments/table3.sh
        search() { echo "$1 $2 $4 ${*:5}"; }; stage_search' 2>&1]], root, methods)):gsub(root, 'R'))
    end
    write(root .. '/search/lr_at/results.json', '{"best": 0.001}')
    assert.equal('AT lr R/search/lr_at \nAT lr_top R/search/lr_top_at --lr 0.001\n', calls('AT'))
    write(root .. '/search/gamma_fma/results.json', '{"best": 0.1, "val_accuracy": 60}')
    write(root .. '/search/gamma_fma_constant/results.json', '{"best": 0.03, "val_accuracy": 59}')
    assert.equal(table.concat({ 'FMA lr R/search/lr_fma --constant-normalizer false',
      'FMA gamma R/search/gamma_fma --constant-normalizer false --lr 0.003',
      'FMA gamma R/search/gamma_fma_constant --constant-normalizer true --lr 0.003',
      'FMA gamma R/search/gamma_fma_lr0.001 --constant-normalizer false --lr 0.001',
      'FMA gamma R/search/gamma_fma_lr0.01 --constant-normalizer false --lr 0.01',
      'FMA lr_top R/search/lr_top_fma --lr 0.003 --gamma 0.1 --constant-normalizer false', '' }, '\n'),
      calls('FMA'))
    write(root .. '/search/lr_clean/results.json', '{"best": 0.001}')
    write(root .. '/search/alpha_st/results.json', '{"best": 0.3}')
    assert.equal(table.concat({ 'clean lr R/search/lr_clean ', 'ST lr R/search/lr_st ', 'ST alpha R/search/alpha_st --lr 0.01',
      'clean lr_top R/search/lr_top_clean --lr 0.001', 'ST lr_top R/search/lr_top_st --lr 0.01 --alpha 0.3', '' }, '\n'),
      calls('clean ST'))
    -- a method whose rate was never searched stops the script before its schedule is searched
    os.execute("rm -rf '" .. root .. "/search/lr_clean'")
    assert.is_nil(calls('clean'):match('lr_top'))
    os.execute("rm -rf '" .. root .. "'")
  end)

  it('takes a search missing from runs/ from the committed results, only for the baseline it was made on', function()
    local root = os.tmpname(); os.remove(root)
    local results, base = root .. '/results', root .. '/base'
    local csv = 'epoch,lr,train_loss,train_accuracy,val_accuracy,images_per_s,seconds\n1,0.01,1.5,40,50,600,70\n'
    write(results .. '/baseline/train.csv', csv)
    write(results .. '/search/lr_st.json', '{"best": 0.003}')
    write(results .. '/search.md', table.concat({ '# Searches', '', '## alpha_st', '', 'other', '', '`rftlua x`', '',
      '## lr_st', '', 'ST: lr on 5000 images', '', '| lr | selected |', '| 0.003 | yes |', '', '`rftlua y` (commit 1, AVX2)', '' }, '\n'))
    local function restore()
      os.execute(string.format([[bash -c 'export ROOT=%s BASE=%s RESULTS=%s; source tools/experiments/table3.sh
        restore_search %s/search/lr_st' >/dev/null 2>&1]], root, base, results, root))
    end
    -- the same per-epoch training as the committed baseline (another machine's timing columns)
    write(base .. '/train.csv', csv:gsub('600,70', '650,64.5'))
    restore()
    local f = assert(io.open(root .. '/search/lr_st/search.md'))
    assert.equal('ST: lr on 5000 images\n\n| lr | selected |\n| 0.003 | yes |\n', f:read('*a')); f:close()
    f = assert(io.open(root .. '/search/lr_st/results.json'))
    assert.equal('{"best": 0.003}', f:read('*a')); f:close()
    -- another baseline: the search is not taken
    os.execute("rm -rf '" .. root .. "/search'")
    write(base .. '/train.csv', csv:gsub('1%.5,40', '1.6,39'))
    restore()
    assert.is_false(exists(root .. '/search/lr_st/results.json'))
    os.execute("rm -rf '" .. root .. "'")
  end)

  it('runs IA once per method and distortion, each record kept in results/ and taken back on the same baseline', function()
    if not exists(BIN) then return pending('build/rftlua not built') end
    local root = os.tmpname(); os.remove(root)
    local results, base = root .. '/results', root .. '/base'
    local csv = 'epoch,lr,train_loss,train_accuracy,val_accuracy,images_per_s,seconds\n1,0.01,1.5,40,50,600,70\n'
    write(results .. '/baseline/train.csv', csv)
    write(base .. '/train.csv', csv)
    write(root .. '/search/lr_at/results.json', '{"best": 0.001}')
    write(root .. '/search/lr_top_at/results.json', '{"best": 0.6667}')
    write(results .. '/ia/at_bplus/results.json', '{"before": {}, "runs": [], "from": "results", "seconds": 612.4, '
      .. '"provenance": {"command": "rftlua recipes/ia_cifar.lua", "commit": "0123456789abc", "machine": {"cpu": "AMD EPYC", "isa": "AVX-512"}}}')
    fake_rftlua(root)
    local function stage(augs)
      return capture(string.format([[bash -c 'chmod +x %s/rftlua; export RFTLUA=%s/rftlua ROOT=%s BASE=%s RESULTS=%s IA_METHODS=AT
        IA_AUGS="%s"; source tools/experiments/table3.sh; stage_ia' 2>&1; echo "rc=$?"]], root, root, root, base, results,
        augs or ''))
    end
    assert.is_truthy(stage():find('rc=0', 1, true))
    local f = assert(io.open(root .. '/calls'))
    local calls = {}
    for line in f:lines() do calls[#calls + 1] = line:gsub(root, 'R') end
    f:close()
    -- B+ came from results/; the six others ran, one distortion each, at AT's selected flags
    assert.equal(6, #calls)
    assert.equal('--methods AT --augs B- --lr 0.001 --lr-top 0.6667 --model vgg16 --width 0.5 --bn true --baseline R/base '
      .. '--epochs 5 --out R/ia/at_bminus', calls[1])
    assert.equal('--augs S- ', calls[6]:sub(14, 23))
    assert.equal(' --out R/ia/at_sminus', calls[6]:sub(-21))
    f = assert(io.open(root .. '/ia/at_bplus/results.json'))
    assert.is_truthy(f:read('*a'):find('"from": "results"', 1, true)); f:close()
    for _, name in ipairs { 'at_bminus', 'at_gb', 'at_gn', 'at_sap', 'at_splus', 'at_sminus' } do
      assert.is_true(exists(results .. '/ia/' .. name .. '/results.json'), name)
    end
    -- Table 2 from the records in results/, the one taken from there without a run of its own
    f = assert(io.open(results .. '/table2.md')); local t2 = f:read('*a'); f:close()
    assert.is_truthy(t2:find('| B- | 70.00 | 80.00 (+10.00); clean 87.00 |', 1, true), t2)
    assert.is_truthy(t2:find('| B+ | — | — |', 1, true), t2)
    assert.is_truthy(t2:find('**+10.00** (6 of 7)', 1, true), t2)
    assert.is_truthy(t2:find('/ia/at_bplus`: `rftlua recipes/ia_cifar.lua` (commit 0123456789, AMD EPYC AVX-512, 612 s)', 1, true), t2)
    -- all done: nothing runs again
    stage()
    f = assert(io.open(root .. '/calls')); local n = select(2, f:read('*a'):gsub('\n', '')); f:close()
    assert.equal(6, n)
    -- another baseline: a record in results/ is not taken
    os.execute("rm -rf '" .. root .. "/ia'")
    write(base .. '/train.csv', csv:gsub('1%.5,40', '1.6,39'))
    stage()
    f = assert(io.open(root .. '/calls')); n = select(2, f:read('*a'):gsub('\n', '')); f:close()
    assert.equal(13, n)
    -- IA_AUGS: those distortions only, in its order
    os.execute("rm -rf '" .. root .. "/ia'")
    assert.is_truthy(stage('S- GN'):find('rc=0', 1, true))
    f = assert(io.open(root .. '/calls')); local all = f:read('*a'); f:close()
    local last = {}
    for line in all:gmatch('[^\n]+') do last[#last + 1] = line end
    assert.equal(15, #last)
    assert.is_truthy(last[14]:find('--augs S- ', 1, true), last[14])
    assert.is_truthy(last[15]:find('--augs GN ', 1, true), last[15])
    os.execute("rm -rf '" .. root .. "'")
  end)
end)

describe('tools/experiments/table2_second_baseline.sh', function()
  it("runs S- at the first baseline's settings, keeps the baseline's record, and refuses another baseline's", function()
    if not exists(BIN) then return pending('build/rftlua not built') end
    local root = os.tmpname(); os.remove(root)
    local first, runs, results = root .. '/first', root .. '/runs', root .. '/results'
    local csv = 'epoch,lr,train_loss,train_accuracy,val_accuracy,images_per_s,seconds\n1,0.01,1.5,40,50,600,70\n'
    write(first .. '/search/lr_at.json', '{"best": 0.001}')
    write(first .. '/search/lr_top_at.json', '{"best": 0.6667}')
    write(first .. '/ia/at_bplus/results.json', '{"before": {"clean": 88, "B+": 60, "S-": 75}, "runs": [{"aug": "B+", '
      .. '"method": "AT/IA", "after": {"clean": 86, "B+": 66}}, {"aug": "S-", "method": "AT/IA", "after": {"S-": 99}}]}')
    write(runs .. '/baseline/train.csv', csv)             -- a finished baseline: the baseline stage skips it
    write(runs .. '/baseline/results.json', '{"test_accuracy": 87.7}')
    fake_rftlua(root)
    local function script()
      local out = capture(string.format([[bash -c 'chmod +x %s/rftlua; export RFTLUA=%s/rftlua FIRST=%s ROOT=%s RESULTS=%s \
        IA_METHODS=AT; tools/experiments/table2_second_baseline.sh' 2>&1; echo "rc=$?"]], root, root, first, runs, results))
      return out, tonumber(out:match('rc=(%d+)%s*$'))
    end
    local out, rc = script()
    assert.equal(0, rc, out)
    local calls = read(root .. '/calls')
    assert.equal('--methods AT --augs S- --lr 0.001 --lr-top 0.6667 --model vgg16 --width 0.5 --bn true --baseline '
      .. runs .. '/baseline --epochs 5 --out ' .. runs .. '/ia/at_sminus\n', calls)
    assert.equal(csv, read(results .. '/baseline/train.csv'))
    assert.is_true(exists(results .. '/baseline/results.json'))
    assert.is_true(exists(results .. '/ia/at_sminus/results.json'))
    assert.is_truthy(read(results .. '/table2.md'):find('| S- | 70.00 | 80.00 (+10.00); clean 87.00 |', 1, true))
    -- the whole table: the first baseline's rows, this one's S- row in place of the first's
    local all = read(results .. '/combined/table2.md')
    assert.is_truthy(all:find('| B+ | 60.00 | 66.00 (+6.00); clean 86.00 |', 1, true), all)
    assert.is_truthy(all:find('| S- (another baseline) | 70.00 | 80.00 (+10.00); clean 87.00 |', 1, true), all)
    assert.is_truthy(all:find('| **average change** |  | **+8.00** (2 of 7) |', 1, true), all)
    -- this baseline retrained to other numbers (another kind of CPU): stopped before any IA run
    os.execute("rm -rf '" .. runs .. "/ia'")
    write(runs .. '/baseline/train.csv', (csv:gsub('1%.5,40', '1.6,39')))
    out, rc = script()
    assert.is_true(rc ~= 0, out)
    assert.is_truthy(out:find('trained to other numbers', 1, true), out)
    assert.equal(calls, read(root .. '/calls'))
    assert.equal(csv, read(results .. '/baseline/train.csv'))
    os.execute("rm -rf '" .. root .. "'")
  end)
end)
