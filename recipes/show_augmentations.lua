-- show_augmentations.lua: the augmentation grid of paper 1's Figure 3: rows of CIFAR-10 test images,
-- columns clean, the seven distortions (rft.aug.distortions' order), Combined+, Combined-, with a
-- header line naming each column. Strengths: the paper's Table 1 presets, or a calibration file
-- (recipes/calibrate_cifar.lua).
--   rftlua recipes/show_augmentations.lua [--data DIR] [--rows 8] [--out runs/figures/augmentations.png]
--                                         [--calibration runs/calibrate/results.json] [--seed 0]
local rft = require 'rft'
local cli = require 'rft.cli'
local util = require 'rft.util'
local aug = rft.aug

local p = cli.parser('show_augmentations', "paper 1's Figure 3: one column per augmentation")
p:string('--data', 'CIFAR-10 folder (cifar-10-batches-bin)')
p:integer('--rows', 'test images, one per row', 8, { min = 1, max = 10000 })
p:integer('--first', 'index of the first test image', 0, { min = 0, max = 9999 })
p:string('--out', 'PNG to write', 'runs/figures/augmentations.png')
p:string('--calibration', 'JSON from calibrate_cifar.lua; default: the paper presets')
p:integer('--seed', 'augmentation seed', 0, { min = 0, max = 2 ^ 31 - 1 })
p:integer('--scale', 'pixels per image pixel', 2, { min = 1, max = 16 })
local o = p:parse(arg)
if o.first + o.rows > 10000 then p:fail('--first + --rows must be at most 10000 (the test set)') end

local presets = aug.paper.cifar10
if o.calibration then
  local f, err = io.open(o.calibration, 'r')
  if not f then p:fail('--calibration: cannot read ' .. tostring(err)) end
  presets = aug.from_calibration(require('cjson').decode(f:read('*a')))
  f:close()
end

local test = rft.data.cifar10 { dir = o.data, split = 'test' }
local ids = rft.from_table((function() local t = {} for i = 1, o.rows do t[i] = o.first + i - 1 end return t end)(),
                           { o.rows }, 'i32')
local x = test.images:view(o.first, o.first + o.rows):float()

local columns = { { 'clean' } }
for _, name in ipairs(aug.distortions.names) do columns[#columns + 1] = { name, presets[name] } end
for _, name in ipairs { 'Combined+', 'Combined-' } do columns[#columns + 1] = { name, presets[name] } end
local img = aug.figure.figure { images = x, columns = columns, seed = o.seed, ids = ids, scale = o.scale }

util.mkdir_p(util.dirname(o.out))
rft.image.write_png(img, o.out)
print('columns, left to right:')
for i, c in ipairs(columns) do print(string.format('  %2d  %-10s %s', i, c[1], c[2] and tostring(c[2]) or 'no distortion')) end
print(string.format('wrote %s (%d rows of test images %d..%d)', o.out, o.rows, o.first, o.first + o.rows - 1))
