-- rft.train: the training loop (epochs, learning-rate schedule, progress, per-epoch CSV, checkpoints
-- and resume) and evaluation over whole datasets. The loss of a step is a function, so the
-- robustness methods plug in their own while the loop stays the same.
local ffi = require 'ffi'
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local data = require 'rft.data'
local optim = require 'rft.optim'
local st = require 'rft.safetensors'
local util = require 'rft.util'
local C, check = F.C, F.check

local M = {}

pcall(ffi.cdef, 'int isatty(int fd); int clock_gettime(int clk, void *ts);')
local tty = ffi.C.isatty(1) == 1
local timespec = ffi.new('struct { long s, ns; }')

--- Seconds on a monotonic clock.
function M.now()
  ffi.C.clock_gettime(1, timespec)     -- CLOCK_MONOTONIC
  return tonumber(timespec.s) + tonumber(timespec.ns) * 1e-9
end
local now = M.now

local function hms(s)
  s = math.max(0, math.floor(s + 0.5))
  return string.format('%d:%02d:%02d', math.floor(s / 3600), math.floor(s / 60) % 60, s % 60)
end
M.hms = hms

--- The learning rate at fractional epoch t (0 at the start): a number, a list of {lr=, epochs=}
--- pieces ({{lr=1e-2, epochs=20}, {lr=1e-4, epochs=10}, {lr=1e-6, epochs=10}}), or function(t).
function M.lr_at(schedule, t)
  if type(schedule) == 'number' then return schedule end
  if type(schedule) == 'function' then return schedule(t) end
  local e = 0
  for _, piece in ipairs(schedule) do
    e = e + piece.epochs
    if t < e then return piece.lr end
  end
  return schedule[#schedule].lr
end

function M.schedule_epochs(schedule)
  if type(schedule) ~= 'table' then return nil end
  local e = 0
  for _, piece in ipairs(schedule) do e = e + piece.epochs end
  return e
end

--- Linear warm-up to `peak` over `warm` of the run, then linear decay to 0 (a one-cycle shape).
function M.one_cycle(peak, epochs, warm)
  warm = warm or 0.2
  return function(t)
    local f = t / epochs
    if f < warm then return peak * f / warm end
    return peak * math.max(0, (1 - f) / (1 - warm))
  end
end

local ce_loss = ffi.new('double[1]')
-- a training step needs no gradient for its input batch: backward skips that pass
local no_input_grad = { input_grad = false }

--- The plain classification step: cross-entropy on the batch. Returns the loss and the number of
--- correct predictions; leaves gradients in the network.
function M.ce_step(net, x, y, ctx)
  local logits = net:forward(x)
  check(C.rft_cross_entropy(logits, y, 0, #y, 1, ce_loss, ctx.dlogits), 2)
  net:backward(x, ctx.dlogits, nil, no_input_grad)
  return ce_loss[0], M.correct(logits, y)
end

local correct_buf = ffi.new('int64_t[1]')
function M.correct(logits, y, k)
  check(C.rft_topk_correct(logits, y, k or 1, correct_buf), 2)
  return tonumber(correct_buf[0])
end

--- Accuracy (%) of net over a dataset: returns accuracy, per-class accuracies {[0..9]}, mean loss.
--- o.transform(x, ids) may replace each batch (e.g. a distortion) before the forward pass.
function M.evaluate(net, d, o)
  o = o or {}
  local was_training = net.training
  net:evaluate()
  local right, total, loss_sum = 0, 0, 0
  local per_right, per_total = {}, {}
  local nclass = #d.classes
  for c = 0, nclass - 1 do per_right[c], per_total[c] = 0, 0 end
  local pred = T.new { shape = { 0 }, dtype = 'i32', device = net:device() }
  local pred_h, y_h
  for x, y, ids in data.batches(d, { batch = o.batch or 500, device = net:device() }) do
    if o.transform then x = o.transform(x, ids) end
    local logits = net:forward(x)
    check(C.rft_cross_entropy(logits, y, 0, #y, 1, ce_loss, nil), 2)
    loss_sum = loss_sum + ce_loss[0] * #y
    check(C.rft_argmax_rows(logits, pred), 2)
    pred_h, y_h = pred:host(pred_h), y:host(y_h)
    local p, l = pred_h:data(), y_h:data()
    for i = 0, #y - 1 do
      local c = l[i]
      per_total[c] = per_total[c] + 1
      if p[i] == c then per_right[c] = per_right[c] + 1; right = right + 1 end
    end
    total = total + #y
  end
  if was_training then net:train() end
  local per = {}
  for c = 0, nclass - 1 do per[c] = per_total[c] > 0 and 100 * per_right[c] / per_total[c] or 0 end
  return 100 * right / total, per, loss_sum / total
end

--- A progress line: rewritten in place on a terminal; in a log, only final lines are written.
function M.progress(line, final)
  if tty then
    io.stdout:write('\r\27[K', line, final and '\n' or '')
  elseif final then
    io.stdout:write(line, '\n')
  end
  io.stdout:flush()
end
local progress = M.progress

--- Train a network. o: net, train (dataset), val (dataset, optional), epochs, batch (128),
--- lr (schedule, see lr_at), momentum (0.9), nesterov, weight_decay (5e-4), seed (0), crop (4),
--- flip (true), out (folder for train.csv and checkpoint.safetensors), resume (true; only from a
--- checkpoint written with the same o.key, a string naming the configuration), columns (extra
--- CSV columns that on_epoch fills),
--- step (function(net, x, y, ctx) -> loss, correct; default ce_step; ctx holds epoch, batch and the
--- batch's dataset ids), mode (function(net) putting the net in its training mode; default
--- net:train()), on_epoch(epoch, row) (may add columns to row before it is logged).
--- Returns the rows of the per-epoch log and the seconds this call spent.
function M.fit(o)
  local net, d = o.net, o.train
  local epochs = o.epochs or M.schedule_epochs(o.lr) or error('rft.train.fit: epochs is required', 2)
  local bs = o.batch or 128
  local params, grads = net:flatten()
  local opt = optim.sgd { params = params, grads = grads, lr = 0, momentum = o.momentum or 0.9,
                          nesterov = o.nesterov, weight_decay = o.weight_decay or 5e-4 }
  local step = o.step or M.ce_step
  local ctx = { dlogits = T.new { shape = { 0 }, device = net:device() }, opt = opt }
  local ckpt = o.out and (o.out .. '/checkpoint.safetensors')
  local csv = o.out and (o.out .. '/train.csv')
  if o.out then util.mkdir_p(o.out) end

  local rows, start = {}, 1
  local resumable = ckpt and o.resume ~= false and io.open(ckpt, 'rb')
  local tensors, meta
  if resumable then
    tensors, meta = st.load(ckpt)
    if (meta.key or '') ~= (o.key or '') then
      print(string.format('not resuming from %s: it was written by another configuration', ckpt))
      resumable = false
    end
  end
  if resumable then
    local mstate, ostate = {}, {}
    for k, v in pairs(tensors) do
      if k:match('^optim%.') then ostate[k] = v else mstate[k] = v end
    end
    net:load_state_dict(mstate)
    opt:load_state(ostate)
    start = tonumber(meta.epoch) + 1
    local ok, decoded = pcall(require('cjson').decode, meta.rows or '[]')
    rows = ok and decoded or {}
    print(string.format('resuming from %s: epoch %d of %d done', ckpt, start - 1, epochs))
  end

  local batches_per_epoch = math.ceil(d.n / bs)
  local t_run = now()
  for epoch = start, epochs do
    if o.mode then o.mode(net) else net:train() end
    local t0, seen, loss_sum, right = now(), 0, 0, 0
    for x, y, ids, b in data.batches(d, { batch = bs, shuffle = true, seed = o.seed or 0, epoch = epoch,
                                           crop = o.crop or 4, flip = o.flip ~= false, device = net:device() }) do
      ctx.epoch, ctx.batch, ctx.ids = epoch, b, ids
      opt.lr = M.lr_at(o.lr, epoch - 1 + (b - 1) / batches_per_epoch)
      net:zero_grad()
      local loss, correct = step(net, x, y, ctx)
      if loss ~= loss or loss == math.huge or loss == -math.huge then
        error(string.format('training stopped: the loss is %s at epoch %d, batch %d (lr %g); lower the '
          .. 'learning rate or check the data', tostring(loss), epoch, b, opt.lr), 0)
      end
      opt:step()
      seen, loss_sum, right = seen + #y, loss_sum + loss * #y, right + (correct or 0)
      if tty or b == batches_per_epoch then
        local el = now() - t0
        local left = (batches_per_epoch - b) * el / b + (epochs - epoch) * el * batches_per_epoch / b
        progress(string.format('epoch %d/%d  batch %d/%d  %.0f img/s  loss %.4f  acc %.2f%%  lr %.3g  ETA %s',
          epoch, epochs, b, batches_per_epoch, seen / el, loss_sum / seen, 100 * right / seen, opt.lr, hms(left)))
      end
    end
    local secs = now() - t0
    local row = { epoch = epoch, lr = opt.lr, train_loss = loss_sum / seen, train_accuracy = 100 * right / seen,
                  images_per_s = seen / secs, seconds = secs }
    if o.val then row.val_accuracy = M.evaluate(net, o.val) end
    if o.on_epoch then o.on_epoch(epoch, row) end
    progress(string.format('epoch %d/%d  %.0f img/s  loss %.4f  train %.2f%%%s  %s', epoch, epochs,
      row.images_per_s, row.train_loss, row.train_accuracy,
      row.val_accuracy and string.format('  val %.2f%%', row.val_accuracy) or '', hms(secs)), true)
    rows[#rows + 1] = row
    if o.out then
      local cols = { 'epoch', 'lr', 'train_loss', 'train_accuracy', 'val_accuracy', 'images_per_s', 'seconds' }
      for _, c in ipairs(o.columns or {}) do cols[#cols + 1] = c end
      M.write_csv(csv, rows, cols)
      local tensors = net:state_dict()
      for k, v in pairs(opt:state()) do tensors[k] = v end
      st.save(ckpt, tensors, { epoch = epoch, rows = rows, model = net.name or '', key = o.key or '' })
    end
  end
  return rows, now() - t_run
end

--- Write rows (a list of tables) as CSV with the given columns, atomically.
function M.write_csv(path, rows, cols)
  local lines = { table.concat(cols, ',') }
  for _, r in ipairs(rows) do
    local v = {}
    for i, c in ipairs(cols) do
      local x = r[c]
      v[i] = type(x) == 'number' and string.format('%.6g', x) or tostring(x == nil and '' or x)
    end
    lines[#lines + 1] = table.concat(v, ',')
  end
  util.write_atomic(path, table.concat(lines, '\n') .. '\n')
end

return M
