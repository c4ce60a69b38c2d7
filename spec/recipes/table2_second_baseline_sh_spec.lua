-- tools/experiments/table2_second_baseline.sh: a second baseline's S- row at the first baseline's
-- selected settings, its records kept in results/ beside the baseline's record, and never mixed with
-- the records of another baseline. rftlua is replaced by a script that logs ia_cifar.lua's flags.
local BIN = 'build/rftlua'
local exists = require('rft.util').exists

local function write(path, text)
  os.execute("mkdir -p '" .. path:match('^(.*)/') .. "'")
  local f = assert(io.open(path, 'w')); f:write(text); f:close()
end

local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read('*a'); f:close()
  return s
end

describe('tools/experiments/table2_second_baseline.sh', function()
  it("runs S- at the first baseline's settings, keeps the baseline's record, and refuses another baseline's", function()
    if not exists(BIN) then return pending('build/rftlua not built') end
    local root = os.tmpname(); os.remove(root)
    local first, runs, results = root .. '/first', root .. '/runs', root .. '/results'
    local csv = 'epoch,lr,train_loss,train_accuracy,val_accuracy,images_per_s,seconds\n1,0.01,1.5,40,50,600,70\n'
    write(first .. '/search/lr_at.json', '{"best": 0.001}')
    write(first .. '/search/lr_top_at.json', '{"best": 0.6667}')
    write(runs .. '/baseline/train.csv', csv)             -- a finished baseline: the baseline stage skips it
    write(runs .. '/baseline/results.json', '{"test_accuracy": 87.7}')
    write(root .. '/rftlua', table.concat({ '#!/bin/bash',
      'if [ "$1" = recipes/ia_cifar.lua ]; then echo "${*:2}" >> ' .. root .. '/calls',
      '  out=${*: -1}; mkdir -p "$out"',
      '  echo "{\\"before\\": {\\"clean\\": 88, \\"S-\\": 83}, \\"runs\\": [{\\"aug\\": \\"S-\\", '
        .. '\\"method\\": \\"AT/IA\\", \\"after\\": {\\"clean\\": 87, \\"S-\\": 85}}]}" > "$out/results.json"',
      'else exec ' .. BIN .. ' "$@"; fi', '' }, '\n'))
    local function script()
      local p = io.popen(string.format([[bash -c 'chmod +x %s/rftlua; export RFTLUA=%s/rftlua FIRST=%s ROOT=%s RESULTS=%s \
        IA_METHODS=AT; tools/experiments/table2_second_baseline.sh' 2>&1; echo "rc=$?"]], root, root, first, runs, results))
      local out = p:read('*a'); p:close()
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
    assert.is_truthy(read(results .. '/table2.md'):find('| S- | 83.00 | 85.00 (+2.00); clean 87.00 |', 1, true))
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
