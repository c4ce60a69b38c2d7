-- rft.data: datasets. CIFAR-10 in the official binary layout (cifar-10-batches-bin/): the engine
-- reads and checks each batch file; this module picks the files of a split, reads the class names
-- and finds the data folder.
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local C = F.C

local M = {}

M.cifar10_help = 'get the official archive cifar-10-binary.tar.gz from the CIFAR-10 page '
  .. '(https://www.cs.toronto.edu/~kriz/cifar.html) and unpack it: it gives cifar-10-batches-bin/'

local function isdir(p)
  local f = io.open(p .. '/batches.meta.txt', 'rb')
  if f then f:close() return true end
  return false
end

--- The CIFAR-10 folder: `dir` if given, else $RFT_DATA, else data/cifar-10-batches-bin. The error
--- says where it looked and how to get the data.
function M.find_cifar10(dir)
  local tried = {}
  for _, cand in ipairs { dir or false, os.getenv('RFT_DATA') or false, 'data/cifar-10-batches-bin' } do
    if cand and cand ~= '' then
      if isdir(cand) then return cand end
      tried[#tried + 1] = cand
    end
    if dir then break end        -- an explicit folder is the only one to try
  end
  error('CIFAR-10 not found: looked in ' .. table.concat(tried, ', ') .. ' (from --data, $RFT_DATA, '
    .. 'then the default) for batches.meta.txt; ' .. M.cifar10_help, 0)
end

local function read_classes(dir)
  local path = dir .. '/batches.meta.txt'
  local f, err = io.open(path, 'r')
  if not f then error('cifar10: cannot open ' .. err, 0) end
  local text, rerr = f:read('*a')
  f:close()
  if not text then error('cifar10: cannot read ' .. path .. ': ' .. tostring(rerr) .. ' (expected a text file)', 0) end
  local classes = {}
  for line in text:gmatch('[^\n]+') do
    line = line:gsub('%s+$', '')
    if line ~= '' then classes[#classes + 1] = line end
  end
  if #classes ~= 10 then
    error(string.format('cifar10: %s names %d classes, expected 10 (one a line)', path, #classes), 0)
  end
  return classes
end

--- rft.data.cifar10{dir=DIR, split='train'|'test'} --> {images=u8 [N,3,32,32], labels=i32 [N],
--- classes={'airplane', ...}, dir=DIR, split=...}. Labels are 0-based as stored. Each batch file of
--- the official layout holds exactly 10,000 records; records=false accepts any count (small
--- hand-made folders).
function M.cifar10(opts)
  opts = opts or {}
  local split = opts.split or 'train'
  local files
  if split == 'train' then
    files = { 'data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin' }
  elseif split == 'test' then
    files = { 'test_batch.bin' }
  else
    error("rft.data.cifar10: split must be 'train' or 'test', got '" .. tostring(split) .. "'", 2)
  end
  local dir = M.find_cifar10(opts.dir)
  local images, labels = {}, {}
  local want = opts.records == nil and 10000 or opts.records
  for i, name in ipairs(files) do
    images[i], labels[i] = F.call_new2(2, C.rft_cifar10_read, dir .. '/' .. name)
    if want and #labels[i] ~= want then
      error(string.format('cifar10: %s/%s has %d records, a CIFAR-10 batch file holds exactly %d (a foreign or '
        .. 'damaged file?)', dir, name, #labels[i], want), 2)
    end
  end
  local d = {
    dir = dir, split = split, classes = read_classes(dir),
    images = #files == 1 and images[1] or T.cat(images),
    labels = #files == 1 and labels[1] or T.cat(labels),
  }
  d.n = #d.labels
  return d
end

--- A seeded split of a dataset's rows: returns (first, second) as i32 index tensors with
--- #second = n_second. CIFAR-10's 45,000 / 5,000 train / validation split is
--- rft.data.split(train, 5000) with the default seed 0.
function M.split(d, n_second, seed)
  local n = d.n
  if n_second < 0 or n_second > n then
    error(string.format('rft.data.split: cannot hold out %d of %d images', n_second, n), 2)
  end
  local perm = T.new { shape = { n }, dtype = 'i32', device = 'cpu' }
  F.check(C.rft_rand_permutation(perm, seed or 0, 0x5EED), 2)
  return perm:view(0, n - n_second):copy(), perm:view(n - n_second, n):copy()
end

--- The rows idx (i32 [M]) of a dataset as a new dataset; `ids` keeps each image's index in the
--- original files, which keys every random augmentation of it.
function M.subset(d, idx)
  local function gather(t)
    local out = T.new { shape = { 0 }, dtype = t:dtype(), device = 'cpu' }
    F.check(C.rft_tensor_gather(t, idx, out), 3)
    return out
  end
  local ids = d.ids and gather(d.ids) or idx:copy()
  return { images = gather(d.images), labels = gather(d.labels), ids = ids, classes = d.classes,
           n = #idx, dir = d.dir, split = d.split }
end

--- The whole dataset with its own ids (0..n-1) when it has none yet.
local function with_ids(d)
  if not d.ids then
    local ids = T.new { shape = { d.n }, dtype = 'i32', device = 'cpu' }
    local p = ids:data()
    for i = 0, d.n - 1 do p[i] = i end
    d.ids = ids
  end
  return d
end
M.with_ids = with_ids

--- Iterates over mini-batches: for x, y, ids, b in rft.data.batches(d, {batch=128, shuffle=true,
--- seed=0, epoch=1, crop=4, flip=true}) do ... end. x: f32 [B,3,32,32] in [0,1] (random crop with
--- `crop` pixels of zero padding and horizontal flips when asked, keyed by (seed+epoch, image id));
--- y: i32 [B]; ids: i32 [B] dataset indices; b: the batch number from 1. The last batch may be
--- smaller unless drop_last. x, y and ids are on o.device (default: rft.device()): the rows are
--- gathered on the CPU as bytes, copied over, and converted (and cropped, flipped) there.
--- Buffers are reused from batch to batch: copy what must outlive one.
--- part = {r, N} yields rank r's share of every batch of the N ranks of a data-parallel run (rows
--- [r*m/N, (r+1)*m/N) of each batch of m), and the whole batch's m as a fifth value.
function M.batches(d, o)
  o = o or {}
  with_ids(d)
  local bs, n = o.batch or 128, d.n
  local order
  if o.shuffle then
    order = T.new { shape = { n }, dtype = 'i32', device = 'cpu' }
    F.check(C.rft_rand_permutation(order, o.seed or 0, o.epoch or 0), 2)
  else
    order = d.order_cache or with_ids { n = n }.ids
    d.order_cache = order
  end
  local device = o.device or T.default_device()
  local function buf(dtype, dev) return T.new { shape = { 0 }, dtype = dtype, device = dev } end
  local xu8, y, ids = buf('u8', 'cpu'), buf('i32', 'cpu'), buf('i32', 'cpu')
  local x = buf('f32', device)
  local on_device = device ~= 'cpu'
  local xu8_d, y_d, ids_d = xu8, y, ids
  if on_device then xu8_d, y_d, ids_d = buf('u8', device), buf('i32', device), buf('i32', device) end
  local augment = (o.crop or 0) > 0 or o.flip
  local aug_seed = (o.seed or 0) * 1000003 + (o.epoch or 0)
  local last = o.drop_last and n - n % bs or n
  local i, b = 0, 0
  local rank, ranks = 0, 1
  if o.part then rank, ranks = o.part[1], o.part[2] end
  return function()
    if i >= last then return nil end
    local j = math.min(i + bs, last)
    -- this rank's share of the batch: rows [i + r*m/N, i + (r+1)*m/N) of its m
    local rows = order:view(i + math.floor(rank * (j - i) / ranks), i + math.floor((rank + 1) * (j - i) / ranks))
    F.check(C.rft_tensor_gather(d.images, rows, xu8), 2)
    F.check(C.rft_tensor_gather(d.labels, rows, y), 2)
    F.check(C.rft_tensor_gather(d.ids, rows, ids), 2)
    if on_device then
      xu8_d:resize(xu8:shape()):copy_from(xu8)
      y_d:resize(y:shape()):copy_from(y)
      ids_d:resize(ids:shape()):copy_from(ids)
    end
    if augment then
      F.check(C.rft_crop_flip(o.crop or 0, o.flip and 1 or 0, aug_seed, xu8_d, ids_d, x), 2)
    else
      F.check(C.rft_tensor_u8_to_f32(xu8_d, 1 / 255, x), 2)
    end
    local m = j - i
    i, b = j, b + 1
    return x, y_d, ids_d, b, m
  end
end

for k, v in pairs(require 'rft.data_c') do M[k] = v end   -- CIFAR-10-C (.npy): rft.data.cifar10c

return M
