-- rft.train.fit's batch sources, metrics and run folder: K seeds x M copies and steps per epoch, a
-- step's metrics averaged into the epoch's row, a process killed with SIGKILL mid-epoch resuming to
-- the numbers of an uninterrupted run, nothing half-written (checkpoint before CSV, CSV cut back to
-- the checkpoint, stale *.tmp removed, no folder before the run can start), checkpoints holding NaN
-- or Inf refused unless allowed, and a diverging run stopping before it writes anything.
local rft = require 'rft'
local cjson = require 'cjson'
local ffi = require 'ffi'

local BIN = 'build/rftlua'

local synthetic = require 'support.synthetic'

local function tmpdir()
  local d = os.tmpname(); os.remove(d)
  return d
end
local function exists(path) return os.rename(path, path) ~= nil end
local function read(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('*a'); f:close()
  return s
end
local function touch(path, text) local f = assert(io.open(path, 'wb')); f:write(text or 'x'); f:close() end

-- The CSV's data rows without the columns that time the run (seconds, images/s).
local function csv_numbers(path)
  local lines = {}
  for line in (read(path) or ''):gmatch('[^\n]+') do lines[#lines + 1] = line end
  local header, keep = {}, {}
  for c in (lines[1] or ''):gmatch('[^,]+') do header[#header + 1] = c end
  local out = {}
  for i = 2, #lines do
    local v, j = {}, 0
    for cell in (lines[i] .. ','):gmatch('([^,]*),') do
      j = j + 1
      if header[j] ~= 'seconds' and header[j] ~= 'images_per_s' then v[#v + 1] = cell end
    end
    out[#out + 1] = table.concat(v, ',')
  end
  return out, header
end

local function run(o)
  local net = rft.models.fast { width = 0.125, seed = 1 }
  local p = { net = net, train = o.data or synthetic(32, 1), epochs = o.epochs or 2, batch = 8, lr = 0.05, seed = 2,
              crop = 0, flip = false, out = o.out, key = 'spec' }
  for k, v in pairs(o) do if k ~= 'data' then p[k] = v end end
  return net, rft.train.fit(p)
end

describe('rft.train.fit', function()
  it('draws batches of K seeds x M copies for a given number of steps and averages the step\'s metrics', function()
    local d = synthetic(8, 4)
    local copies = rft.aug.copies(rft.aug.chain { rft.aug.brightness { delta = rft.aug.uniform(-0.2, 0.2) } }, 3)
    local seen = {}
    local _, rows = run { data = d, epochs = 1, batch = 2, copies = copies, steps_per_epoch = 5,
      step = function(net, x, y, ctx)
        assert.same({ 6, 3, 32, 32 }, x:shape())
        assert.same({ 0, 0, 0, 1, 1, 1 }, ctx.groups:to_table())
        local l, ids = y:to_table(), ctx.ids:to_table()
        for r = 1, 6 do                         -- copy j of image id has id*M + j and the image's label
          assert.equal(d.labels:data()[math.floor(ids[r] / 3)], l[r])
          assert.equal((r - 1) % 3, ids[r] % 3)
        end
        seen[#seen + 1] = ctx.batch
        local loss, correct = rft.train.ce_step(net, x, y, ctx)
        return { loss = loss, correct = correct, step_number = ctx.batch, twice = 2 }
      end }
    assert.same({ 1, 2, 3, 4, 5 }, seen)       -- 5 steps: one pass of 4 batches, then a second pass
    assert.equal(3, rows[1].step_number)       -- (1+2+3+4+5)/5, every batch 6 rows
    assert.equal(2, rows[1].twice)
    assert.is_true(rows[1].train_loss > 0 and rows[1].train_accuracy >= 0)
  end)

  it('hands label_smoothing to the default step, whose loss is then the smoothed cross-entropy', function()
    local checked = 0
    run { epochs = 1, steps_per_epoch = 2, label_smoothing = 0.2,
          step = function(net, x, y, ctx)
            assert.equal(0.2, ctx.label_smoothing)
            local loss = rft.train.ce_step(net, x, y, ctx)
            net:evaluate()      -- the same forward again (batch norm in evaluation mode both times)
            local want = rft.loss.cross_entropy(net:forward(x), y, { smoothing = 0.2 })
            local again, correct = rft.train.ce_step(net, x, y, ctx)
            net:train()
            assert.near(want, again, 1e-6 * math.abs(want))
            assert.is_true(loss > 0)
            checked = checked + 1
            return again, correct
          end }
    assert.equal(2, checked)
  end)

  it('keeps the step\'s metrics in train.csv, in the order of o.columns', function()
    local dir = tmpdir()
    run { out = dir, epochs = 1, columns = { 'zeta', 'alpha' },
          step = function(net, x, y, ctx)
            local loss, correct = rft.train.ce_step(net, x, y, ctx)
            return { loss = loss, correct = correct, alpha = 1, zeta = 2, beta = 3 }
          end }
    local _, header = csv_numbers(dir .. '/train.csv')
    assert.equal('epoch,lr,train_loss,train_accuracy,val_accuracy,images_per_s,seconds,zeta,alpha,beta',
                 table.concat(header, ','))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it('resumes a process killed with SIGKILL mid-epoch to the numbers of an uninterrupted run', function()
    local dir = tmpdir()
    assert(os.execute('mkdir -p ' .. dir) == 0)
    -- the child rebuilds this spec's data and trains on K seeds x M copies with a metric per step
    local script = dir .. '/child.lua'
    touch(script, [[
      package.path = 'spec/?.lua;' .. package.path
      local rft = require 'rft'
      local synthetic = require 'support.synthetic'
      local net = rft.models.fast { width = 0.125, seed = 1 }
      rft.train.fit { net = net, train = synthetic(24, 1), epochs = 3, batch = 3, lr = 0.05, seed = 2, key = 'child',
        copies = rft.aug.copies(rft.aug.heavier(), 2), steps_per_epoch = 3, out = arg[1],
        step = function(n, x, y, ctx)
          local loss, correct = rft.train.ce_step(n, x, y, ctx)
          return { loss = loss, correct = correct, last_group = ctx.groups:to_table()[6] }
        end }
      rft.safetensors.save(arg[1] .. '/final.safetensors', net:state_dict())
    ]])
    local function child(out, kill_at)
      local env = kill_at and ('RFT_TRAIN_KILL_AT=' .. kill_at .. ' ') or ''
      local p = io.popen(env .. BIN .. ' ' .. script .. ' ' .. out .. ' >/dev/null 2>&1; echo $?')
      local rc = tonumber(p:read('*a')); p:close()
      return rc
    end
    assert.equal(0, child(dir .. '/whole'))
    assert.equal(128 + 9, child(dir .. '/killed', '2,2'))      -- SIGKILL before batch 2 of epoch 2
    assert.is_nil(read(dir .. '/killed/final.safetensors'))
    assert.equal(1, #csv_numbers(dir .. '/killed/train.csv'))  -- epoch 1 written, epoch 2 lost
    assert.equal(128 + 9, child(dir .. '/killed', '3,3'))      -- resumed, killed again in epoch 3
    assert.equal(0, child(dir .. '/killed'))
    local a, b = rft.safetensors.load(dir .. '/whole/final.safetensors'), rft.safetensors.load(dir .. '/killed/final.safetensors')
    for k, t in pairs(a) do assert.same(t:to_table(), b[k]:to_table(), k) end   -- bit-identical weights
    assert.same(csv_numbers(dir .. '/whole/train.csv'), csv_numbers(dir .. '/killed/train.csv'))
    assert.equal(3, #csv_numbers(dir .. '/killed/train.csv'))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it('writes the checkpoint before the CSV row that refers to it, and cuts the CSV back to the checkpoint', function()
    local dir = tmpdir()
    local write_csv = rft.train.write_csv
    rft.train.write_csv = function(path, rows, cols)       -- dies between the two writes of epoch 2
      if #rows == 2 then error('killed after the checkpoint', 0) end
      return write_csv(path, rows, cols)
    end
    local ok, err = pcall(run, { out = dir })
    rft.train.write_csv = write_csv
    assert.is_false(ok); assert.equal('killed after the checkpoint', err)
    local _, meta = rft.safetensors.load(dir .. '/checkpoint.safetensors')
    assert.equal('2', tostring(meta.epoch))
    assert.equal(1, #csv_numbers(dir .. '/train.csv'))      -- behind the checkpoint, never ahead
    run { out = dir }                                        -- nothing left to train; the CSV catches up
    local rows = csv_numbers(dir .. '/train.csv')
    assert.equal(2, #rows)
    -- a CSV ahead of its checkpoint (rows of epochs it does not hold) is cut back on resume
    local f = assert(io.open(dir .. '/train.csv', 'ab')); f:write('3,0.05,1,50,,10,1\n'); f:close()
    assert.equal(3, #csv_numbers(dir .. '/train.csv'))
    run { out = dir }
    assert.same(rows, csv_numbers(dir .. '/train.csv'))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it('carries the commit a run started on through its checkpoint into the provenance of its results', function()
    local report = require 'rft.report'
    local p = io.popen('git rev-parse HEAD 2>/dev/null'); local head = (p:read('*a') or ''):gsub('%s+$', ''); p:close()
    if head == '' then return pending('not a git checkout') end
    local mine = report.started_commit()
    assert.equal(head, mine)                                  -- HEAD when this process loaded rft
    assert.is_nil(report.provenance().started_commit)        -- no later commit: nothing to add
    local dir = tmpdir()
    run { out = dir, epochs = 1 }
    local tensors, meta = rft.safetensors.load(dir .. '/checkpoint.safetensors')
    assert.equal(head, meta.started_commit)
    -- a checkpoint whose first epoch ran on an older commit: resuming takes that one as the start
    local older = string.rep('0123456789', 4)
    meta.started_commit = older
    rft.safetensors.save(dir .. '/checkpoint.safetensors', tensors, meta)
    local ok, err = pcall(run, { out = dir, epochs = 2 })
    local pv = report.provenance()
    local _, meta2 = rft.safetensors.load(dir .. '/checkpoint.safetensors')
    report.resumed_from(mine)                                 -- the rest of this process's specs
    os.execute("rm -rf '" .. dir .. "'")
    assert.is_true(ok, err)
    assert.equal(older, pv.started_commit)
    assert.equal(head, pv.commit)
    assert.equal(older, meta2.started_commit)                 -- and keeps it for the next resume
  end)

  it('removes stale *.tmp files from the run folder at the start, and keeps the rest', function()
    local dir = tmpdir()
    assert(os.execute('mkdir -p ' .. dir) == 0)
    touch(dir .. '/checkpoint.safetensors.tmp'); touch(dir .. '/train.csv.tmp'); touch(dir .. '/notes.txt')
    run { out = dir, epochs = 1 }
    assert.is_false(exists(dir .. '/checkpoint.safetensors.tmp'))
    assert.is_false(exists(dir .. '/train.csv.tmp'))
    assert.is_true(exists(dir .. '/notes.txt'))
    assert.is_true(exists(dir .. '/checkpoint.safetensors'))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it('creates no run folder for a run that cannot start or fails before its first epoch ends', function()
    local dir = tmpdir()
    assert.error_matches(function() run { out = dir, epochs = 0 } end, 'rft.train.fit: epochs must be a whole number >= 1, got 0')
    assert.error_matches(function() run { out = dir, epochs = 1.5 } end, 'epochs must be a whole number >= 1, got 1.5')
    assert.error_matches(function() run { out = dir, batch = 0 } end, 'batch must be a whole number >= 1, got 0')
    assert.error_matches(function() run { out = dir, steps_per_epoch = -1 } end, 'steps_per_epoch must be a whole number >= 1')
    assert.error_matches(function() run { out = dir, lr = 0 / 0 } end, 'lr must be a finite number >= 0')
    assert.error_matches(function() run { out = dir, copies = 3 } end, 'copies must be an rft.aug.copies')
    assert.error_matches(function() run { out = dir, label_smoothing = 1.5 } end, 'label_smoothing must be a number in %[0, 1%], got 1.5')
    assert.error_matches(function()
      run { out = dir, step = function() error('bad step', 0) end }
    end, 'bad step')
    assert.is_false(exists(dir))
  end)

  it('refuses to resume from a checkpoint holding NaN or Inf unless asked, naming the tensor', function()
    local dir = tmpdir()
    run { out = dir, epochs = 1 }
    local ckpt = dir .. '/checkpoint.safetensors'
    local tensors, meta = rft.safetensors.load(ckpt)
    local name = '0.weight'
    -- bit patterns, never read as numbers: a NaN with a payload, +Inf, and the plain quiet NaN
    for _, bits in ipairs { 0xffd00001, 0x7f800000, 0x7fc00000 } do
      ffi.cast('uint32_t *', tensors[name]:data())[5] = bits
      rft.safetensors.save(ckpt, tensors, meta)
      assert.error_matches(function() run { out = dir } end,
        'checkpoint .*checkpoint.safetensors holds NaN or Inf %(tensor 0.weight, element 5%); not resuming from it.*allow_nonfinite')
    end
    assert.same({ name, 5 }, { rft.train.first_nonfinite(tensors) })
    -- asked to, it resumes; the NaN weight makes the loss NaN and training stops at once, writing nothing
    assert.error_matches(function() run { out = dir, allow_nonfinite = true } end,
      'training stopped: the loss is nan at epoch 2, batch 1')
    local _, after = rft.safetensors.load(ckpt)
    assert.equal('1', tostring(after.epoch))
    assert.equal(1, #csv_numbers(dir .. '/train.csv'))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it('stops a diverging run with the epoch and batch and writes neither checkpoint nor CSV for it', function()
    local dir = tmpdir()
    assert.error_matches(function() run { out = dir, epochs = 1, lr = 1e30 } end,
      'training stopped: the loss is .* at epoch 1, batch %d+')
    assert.is_false(exists(dir))
    -- weights that turn non-finite at the last step of an epoch (no loss saw them) are caught too
    assert.error_matches(function()
      run { out = dir, epochs = 1, step = function(net, x, y, ctx)
        local loss, correct = rft.train.ce_step(net, x, y, ctx)
        if ctx.batch == 4 then net.flat_grads:fill(1 / 0) end
        return loss, correct
      end }
    end, 'training stopped: the network holds NaN or Inf %(weights%) after epoch 1, batch 4')
    assert.is_false(exists(dir))
    -- a metric that is not finite stops the run as a loss would, naming it
    assert.error_matches(function()
      run { out = dir, epochs = 1, step = function(net, x, y, ctx)
        local loss, correct = rft.train.ce_step(net, x, y, ctx)
        return { loss = loss, correct = correct, relu3 = ctx.batch == 2 and 0 / 0 or 1 }
      end }
    end, 'training stopped: metric relu3 is nan at epoch 1, batch 2')
    assert.is_false(exists(dir))
  end)
end)
