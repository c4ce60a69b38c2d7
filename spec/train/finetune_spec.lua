-- Fine-tuning under a schedule (rft.experiment.finetune): each epoch distorts its batches with the
-- pipeline the schedule gives for that epoch, CA alternating Combined+ and Combined-.
local rft = require 'rft'
local experiment = require 'rft.experiment'
local aug = rft.aug

local function synthetic(n) return require('support.random_cifar')(n, 1) end

describe('fine-tuning under a schedule', function()
  it('distorts every batch of an epoch with that epoch\'s pipeline (CA: plus on odd epochs, minus on even)', function()
    local plus = aug.brightness { delta = 0.2 }:named('Combined+')
    local minus = aug.brightness { delta = -0.2 }:named('Combined-')
    local ca = aug.schedule.alternate({ plus, minus }, { every = 'epoch' })
    local used = {}
    local recording = aug.schedule.new(function(epoch, batch)
      local p = aug.schedule.at(ca, epoch, batch)
      used[epoch] = used[epoch] or {}
      used[epoch][#used[epoch] + 1] = p.label
      return p
    end)
    local presets = setmetatable({}, { __index = function() return aug.identity() end })
    local net = rft.models.fast { width = 0.125, seed = 1 }
    local d = { train = synthetic(48), test = synthetic(16) }
    experiment.finetune('FMA', net, d, recording, { epochs = 3, batch = 16, seed = 0, lr = 0.001,
      weight_decay = 0, gamma = 0.01, presets = presets, curve_images = 16 })
    assert.same({ 'Combined+', 'Combined+', 'Combined+' }, used[1])
    assert.same({ 'Combined-', 'Combined-', 'Combined-' }, used[2])
    assert.same({ 'Combined+', 'Combined+', 'Combined+' }, used[3])
  end)

  it('splits the epochs into lr, lr/100 and lr/10^4 pieces, --lr-top of them at lr', function()
    local function epochs(pieces)
      local t = {}
      for i, q in ipairs(pieces) do t[i] = { q.lr, q.epochs } end
      return t
    end
    -- the paper's 20/10/10 at 1e-2, 1e-4, 1e-6
    assert.same({ { 1e-2, 20 }, { 1e-4, 10 }, { 1e-6, 10 } }, epochs(experiment.finetune_lr(1e-2, 40)))
    -- two thirds at the top: Combined+ and Combined- four epochs each at lr of twelve
    assert.same({ { 1, 8 }, { 1e-2, 2 }, { 1e-4, 2 } }, epochs(experiment.finetune_lr(1, 12, 2 / 3)))
    assert.same({ { 1, 1 }, { 1e-2, 1 } }, epochs(experiment.finetune_lr(1, 2)))
    assert.same({ { 1, 3 } }, epochs(experiment.finetune_lr(1, 3, 1)))
    assert.same({ { 1, 1 } }, epochs(experiment.finetune_lr(1, 1, 0.01)))
  end)

  it('writes curves.csv starting at epoch 0 with the baseline on the curve images, cached beside it', function()
    local presets = {}
    for i, r in ipairs(experiment.rows) do
      if r ~= 'clean' then presets[r] = aug.brightness { delta = 0.03 * i }:named(r) end
    end
    local net = rft.models.fast { width = 0.125, seed = 2 }
    local d = { train = synthetic(16), test = synthetic(12) }
    local root = os.tmpname(); os.remove(root)
    local bdir = root .. '/baseline'
    require('rft.util').mkdir_p(bdir)
    rft.safetensors.save(bdir .. '/model.safetensors', net:state_dict(), {})
    -- what the baseline scores on the first 12 test images, before any step
    local want = experiment.evaluate_rows(net, experiment.head(d.test, 12), presets)
    local rows, curve0 = experiment.finetune('clean', net, d, experiment.ca_schedule {
        combined_plus = presets['Combined+'], combined_minus = presets['Combined-'] },
      { epochs = 2, batch = 16, seed = 0, lr = 0.05, weight_decay = 0, presets = presets, curve_images = 12,
        out = root .. '/run', baseline_dir = bdir })
    assert.same(want, curve0)
    local lines = {}
    for line in io.lines(root .. '/run/curves.csv') do lines[#lines + 1] = line end
    assert.equal('epoch,' .. table.concat(experiment.rows, ','), lines[1])
    assert.equal(4, #lines)                                  -- header, epoch 0, epochs 1 and 2
    local e0 = {}
    for v in (lines[2] .. ','):gmatch('([^,]*),') do e0[#e0 + 1] = tonumber(v) end
    assert.equal(0, e0[1])
    for i, r in ipairs(experiment.rows) do assert.near(want[r], e0[i + 1], 1e-4 * math.max(1, want[r])) end
    local e2 = {}
    for v in (lines[4] .. ','):gmatch('([^,]*),') do e2[#e2 + 1] = tonumber(v) end
    assert.equal(2, e2[1]); assert.near(rows[2].clean, e2[2], 1e-4 * math.max(1, rows[2].clean))
    -- the baseline's rows on those 12 images are cached in its folder, so the next run reads them
    local cached = io.popen('ls ' .. bdir .. '/rows_*.json'):read('*a')
    assert.is_true(#cached > 0)
    os.execute('rm -rf ' .. root)
  end)
end)
