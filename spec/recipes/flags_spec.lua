-- Recipe flags (rft.cli): a bad value stops the recipe before it reads data or writes anything, with
-- one line on stderr naming the flag and what it accepts, and a non-zero exit status. Each case runs
-- build/rftlua in an empty folder (so nothing it could write goes unseen) with no dataset reachable.
local BIN = 'build/rftlua'

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local root = io.popen('pwd'):read('*l')

-- Runs a recipe with args in a fresh empty folder; returns stdout, stderr, exit status, and the
-- folder's listing afterwards.
local function run(recipe, args)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute('mkdir ' .. quote(dir)) == 0)
  local out, err = dir .. '.out', dir .. '.err'
  local cmd = string.format('cd %s && RFT_DATA=/nonexistent timeout 120 %s %s %s >%s 2>%s; echo $?', quote(dir),
    quote(root .. '/' .. BIN), quote(root .. '/recipes/' .. recipe), args, quote(out), quote(err))
  local p = io.popen(cmd)
  local rc = tonumber(p:read('*a'):match('(%d+)'))
  p:close()
  local function slurp(path) local f = io.open(path); local s = f:read('*a'); f:close(); os.remove(path); return s end
  local ls = io.popen('ls -A ' .. quote(dir)):read('*a')
  os.execute('rm -rf ' .. quote(dir))
  return slurp(out), slurp(err), rc, ls
end

local cases = {
  { 'baseline_cifar.lua', '--epochs 0', "^baseline_cifar: %-%-epochs must be a whole number >= 1 and <= 10000, got '0'\n$" },
  { 'baseline_cifar.lua', '--epochs=-1', "%-%-epochs must be a whole number >= 1.*got '%-1'" },
  { 'baseline_cifar.lua', '--epochs -1', "%-%-epochs must be a whole number >= 1.*got '%-1'" },
  { 'baseline_cifar.lua', '--epochs 1.5', "%-%-epochs must be a whole number" },
  { 'baseline_cifar.lua', '--width 0', "%-%-width must be a finite number > 0 and <= 16, got '0'" },
  { 'baseline_cifar.lua', '--width -1', "%-%-width must be a finite number > 0.*got '%-1'" },
  { 'baseline_cifar.lua', '--lr nan', "%-%-lr must be a finite number > 0 and <= 10, got 'nan'" },
  { 'baseline_cifar.lua', '--lr inf', "%-%-lr must be a finite number" },
  { 'baseline_cifar.lua', '--batch 0', "%-%-batch must be a whole number >= 1 and <= 45000, got '0'" },
  { 'baseline_cifar.lua', '--bn maybe', "%-%-bn must be true or false, got 'maybe'" },
  { 'baseline_cifar.lua', '--model resnet', "%-%-model must be one of allcnn_c, fast, quick, vgg16, got 'resnet'" },
  { 'baseline_cifar.lua', '--seed -3', "%-%-seed must be a whole number >= 0" },
  { 'baseline_cifar.lua', '--nonsense 1', "unknown option '%-%-nonsense'" },
  { 'fma_ca_cifar.lua', '--train-images 0 --gamma nan', "%-%-train%-images must be a whole number >= 1 and <= 45000, got '0'" },
  { 'fma_ca_cifar.lua', '--gamma nan', "%-%-gamma must be a finite number >= 0" },
  { 'fma_ca_cifar.lua', '--train-images 100000', "%-%-train%-images must be a whole number >= 1 and <= 45000" },
  { 'fma_ca_cifar.lua', '--calib-images 6000', "%-%-calib%-images must be a whole number >= 1 and <= 5000" },
  { 'st_ca_cifar.lua', '--alpha -0.1', "%-%-alpha must be a finite number >= 0.*got '%-0.1'" },
  { 'at_ca_cifar.lua', '--target-drop 0', "%-%-target%-drop must be a finite number > 0 and < 100" },
  { 'ca_cifar.lua', '--method XYZ', "%-%-method must be one of AT, AT%-distorted, .*got 'XYZ'" },
  { 'ia_cifar.lua', '--methods FMA,XYZ', "%-%-methods must be comma%-separated names from" },
  { 'ia_cifar.lua', '--augs B+,XX', "%-%-augs must be comma%-separated names from B%+,B%-,GB,GN,SAP,S%+,S%-" },
  { 'calibrate_cifar.lua', '--checkpoint x.safetensors --families XX', "%-%-families must be comma%-separated names" },
  { 'calibrate_cifar.lua', '--families B+', "%-%-checkpoint is required" },
  { 'gamma_search.lua', '--grid 0.1,nan', "%-%-grid must be comma%-separated finite numbers" },
  { 'gamma_search.lua', '--param lr_top --grid 0.5,2', "%-%-grid: lr_top must be in %(0, 1%], got 2" },
  { 'gamma_search.lua', '--param beta', "%-%-param must be lr, lr_top or a number option of method FMA, got 'beta'" },
  { 'fma_ca_cifar.lua', '--lr-top 0', "%-%-lr%-top must be a finite number > 0 and <= 1, got '0'" },
  { 'invariance_score.lua', '--checkpoint x --calibration missing.json', "cannot read %-%-calibration missing.json" },
  { 'table3_cifar.lua', '--methods FMA,nope', "%-%-methods must be comma%-separated names from" },
  { 'corruption_eval.lua', '', "%-%-checkpoint is required" },
  { 'corruption_eval.lua', '--checkpoint missing.safetensors', "cannot read checkpoint missing.safetensors" },
  { 'corruption_eval.lua', '--checkpoint x --images 0', "%-%-images must be a whole number >= 1 and <= 10000" },
  { 'corruption_eval.lua', '--checkpoint x --corruptions fog,xx', "%-%-corruptions must be comma%-separated names" },
}

