-- recipes/invariance_cifar.lua refuses flags out of range before any work: one line naming the
-- flag and the accepted range, exit status 2, and no output folder. A model scored before is taken
-- from its record, untrained, when its settings match (each model of a long run may train in another
-- session, its record restored from results/), and --results receives every record, CSV and figure but
-- no weights. (Its kill -9 and resume behaviour is rft.train.fit's,
-- specified in fit_spec.lua.)
local data_dir = os.getenv('RFT_DATA')
local have_data = data_dir and io.open(data_dir .. '/test_batch.bin', 'rb')
if have_data then have_data:close() end

local function sh(cmd)
  local p = assert(io.popen(cmd .. ' 2>&1; echo "rc=$?"'))
  local out = p:read('*a'); p:close()
  local body, rc = out:match('^(.*)rc=(%d+)\n$')
  return body, tonumber(rc)
end

describe('invariance_cifar.lua', function()
  it('refuses flags out of range before reading data, writing nothing', function()
    local dir = os.tmpname(); os.remove(dir)
    for flag, msg in pairs {
      ['--epochs 0'] = "%-%-epochs must be a whole number >= 1 and <= 100000, got '0'",
      ['--epochs -1'] = "%-%-epochs must be a whole number >= 1 and <= 100000, got '%-1'",
      ['--width 0'] = "%-%-width must be a finite number > 0 and <= 16, got '0'",
      ['--copies 1'] = "%-%-copies must be a whole number >= 2 and <= 256, got '1'",
      ['--alpha 1'] = "%-%-alpha must be comma%-separated finite numbers > 0 and < 1, got '1'",
      ['--alpha 0.1,0'] = "%-%-alpha must be comma%-separated finite numbers > 0 and < 1, got '0.1,0'",
      ['--schedule cosine'] = "%-%-schedule must be one of paper, one%-cycle, got 'cosine'",
      ['--weight-decay -1'] = "%-%-weight%-decay must be a finite number >= 0 and <= 1, got '%-1'",
      ['--max-val-drop -1'] = "%-%-max%-val%-drop must be a finite number >= 0 and <= 100, got '%-1'",
      ['--lr nan'] = "%-%-lr must be a finite number > 0 and <= 10, got 'nan'",
      ['--steps-per-epoch 2.5'] = "%-%-steps%-per%-epoch must be a whole number >= 1 and <= 10000000, got '2.5'",
    } do
      local out, rc = sh('build/rftlua recipes/invariance_cifar.lua --data /nonexistent --out ' .. dir .. ' ' .. flag)
      assert.equal(2, rc, flag)
      assert.is_truthy(out:find(msg), flag .. ' gave: ' .. out)
      assert.is_nil(os.rename(dir, dir), flag .. ' left ' .. dir)
    end
  end)

  it('takes a model scored before from its record when its settings match, and trains it when they do not', function()
    if not have_data then return pending('RFT_DATA is not set to a CIFAR-10 folder') end
    local dir = os.tmpname(); os.remove(dir)
    local run = 'build/rftlua recipes/invariance_cifar.lua --epochs 1 --steps-per-epoch 1 --seeds 4 --copies 2 '
      .. '--score-images 20 --draws 1 --alpha 0.1 --out ' .. dir
    local first, rc = sh(run .. ' --results ' .. dir .. '/published')
    assert.equal(0, rc, first)
    assert.is_nil(first:find('scored before', 1, true))
    local function read(path) local f = assert(io.open(path)); local t = f:read('*a'); f:close(); return t end
    local table1 = read(dir .. '/results.md')
    -- --results: every record, CSV and figure, never the weights
    local function files(root)
      local p, t = io.popen("cd '" .. root .. "' && find . -type f | sort"), {}
      for l in p:lines() do t[#t + 1] = l end
      p:close()
      return table.concat(t, ' ')
    end
    assert.equal('./baseline/results.json ./baseline/train.csv ./baseline_invariance_loss.png ./baseline_scores.csv '
      .. './invariance_a0.1/results.json ./invariance_a0.1/train.csv ./invariance_a0.1_invariance_loss.png '
      .. './invariance_a0.1_scores.csv ./results.json ./results.md ./scores.png', files(dir .. '/published'))
    assert.equal(read(dir .. '/baseline/results.json'), read(dir .. '/published/baseline/results.json'))
    assert.equal(table1, read(dir .. '/published/results.md'))
    os.execute("rm -rf '" .. dir .. "'/*.safetensors '" .. dir .. "'/*/checkpoint* '" .. dir .. "'/published")   -- as results/ holds them
    local again; again, rc = sh(run)
    assert.equal(0, rc, again)
    assert.is_truthy(again:find('baseline: scored before', 1, true), again)
    assert.is_truthy(again:find('invariance_a0.1: scored before', 1, true), again)
    assert.equal(table1, read(dir .. '/results.md'))
    local other; other, rc = sh(run .. ' --lr 0.02')   -- another model: trained, its record replaced
    assert.equal(0, rc, other)
    assert.is_nil(other:find('scored before', 1, true), other)
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
