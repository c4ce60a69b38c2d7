-- invariance_score: the second paper's invariance score (eq. 2) per layer for any checkpoint rft can
-- load -- the invariance models, and as well the baseline and the FMA/ST/AT fine-tuned models -- with
-- G = the paper's probe (the heavier scheme's halved ranges at their extremes) or any rft.aug preset.
--   rftlua recipes/invariance_score.lua --checkpoint runs/fma_ca_cifar/model.safetensors
--   ... --g Combined+   (or B+, GN, ..., Combined-: the paper-1 presets) [--images 10000]
--   ... --g Combined+ --calibration runs/<baseline>/calibration_drop10_n2000.json   (calibrated strengths)
local rft = require 'rft'
local cli = require 'rft.cli'
local baseline = require 'rft.experiment.baseline'
local report = require 'rft.report'
local util = require 'rft.util'

local gs = { 'paper' }
for _, n in ipairs(require('rft.aug.distortions').names) do gs[#gs + 1] = n end
gs[#gs + 1], gs[#gs + 2] = 'Combined+', 'Combined-'
local p = cli.parser('invariance_score', 'Per-layer invariance scores of a checkpoint.')
p:string('--checkpoint', 'a safetensors state dict (model.safetensors or checkpoint.safetensors; required)')
p:choice('--model', "architecture (default: the checkpoint's, else " .. baseline.defaults.model .. ')', nil, cli.models())
p:number('--width', "width multiplier (default: the checkpoint's, else 1)", nil, { above = 0, max = 16 })
p:boolean('--bn', 'batch norm (fast and quick always have it)', true)
p:choice('--g', "G: 'paper' (the second paper's probe) or a paper-1 preset", 'paper', gs)
p:string('--calibration', "the presets' strengths: a calibration_*.json beside a baseline (default: Table 1's)")
p:integer('--images', 'test images scored', 10000, { min = 1, max = 10000 })
p:integer('--draws', 'draws of G per image', 5, { min = 1, max = 1000 })
p:string('--data', 'CIFAR-10 folder (default: $RFT_DATA, then data/cifar-10-batches-bin)')
p:device()
p:string('--out', 'output folder', 'runs/invariance_score')
local o = p:parse(arg)
if not o.checkpoint then p:fail('--checkpoint is required: the safetensors file of the model to score') end
local presets = rft.aug.paper.cifar10
if o.calibration then
  local f = io.open(o.calibration) or p:fail('cannot read --calibration ' .. o.calibration)
  local ok, cal = pcall(require('cjson').decode, f:read('*a'))
  f:close()
  if not ok or type(cal) ~= 'table' or type(cal.rows) ~= 'table' then
    p:fail('--calibration ' .. o.calibration .. ': expected a calibration JSON with rows (calibration_*.json)')
  end
  presets = rft.aug.from_calibration(cal)
end
local t0 = rft.train.now()

local net
net, o.width, o.model = baseline.load_checkpoint(o, o.checkpoint)
local G = o.g == 'paper' and rft.aug.G() or presets[o.g]
print('G: ' .. tostring(G))
local test = rft.data.cifar10 { dir = o.data, split = 'test' }
local scores, names = rft.invariance.layer_scores(net, test, G, { draws = o.draws, images = o.images })
local summary = rft.invariance.summary(scores, names)
print(string.format('%-8s %8s %8s %8s', 'layer', 'q1', 'median', 'q3'))
for _, k in ipairs(names) do
  local s = summary[k]
  print(string.format('%-8s %8.3f %8.3f %8.3f', k, s.q1, s.median, s.q3))
end
util.mkdir_p(o.out)
report.write_json(o.out .. '/results.json', { checkpoint = o.checkpoint, model = o.model, width = o.width,
  G = tostring(G), calibration = o.calibration, images = math.min(o.images, test.n), draws = o.draws,
  layers = names, scores = summary, seconds = rft.train.now() - t0, provenance = report.provenance() })
print('wrote ' .. o.out .. '/results.json')
