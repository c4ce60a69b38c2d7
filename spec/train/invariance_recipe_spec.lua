-- recipes/invariance_cifar.lua refuses flags out of range before any work: one line naming the
-- flag and the accepted range, exit status 2, and no output folder. (Its kill -9 and
-- resume behaviour is rft.train.fit's, specified in fit_spec.lua.)
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
end)
