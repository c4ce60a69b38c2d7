-- rft.experiment.finetune: fine-tuning a baseline with a method (rft.methods) under a schedule (an
-- rft.aug schedule: which pipeline distorts each epoch's batches), batch norm frozen, with the ten
-- rows evaluated on a test subset after every epoch for the curves (paper Figure 4), which start at
-- epoch 0 with the baseline on the same images (curves.csv).
local rft = require 'rft'
local aug = require 'rft.aug'
local methods = require 'rft.methods'
local protocol = require 'rft.experiment.protocol'
local baseline = require 'rft.experiment.baseline'
local util = require 'rft.util'

local M = {}

--- The learning-rate pieces of a fine-tuning of e epochs at lr: the fraction `top` of the epochs
--- (default 1/2) at lr, then the rest in halves at lr/100 and lr/10^4 (top = 1/2 is the paper's
--- 20/10/10 epochs at 1e-2, 1e-4, 1e-6).
function M.lr(lr, e, top)
  local a = math.max(1, math.min(e, math.floor(e * (top or 0.5) + 0.5)))
  local b = math.max(0, math.floor((e - a) / 2 + 0.5))
  local pieces = { { lr = lr, epochs = a } }
  if b > 0 then pieces[#pieces + 1] = { lr = lr / 100, epochs = b } end
  if e - a - b > 0 then pieces[#pieces + 1] = { lr = lr / 1e4, epochs = e - a - b } end
  return pieces
end


--- The folder of the baseline a run of options o starts from, when it holds one: o.baseline_dir, or
--- the folder rft.experiment.baseline.get would use for o.baseline; nil otherwise.
function M.baseline_dir(o)
  local dir = o.baseline_dir or (type(o.baseline) == 'table' and (o.baseline.baseline_dir or baseline.dir(o.baseline)))
  local f = dir and io.open(dir .. '/model.safetensors', 'rb')
  if not f then return nil end
  f:close()
  return dir
end

--- The curves of Figure 4 as CSV: epoch 0 (curve0, the baseline's rows) then one line per epoch of
--- rows (fit's), columns epoch and the ten rows.
function M.write_curves(path, curve0, rows)
  local lines = { setmetatable({ epoch = 0 }, { __index = curve0 }) }
  for _, r in ipairs(rows) do lines[#lines + 1] = r end
  local cols = { 'epoch' }
  for _, r in ipairs(protocol.rows) do cols[#cols + 1] = r end
  rft.train.write_csv(path, lines, cols)
end

--- Fine-tune net with `method` (a value or name in rft.methods) under `schedule`. o: epochs,
--- lr_schedule or lr (pieces as M.lr gives, or any rft.train schedule), batch, seed, weight_decay,
--- train_images, curve_images, presets
--- (the ten rows' pipelines for the curves), out (train.csv, curves.csv and checkpoint), method_options
--- (the method's options; default: its flags' defaults), baseline_dir or baseline (where epoch 0 is
--- cached, M.baseline_dir). net must be the baseline when called. Per-epoch accuracy on every row of
--- the first curve_images test images goes to the rows (and train.csv); before the first step the
--- baseline is evaluated on the same images (epoch 0: rft.experiment.baseline.rows, cached beside the
--- baseline), and curves.csv holds epoch 0 then every epoch. Returns the rows and epoch 0's rows.
function M.run(method, net, d, schedule, o)
  local m = methods.get(method)
  local mo = o.method_options or methods.options(m, o)
  local curve = protocol.head(d.test, o.curve_images)
  local bdir = M.baseline_dir(o)
  local curve0
  if bdir then curve0 = baseline.rows(net, curve, o.presets, bdir)
  else curve0 = protocol.evaluate_rows(net, curve, o.presets, 'epoch 0 curve') end
  local lr = o.lr_schedule or o.lr
  local key = util.canonical { method = m.name, options = mo, schedule = tostring(schedule), epochs = o.epochs,
    lr = lr, batch = o.batch, seed = o.seed, train_images = o.train_images, weight_decay = o.weight_decay }
  local rows = rft.train.fit {
    key = key, net = net, train = protocol.head(d.train, o.train_images), epochs = o.epochs, batch = o.batch,
    seed = o.seed + 1, lr = lr, momentum = 0.9, weight_decay = o.weight_decay, out = o.out,
    columns = protocol.rows, mode = rft.robust.freeze_bn,
    step = function(n, x, y, ctx)
      local xt
      if m.distorted then
        xt = aug.schedule.at(schedule, ctx.epoch, ctx.batch):apply(x, { seed = o.seed * 7919 + ctx.epoch, ids = ctx.ids })
      end
      return rft.robust.step(m, n, x, xt, y, mo)
    end,
    on_epoch = function(epoch, row)
      local acc = protocol.evaluate_rows(net, curve, o.presets, string.format('epoch %d curve', epoch))
      for r, a in pairs(acc) do row[r] = a end
    end,
  }
  if o.out then M.write_curves(o.out .. '/curves.csv', curve0, rows) end
  return rows, curve0
end

return M
