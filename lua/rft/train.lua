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
local dist = require 'rft.dist'
local report = require 'rft.report'
local C, check = F.C, F.check

local M = {}

local bit = require 'bit'
local tty = F.isatty(1)

--- Seconds on a monotonic clock.
M.now = F.now
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

--- The plain classification step: cross-entropy on the batch (against targets smoothed by
--- ctx.label_smoothing, fit's label_smoothing, when it is set). Returns the loss and the number of
--- correct predictions; leaves gradients in the network.
function M.ce_step(net, x, y, ctx)
  local logits = net:forward(x)
  check(C.rft_cross_entropy_smoothed(logits, y, 0, #y, ctx.label_smoothing or 0, 1, ce_loss, ctx.dlogits), 2)
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
  local ranks = dist.size()
  -- a data-parallel run: each rank takes its share of every batch, and the counts are summed
  local part = ranks > 1 and { dist.rank(), ranks } or nil
  for x, y, ids in data.batches(d, { batch = o.batch or 500, device = net:device(), part = part }) do
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
  if ranks > 1 then
    local v = { right, total, loss_sum }
    for c = 0, nclass - 1 do v[#v + 1] = per_right[c]; v[#v + 1] = per_total[c] end
    v = dist.allreduce_numbers(v, 'sum')
    right, total, loss_sum = v[1], v[2], v[3]
    for c = 0, nclass - 1 do per_right[c], per_total[c] = v[4 + 2 * c], v[5 + 2 * c] end
  end
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

-- ---- batch sources --------------------------------------------------------------------------

-- One epoch's batches from dataset d: yields the batch number, x, y, ids and a table of extra step
-- context (groups, for copies). `steps` batches, however many passes over the data that takes (pass
-- p > 0 shuffles anew, keyed by epoch + p * 2^20).
local function epoch_batches(d, o, epoch, steps, device, part)
  local copies = o.copies
  local crop, flip = o.crop or (copies and 0 or 4), o.flip
  if flip == nil then flip = not copies end
  local b, pass, it = 0, 0, nil
  local labels, extra = nil, {}
  local function start()
    it = data.batches(d, { batch = o.batch or 128, shuffle = true, seed = o.seed or 0, epoch = epoch + pass * 1048576,
                           crop = crop, flip = flip, device = device, part = part })
  end
  start()
  return function()
    if b >= steps then return nil end
    local x, y, ids, _, m = it()
    if not x then pass = pass + 1; start(); x, y, ids, _, m = it() end
    b = b + 1
    extra.share = #y / m             -- this rank's part of the global batch (1 in one process)
    if copies then
      local xs, groups, cids = copies:apply(x, { seed = (o.seed or 0) * 7919 + epoch, ids = ids })
      labels = y:gather(groups, labels)
      extra.groups = groups
      return b, xs, labels, cids, extra
    end
    return b, x, y, ids, extra
  end
end

-- ---- checks ---------------------------------------------------------------------------------

local nonfinite_bits = 0x7f800000   -- an f32 whose exponent bits are all set is NaN or +-Inf

--- The name of the first tensor (in name order) of {name = tensor} holding a NaN or an Inf, and
--- the element's index (0-based); nil when all are finite. rft.safetensors.nonfinite answers where
--- it exists; otherwise the f32 bits are read, never the values, so a NaN with any payload is found
--- without becoming a Lua number.
function M.first_nonfinite(tensors)
  if st.nonfinite then           -- the reader's own report, where the safetensors module has one
    local name, at = st.nonfinite(tensors)
    return name, at
  end
  local names = {}
  for k, t in pairs(tensors) do if T.is_tensor(t) and t:dtype() == 'f32' then names[#names + 1] = k end end
  table.sort(names)
  for _, k in ipairs(names) do
    local t = tensors[k]
    if t:numel() > 0 then
      local h = t:device() == 'cpu' and t or t:copy('cpu')
      local p, n = ffi.cast('const uint32_t *', h:data()), h:numel()
      for i = 0, n - 1 do
        if bit.band(p[i], nonfinite_bits) == nonfinite_bits then return k, i end
      end
    end
  end
  return nil
end

local function whole(v, lo) return type(v) == 'number' and v == v and v % 1 == 0 and v >= lo and v < 2^53 end

local function check_options(o)
  local function bad(what) error('rft.train.fit: ' .. what, 3) end
  if type(o) ~= 'table' then bad('expects a table of options, got ' .. type(o)) end
  if type(o.net) ~= 'table' or type(o.net.forward) ~= 'function' then bad('net must be a network (nn.Sequential)') end
  if type(o.train) ~= 'table' or type(o.train.n) ~= 'number' or o.train.n < 1 then
    bad('train must be a dataset with at least one image (a table with n, images, labels)')
  end
  local epochs = o.epochs or M.schedule_epochs(o.lr)
  if not whole(epochs, 1) then bad('epochs must be a whole number >= 1, got ' .. tostring(epochs)) end
  if o.batch ~= nil and not whole(o.batch, 1) then bad('batch must be a whole number >= 1, got ' .. tostring(o.batch)) end
  if o.steps_per_epoch ~= nil and not whole(o.steps_per_epoch, 1) then
    bad('steps_per_epoch must be a whole number >= 1, got ' .. tostring(o.steps_per_epoch))
  end
  if o.crop ~= nil and not whole(o.crop, 0) then bad('crop must be a whole number of pixels >= 0, got ' .. tostring(o.crop)) end
  if o.flip ~= nil and type(o.flip) ~= 'boolean' then bad('flip must be true or false, got ' .. tostring(o.flip)) end
  if o.copies ~= nil and (type(o.copies) ~= 'table' or type(o.copies.apply) ~= 'function' or not o.copies.m) then
    bad('copies must be an rft.aug.copies(pipeline, M) value, got ' .. tostring(o.copies))
  end
  local lr = o.lr
  if type(lr) == 'number' and (lr ~= lr or lr < 0 or lr == math.huge) then bad('lr must be a finite number >= 0, got ' .. tostring(lr)) end
  if type(lr) ~= 'number' and type(lr) ~= 'function' and type(lr) ~= 'table' then
    bad('lr must be a number, a list of {lr=, epochs=} pieces or function(t), got ' .. type(lr))
  end
  local ls = o.label_smoothing
  if ls ~= nil and not (type(ls) == 'number' and ls >= 0 and ls <= 1) then
    bad('label_smoothing must be a number in [0, 1], got ' .. tostring(ls))
  end
  if o.overlap ~= nil and type(o.overlap) ~= 'boolean' then bad('overlap must be true or false, got ' .. tostring(o.overlap)) end
  if o.bucket_bytes ~= nil and not whole(o.bucket_bytes, 1) then
    bad('bucket_bytes must be a whole number of bytes >= 1, got ' .. tostring(o.bucket_bytes))
  end
  if o.out ~= nil and (type(o.out) ~= 'string' or o.out == '') then bad('out must be a folder name, got ' .. tostring(o.out)) end
  return epochs
end

-- ---- the run folder ---------------------------------------------------------------------------

local function exists(path) return os.rename(path, path) ~= nil end

--- Remove the `*.tmp` files (writes a killed run left unfinished) directly in folder dir; returns
--- their names. A missing folder has none.
function M.remove_stale_tmp(dir)
  local removed = {}
  if not exists(dir) then return removed end
  local q = "'" .. dir:gsub("'", "'\\''") .. "'"
  local f = io.popen('find ' .. q .. ' -maxdepth 1 -type f -name "*.tmp" 2>/dev/null')
  for path in f:lines() do
    if os.remove(path) then removed[#removed + 1] = path end
  end
  f:close()
  return removed
end

local base_columns = { 'epoch', 'lr', 'train_loss', 'train_accuracy', 'val_accuracy', 'images_per_s', 'seconds' }

-- CSV columns: the loop's own, then o.columns, then any other key of the rows in name order.
local function columns(rows, extra)
  local cols, seen = {}, {}
  local function add(c) if not seen[c] then seen[c] = true; cols[#cols + 1] = c end end
  for _, c in ipairs(base_columns) do add(c) end
  for _, c in ipairs(extra or {}) do add(c) end
  local rest = {}
  for _, r in ipairs(rows) do for k in pairs(r) do if not seen[k] then seen[k] = true; rest[#rest + 1] = k end end end
  table.sort(rest)
  for _, c in ipairs(rest) do cols[#cols + 1] = c end
  return cols
end

-- A test hook standing for `kill -9` at a chosen moment: RFT_TRAIN_KILL_AT='epoch,batch' makes the
-- process kill itself with SIGKILL just before that batch's step (nothing flushed, nothing cleaned).
local kill_at = os.getenv('RFT_TRAIN_KILL_AT')
local kill_epoch, kill_batch = (kill_at or ''):match('^(%d+),(%d+)$')
kill_epoch, kill_batch = tonumber(kill_epoch), tonumber(kill_batch)

--- Train a network. o:
---   net, train (dataset), val (dataset, optional: val_accuracy each epoch), epochs, lr (schedule, see
---   lr_at), momentum (0.9), nesterov, weight_decay (5e-4), seed (0), label_smoothing (0: the
---   default step's cross-entropy against (1 - e) onehot + e/K);
---   the batch source: batch (128) shuffled images (crop 4, flip true by default), or with
---   copies = rft.aug.copies(pipeline, M), batch seed images each turned into M distorted copies
---   (batches of batch*M rows; crop 0, flip false by default; the step's ctx.groups holds each row's
---   seed image, y each copy's label); steps_per_epoch (default: one pass over the images);
---   step (function(net, x, y, ctx) -> either loss, correct or a table of metrics {loss=, correct=,
---   name=value...}; default ce_step; ctx holds epoch, batch, ids, opt and, for copies, groups):
---   metrics are averaged over the epoch's rows into its CSV row, loss as train_loss, correct as
---   train_accuracy (%), others under their own names;
---   out (folder for train.csv and checkpoint.safetensors, created at the first write), resume (true;
---   only from a checkpoint written with the same o.key, a string naming the configuration; one holding
---   NaN or Inf is refused unless allow_nonfinite), columns (CSV columns to put first after the loop's
---   own), mode (function(net) putting the net in its training mode; default net:train()),
---   on_epoch(epoch, row) (may add columns to row before it is logged), name (prefix of progress lines);
---   under mpirun, overlap (default rft.dist.overlap: the gradient all-reduce in buckets during the
---   backward pass; false: one blocking call after it) and bucket_bytes (rft.dist.bucket_bytes).
--- The checkpoint is written before the CSV row that refers to it; at the start stale *.tmp files
--- in out are removed and train.csv is cut back to the checkpoint's epochs. A loss or metric that is
--- not finite, or weights that are not, stop the run with an error naming the epoch and batch.
--- Returns the rows of the per-epoch log and the seconds this call spent.
function M.fit(o)
  local epochs = check_options(o)
  local net, d = o.net, o.train
  local bs = o.batch or 128
  local rows_per_batch = bs * (o.copies and o.copies.m or 1)
  local steps = o.steps_per_epoch or math.ceil(d.n / rows_per_batch)
  local params, grads = net:flatten()
  local opt = optim.sgd { params = params, grads = grads, lr = 0, momentum = o.momentum or 0.9,
                          nesterov = o.nesterov, weight_decay = o.weight_decay or 5e-4 }
  local step = o.step or M.ce_step
  local ctx = { dlogits = T.new { shape = { 0 }, device = net:device() }, opt = opt,
                label_smoothing = o.label_smoothing }
  local ckpt = o.out and (o.out .. '/checkpoint.safetensors')
  local csv = o.out and (o.out .. '/train.csv')
  local label = o.name and (o.name .. ' ') or ''

  local rows, start = {}, 1
  local resumable = ckpt and o.resume ~= false and exists(ckpt)
  local tensors, meta
  if resumable then
    tensors, meta = st.load(ckpt)
    if (meta.key or '') ~= (o.key or '') then
      print(string.format('not resuming from %s: it was written by another configuration', ckpt))
      resumable = false
    end
  end
  if resumable then
    local bad, at = M.first_nonfinite(tensors)
    if bad and not o.allow_nonfinite then
      error(string.format('rft.train.fit: checkpoint %s holds NaN or Inf (tensor %s, element %d); not resuming '
        .. 'from it. Remove it to train afresh, or allow it explicitly (allow_nonfinite = true, a recipe\'s '
        .. '--allow-nonfinite)', ckpt, bad, at), 2)
    elseif bad then
      print(string.format('resuming from %s although it holds NaN or Inf (tensor %s), as asked', ckpt, bad))
    end
    local mstate, ostate = {}, {}
    for k, v in pairs(tensors) do
      if k:match('^optim%.') then ostate[k] = v else mstate[k] = v end
    end
    net:load_state_dict(mstate, bad and { nonfinite = 'allow' } or nil)
    opt:load_state(ostate)
    start = tonumber(meta.epoch) + 1
    report.resumed_from(meta.started_commit)
    local ok, decoded = pcall(require('cjson').decode, meta.rows or '[]')
    rows = ok and decoded or {}
    print(string.format('resuming from %s: epoch %d of %d done', ckpt, start - 1, epochs))
  end
  if o.out then
    dist.on_root(function()
      for _, path in ipairs(M.remove_stale_tmp(o.out)) do print('removed ' .. path .. ', left by an unfinished write') end
      -- the CSV says no more than the checkpoint: rows of epochs it does not hold go
      if #rows > 0 then M.write_csv(csv, rows, columns(rows, o.columns)) else os.remove(csv) end
    end)
  end
  -- Data-parallel (mpirun): every rank takes its share of each global batch, the gradients are
  -- averaged before each step (rft.dist.gradient_sync: in buckets started as the backward pass
  -- finishes their layers, unless overlap = false), and rank 0's parameters are everyone's from the
  -- start. One process never touches any of it.
  local ranks = dist.size()
  local part = ranks > 1 and { dist.rank(), ranks } or nil
  local sync = ranks > 1 and dist.gradient_sync(net, { overlap = o.overlap, bucket_bytes = o.bucket_bytes }) or nil
  if ranks > 1 then
    if bs < ranks then
      error(string.format('rft.train.fit: batch %d cannot be split over %d ranks', bs, ranks), 2)
    end
    dist.broadcast(params, 0)
    if o.sync_bn or M.sync_bn then
      for _, m in ipairs(net.modules) do if m.__typename == 'nn.BatchNorm2d' then m.sync = true end end
    end
  end

  local t_run, t_line = now(), now()
  for epoch = start, epochs do
    if o.mode then o.mode(net) else net:train() end
    local t0, seen, loss_sum, right, sums, order = now(), 0, 0, 0, {}, {}
    for b, x, y, ids, extra in epoch_batches(d, o, epoch, steps, net:device(), part) do
      if epoch == kill_epoch and b == kill_batch then F.kill_self() end
      ctx.epoch, ctx.batch, ctx.ids, ctx.groups = epoch, b, ids, extra.groups
      opt.lr = M.lr_at(o.lr, epoch - 1 + (b - 1) / steps)
      net:zero_grad()
      -- each rank's loss is the mean over its rows: its gradients are weighted by its share of the
      -- global batch (times the number of ranks) and averaged, in buckets as the backward pass goes
      if sync then sync:begin(extra.share * ranks) end
      local loss, correct = step(net, x, y, ctx)
      if sync then sync:finish() end
      local metrics = type(loss) == 'table' and loss or nil
      if metrics then loss, correct = metrics.loss, metrics.correct end
      if type(loss) ~= 'number' then
        error(string.format('rft.train.fit: the step returned %s for the loss at epoch %d, batch %d; expected '
          .. 'loss, correct or a table {loss=, correct=, ...}', type(loss), epoch, b), 0)
      end
      if loss ~= loss or loss == math.huge or loss == -math.huge then
        error(string.format('training stopped: the loss is %s at epoch %d, batch %d (lr %g); lower the '
          .. 'learning rate or check the data', tostring(loss), epoch, b, opt.lr), 0)
      end
      opt:step()
      local n = #y
      seen, loss_sum, right = seen + n, loss_sum + loss * n, right + (correct or 0)
      for k, v in pairs(metrics or {}) do
        if k ~= 'loss' and k ~= 'correct' then
          if type(v) ~= 'number' or v ~= v or v == math.huge or v == -math.huge then
            error(string.format('training stopped: metric %s is %s at epoch %d, batch %d (lr %g)', k, tostring(v),
              epoch, b, opt.lr), 0)
          end
          if not sums[k] then sums[k] = 0; order[#order + 1] = k end
          sums[k] = sums[k] + v * n
        end
      end
      local t = now()
      if tty or t - t_line >= 30 then      -- in a log, a plain line every half minute
        t_line = t
        local el = t - t0
        local left = (steps - b) * el / b + (epochs - epoch) * el * steps / b
        local line = string.format('%sepoch %d/%d  batch %d/%d  %.0f img/s  loss %.4f  acc %.2f%%  lr %.3g  ETA %s',
          label, epoch, epochs, b, steps, seen * ranks / el, loss_sum / seen, 100 * right / seen, opt.lr, hms(left))
        if tty then progress(line) else io.stdout:write(line, '\n'); io.stdout:flush() end
      end
    end
    local bad = M.first_nonfinite { weights = params }
    if not bad then bad = M.first_nonfinite(net:state_dict()) end
    if bad then
      error(string.format('training stopped: the network holds NaN or Inf (%s) after epoch %d, batch %d (lr %g); '
        .. 'lower the learning rate or check the data', bad, epoch, steps, opt.lr), 0)
    end
    if ranks > 1 then                 -- the epoch's sums over every rank (rank 0's progress line was its own)
      local v = { seen, loss_sum, right }
      for _, k in ipairs(order) do v[#v + 1] = sums[k] end
      v = dist.allreduce_numbers(v, 'sum')
      seen, loss_sum, right = v[1], v[2], v[3]
      for i, k in ipairs(order) do sums[k] = v[3 + i] end
    end
    local secs = now() - t0
    local row = { epoch = epoch, lr = opt.lr, train_loss = loss_sum / seen, train_accuracy = 100 * right / seen,
                  images_per_s = seen / secs, seconds = secs }
    for _, k in ipairs(order) do row[k] = sums[k] / seen end
    if o.val then row.val_accuracy = M.evaluate(net, o.val) end
    if o.on_epoch then o.on_epoch(epoch, row) end
    progress(string.format('%sepoch %d/%d  %.0f img/s  loss %.4f  train %.2f%%%s  %s', label, epoch, epochs,
      row.images_per_s, row.train_loss, row.train_accuracy,
      row.val_accuracy and string.format('  val %.2f%%', row.val_accuracy) or '', hms(secs)), true)
    t_line = now()
    rows[#rows + 1] = row
    if o.out then
      util.mkdir_p(o.out)
      local tensors = net:state_dict()
      for k, v in pairs(opt:state()) do tensors[k] = v end
      -- checkpoint first: a kill between the two writes leaves the CSV behind it, never ahead
      st.save(ckpt, tensors, { epoch = epoch, rows = rows, model = net.name or '', key = o.key or '',
                               started_commit = report.started_commit() or '' })
      M.write_csv(csv, rows, columns(rows, o.columns))
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
