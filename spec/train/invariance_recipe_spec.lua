-- recipes/invariance_cifar.lua refuses flags out of range before any work: one line naming the
-- flag and the accepted range, a non-zero exit status, and no output folder. (Its kill -9 and
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
      ['--epochs 0'] = '--epochs 0: expected a whole number in %[1, 100000%]',
      ['--epochs=-1'] = '--epochs %-1: expected a whole number',
      ['--width 0'] = '--width 0: expected a number in %[0.01, 16%]',
      ['--copies 1'] = '--copies 1: expected a whole number in %[2, 256%]',
      ['--alpha 1'] = '--alpha 1: expected a number in %[0, 0.99%]',
      ['--lr nan'] = '--lr nan: expected a number',
      ['--steps-per-epoch 2.5'] = '--steps%-per%-epoch 2.5: expected a whole number',
    } do
      local out, rc = sh('build/rftlua recipes/invariance_cifar.lua --data /nonexistent --out ' .. dir .. ' ' .. flag)
      assert.equal(1, rc, flag)
      assert.is_truthy(out:find(msg), flag .. ' gave: ' .. out)
      assert.is_nil(os.rename(dir, dir), flag .. ' left ' .. dir)
    end
  end)
end)
