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
  local classes = {}
  for line in f:lines() do
    line = line:gsub('%s+$', '')
    if line ~= '' then classes[#classes + 1] = line end
  end
  f:close()
  if #classes ~= 10 then
    error(string.format('cifar10: %s names %d classes, expected 10 (one a line)', path, #classes), 0)
  end
  return classes
end

--- rft.data.cifar10{dir=DIR, split='train'|'test'} --> {images=u8 [N,3,32,32], labels=i32 [N],
--- classes={'airplane', ...}, dir=DIR, split=...}. Labels are 0-based as stored.
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
  for i, name in ipairs(files) do
    images[i], labels[i] = F.call_new2(2, C.rft_cifar10_read, dir .. '/' .. name)
  end
  local d = {
    dir = dir, split = split, classes = read_classes(dir),
    images = #files == 1 and images[1] or T.cat(images),
    labels = #files == 1 and labels[1] or T.cat(labels),
  }
  d.n = #d.labels
  return d
end

return M
