-- invariance_score: the second paper's invariance score (eq. 2) per layer for any checkpoint rft can
-- load -- the invariance models, and as well the baseline and the FMA/ST/AT fine-tuned models -- with
-- G = the paper's probe (the heavier scheme's halved ranges at their extremes) or any rft.aug preset.
--   rftlua recipes/invariance_score.lua --checkpoint runs/fma_ca_cifar/model.safetensors --model fast
--   ... --g combined_plus   (or B+, GN, ..., Combined-: the paper-1 presets) [--images 10000]
local rft = require 'rft'
local experiment = require 'rft.experiment'
local report = require 'rft.report'
local util = require 'rft.util'

local p = require('argparse')('invariance_score', 'Per-layer invariance scores of a checkpoint.')
p:option('--checkpoint', 'a safetensors state dict (model.safetensors or checkpoint.safetensors)'):count(1)
p:option('--model', 'fast, vgg16 or allcnn_c', 'fast')
p:option('--width', 'width multiplier', '1', tonumber)
p:option('--bn', 'batch norm (true/false; fast always has it)', 'true')
p:option('--g', "G: 'paper' (the second paper's probe) or a paper-1 preset name (B+, GN, Combined+, ...)", 'paper')
p:option('--images', 'test images scored', '10000', tonumber)
p:option('--draws', 'draws of G per image', '5', tonumber)
p:option('--data', 'CIFAR-10 folder (default: $RFT_DATA, then data/cifar-10-batches-bin)')
experiment.device_option(p)
p:option('--out', 'output folder', 'runs/invariance_score')
local o = p:parse(arg)
local t0 = rft.train.now()

local net = rft.models.build(o.model, { width = o.width, bn = o.bn == 'true' })
local tensors = rft.safetensors.load(o.checkpoint)
for k in pairs(tensors) do if k:match('^optim%.') then tensors[k] = nil end end
net:load_state_dict(tensors)
local G = o.g == 'paper' and rft.aug.G() or rft.aug.paper.cifar10[o.g]
  or error("unknown --g '" .. o.g .. "' (paper, B+, B-, S+, S-, GN, GB, SAP, Combined+, Combined-)", 0)
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
  G = tostring(G), images = math.min(o.images, test.n), draws = o.draws, layers = names, scores = summary,
  seconds = rft.train.now() - t0 })
print('wrote ' .. o.out .. '/results.json')
