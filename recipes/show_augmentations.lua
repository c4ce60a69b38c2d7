-- show_augmentations.lua: the augmentation grid of paper 1's Figure 3: rows of CIFAR-10 test images,
-- columns clean, B+, B-, S+, S-, GN, GB, SAP, Combined+, Combined-, with a header line naming each
-- column. Strengths: the paper's Table 1 presets, or a calibration file (recipes/calibrate_cifar.lua).
--   rftlua recipes/show_augmentations.lua [--data DIR] [--rows 8] [--out runs/figures/augmentations.png]
--                                         [--calibration runs/calibrate/results.json] [--seed 0]
local rft = require 'rft'
local aug = rft.aug

local args = require('argparse')('show_augmentations', "paper 1's Figure 3: one column per augmentation")
args:option('--data', 'CIFAR-10 folder (cifar-10-batches-bin)')
args:option('--rows', 'test images, one per row', '8', tonumber)
args:option('--first', 'index of the first test image', '0', tonumber)
args:option('--out', 'PNG to write', 'runs/figures/augmentations.png')
args:option('--calibration', 'JSON from calibrate_cifar.lua; default: the paper presets')
args:option('--seed', 'augmentation seed', '0', tonumber)
args:option('--scale', 'pixels per image pixel', '2', tonumber)
local o = args:parse(arg)

local presets = aug.paper.cifar10
if o.calibration then
  local f = assert(io.open(o.calibration, 'r'))
  presets = aug.from_calibration(require('cjson').decode(f:read('*a')))
  f:close()
end

local test = rft.data.cifar10 { dir = o.data, split = 'test' }
local ids = rft.from_table((function() local t = {} for i = 1, o.rows do t[i] = o.first + i - 1 end return t end)(),
                           { o.rows }, 'i32')
local x = test.images:view(o.first, o.first + o.rows):float()

local columns = { { 'clean' } }
for _, name in ipairs { 'B+', 'B-', 'S+', 'S-', 'GN', 'GB', 'SAP', 'Combined+', 'Combined-' } do
  columns[#columns + 1] = { name, presets[name] }
end
local img = aug.figure.figure { images = x, columns = columns, seed = o.seed, ids = ids, scale = o.scale }

require('rft.util').mkdir_p(require('rft.util').dirname(o.out))
rft.image.write_png(img, o.out)
print('columns, left to right:')
for i, c in ipairs(columns) do print(string.format('  %2d  %-10s %s', i, c[1], c[2] and tostring(c[2]) or 'no distortion')) end
print(string.format('wrote %s (%d rows of test images %d..%d)', o.out, o.rows, o.first, o.first + o.rows - 1))