describe('recipe flags', function()
  setup(function()
    if not exists(BIN) then pending('build/rftlua not built') end
  end)

  for _, c in ipairs(cases) do
    it(c[1] .. ' ' .. c[2] .. ': one line naming the flag, exit 2, nothing written', function()
      if not exists(BIN) then return pending('build/rftlua not built') end
      local out, err, rc, ls = run(c[1], c[2])
      assert.equal(2, rc)
      assert.truthy(err:find(c[3]), 'stderr: ' .. err)
      assert.equal(1, select(2, err:gsub('\n', '')), 'one line on stderr: ' .. err)
      assert.equal('', out)
      assert.equal('', ls)
    end)
  end

  it('accepts negative values where the range allows them (a value, not an unknown option)', function()
    if not exists(BIN) then return pending('build/rftlua not built') end
    -- --weight-decay -0 is in range; the run then stops at the missing dataset, after the flags
    local _, err, rc, ls = run('baseline_cifar.lua', '--weight-decay -0 --epochs 1')
    assert.is_not.equal(0, rc)
    assert.falsy(err:find('unknown option'), err)
    assert.falsy(err:find('must be'), err)
    assert.equal('', ls)
  end)
end)

describe("the baseline's configuration", function()
  local flags = require 'rft.experiment.flags'
  local baseline = require 'rft.experiment.baseline'
  local function parsed(args) return flags.parse('fma_ca_cifar', 'test', { methods = { 'FMA' } }, args).baseline end

  it('defaults to the quick model at full width, 17 epochs, no whitening; whitening names its own folder', function()
    local b = parsed({})
    assert.same({ 'quick', 1, 17, false }, { b.model, b.width, b.epochs, b.whiten })
    assert.equal('runs/baseline_quick_w1_bn_e17_s0', baseline.dir(b))
    b = parsed({ '--model', 'fast', '--width', '0.75', '--baseline-epochs', '15', '--baseline-whiten', 'true' })
    assert.same({ 'fast', 0.75, 15, true }, { b.model, b.width, b.epochs, b.whiten })
    assert.equal('runs/baseline_fast_w0.75_bn_wh_e15_s0', baseline.dir(b))
  end)

  it("a checkpoint's model and width come from the flags, else its metadata, else the defaults", function()
    local rft = require 'rft'
    local path = os.tmpname()
    local small = rft.models.fast { width = 0.25, seed = 3 }
    rft.safetensors.save(path, small:state_dict(), { model = 'fast', width = 0.25 })
    local net, width, model = baseline.load_checkpoint({ bn = true }, path)
    assert.same({ 0.25, 'fast' }, { width, model })
    assert.same(small:state_dict()['0.weight']:to_table(), net:state_dict()['0.weight']:to_table())
    assert.has_error(function() baseline.load_checkpoint({ model = 'fast', width = 0.5 }, path) end)
    assert.has_error(function() baseline.load_checkpoint({ model = 'quick' }, path) end)
    rft.safetensors.save(path, small:state_dict())      -- no metadata: the defaults, quick at width 1
    local ok, err = pcall(baseline.load_checkpoint, {}, path)
    assert.is_false(ok)
    assert.truthy(tostring(err):find('the network expects f32 %[12,3,3,3%]'), tostring(err))
    net, width, model = baseline.load_checkpoint({ model = 'fast', width = 0.25 }, path)
    assert.same({ 0.25, 'fast' }, { width, model })
    rft.safetensors.save(path, small:state_dict(), { model = 'resnet' })
    assert.error_matches(function() baseline.load_checkpoint({}, path) end,
      "its metadata names the model 'resnet', which rft.models does not have")
    os.remove(path)
  end)
end)
