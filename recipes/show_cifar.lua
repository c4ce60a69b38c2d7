-- show_cifar: a first look at CIFAR-10. Writes a PNG grid with ten images of each class, one class
-- a row, and prints the class names in row order.
--   rftlua recipes/show_cifar.lua [--data DIR] [--split test] [--per-class 10] [--out PATH]
local rft = require 'rft'
local util = require 'rft.util'

local args = require('rft.cli').parser('show_cifar', 'Write a grid of CIFAR-10 images, one class a row.')
args:string('--data', 'CIFAR-10 folder (default: $RFT_DATA, then data/cifar-10-batches-bin)')
args:choice('--split', 'which split', 'test', { 'train', 'test' })
args:integer('--per-class', 'images of each class', 10, { min = 1, max = 1000 })
args:integer('--scale', 'pixel upscaling', 2, { min = 1, max = 16 })
args:string('--out', 'PNG to write', 'runs/show_cifar/cifar10.png')
local opt = args:parse(arg)

local d = rft.data.cifar10 { dir = opt.data, split = opt.split }
print(string.format('CIFAR-10 %s: %s images from %s', opt.split, d.n, d.dir))

-- The first `per_class` images of each class, in class order.
local labels = d.labels:data()
local rows, count = {}, {}
for c = 0, 9 do rows[c], count[c] = {}, 0 end
for i = 0, d.n - 1 do
  local c = labels[i]
  if count[c] < opt.per_class then
    count[c] = count[c] + 1
    rows[c][count[c]] = d.images:view(i, i + 1)
  end
end
local picked = {}
for c = 0, 9 do
  if count[c] < opt.per_class then
    error(string.format('class %d (%s) has only %d images in the %s split', c, d.classes[c + 1], count[c], opt.split))
  end
  for _, img in ipairs(rows[c]) do picked[#picked + 1] = img end
end

util.mkdir_p(util.dirname(opt.out))
rft.image.save_grid(rft.cat(picked), opt.out, { cols = opt.per_class, scale = opt.scale, margin = 2 })
for c = 0, 9 do print(string.format('row %2d: %s', c + 1, d.classes[c + 1])) end
print('wrote ' .. opt.out)
