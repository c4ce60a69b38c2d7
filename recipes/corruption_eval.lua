-- corruption_eval: accuracy of one or more checkpoints on the CIFAR-10-C corruptions (Hendrycks &
-- Dietterich, 2019; DESIGN.md §5), generated on the fly by the engine, batch by batch and seeded (or
-- read from the published .npy files with --cifar10c). Reports per-cell accuracy, the mean corruption
-- accuracy over the 15 x 5 cells (RobustBench's figure), mCE (mean error), relative mCE, and with
-- --reference CE_c normalised by that model; the related (brightness, gaussian_noise, impulse_noise,
-- gaussian_blur, saturate) and unrelated corruptions apart. Writes results.json, corruption_eval.csv,
-- heatmap.png (corruption x severity per model) and bars.png (per corruption, a bar per model).
--   rftlua recipes/corruption_eval.lua --checkpoint runs/baseline/model.safetensors
--   ... --checkpoint baseline=A.safetensors --checkpoint FMA/CA=B.safetensors [--reference C.safetensors]
--   ... [--cifar10c DIR] [--write-npy DIR] [--images N] [--no-extra] [--corruptions fog,snow]
local rft = require 'rft'
local experiment = require 'rft.experiment'
local E = require 'rft.corrupt_eval'

local cli = require 'rft.cli'
local baseline = require 'rft.experiment.baseline'
local p = cli.parser('corruption_eval', 'Accuracy of checkpoints on CIFAR-10-C.')
p:repeated('--checkpoint', 'a safetensors state dict, or LABEL=PATH; repeat to compare models (at least one)')
p:string('--reference', 'checkpoint whose errors normalise CE_c (ImageNet-C uses AlexNet)')
p:choice('--model', "architecture (default: the checkpoint's, else " .. baseline.defaults.model .. ')', nil, cli.models())
p:number('--width', "width multiplier (default: the checkpoint's, else 1)", nil, { above = 0, max = 16 })
p:boolean('--bn', 'batch norm (fast and quick always have it)', true)
p:string('--cifar10c', 'read the published CIFAR-10-C files from this folder instead of generating')
p:string('--write-npy', 'also write the generated set to this folder in the published .npy layout')
p:integer('--images', 'evaluate on the first N test images (default: all 10,000)', nil, { min = 1, max = 10000 })
p:list('--corruptions', 'a subset (default: the 15, then the extras)', nil, rft.corrupt.names('all'))
p:flag('--no-extra', 'only the 15 benchmark corruptions')
p:integer('--seed', 'seed of the corruptions', 0, { min = 0, max = 2 ^ 53 })
p:integer('--batch', 'evaluation batch size', 500, { min = 1, max = 10000 })
p:string('--frost', 'folder of the frost photographs (default: $RFT_FROST, then beside the data)')
p:string('--data', 'CIFAR-10 folder (default: $RFT_DATA, then data/cifar-10-batches-bin)')
p:device()
p:string('--out', 'output folder', 'runs/corruption_eval')
local o = p:parse(arg)
if #o.checkpoint == 0 then p:fail('--checkpoint is required: a safetensors file, or LABEL=PATH') end
local given = { unpack(o.checkpoint) }
given[#given + 1] = o.reference
for _, c in ipairs(given) do
  local path = c:match('^[^=]+=(.+)$') or c
  local f = io.open(path, 'rb')
  if not f then p:fail('cannot read checkpoint ' .. path) end
  f:close()
end
local t0 = rft.train.now()

local names = o.corruptions or rft.corrupt.names(o.no_extra and nil or 'all')
local test = experiment.head(rft.data.cifar10 { dir = o.data, split = 'test' }, o.images)

local function load(spec, label)
  local lab, path = spec:match('^([^=]+)=(.+)$')
  path = path or spec
  local net, width, model = baseline.load_checkpoint(o, path)
  return { net = net, width = width, model = model, label = lab or label or path:match('([^/]+)/[^/]*$') or path, checkpoint = path }
end

local function run(m, write)
  m.result = E.evaluate(m.net, test, names, { seed = o.seed, cifar10c = o.cifar10c, images = o.images,
    write_npy = write and o.write_npy or nil, frost_dir = o.frost, label = m.label, batch = o.batch })
  m.net = nil
  collectgarbage()
  return m
end

local ref = o.reference and run(load(o.reference, 'reference'), false)
local models = {}
for i, c in ipairs(o.checkpoint) do models[i] = run(load(c, #o.checkpoint > 1 and 'model' .. i or nil), i == 1) end
if ref then E.summarize(ref.result) end
for _, m in ipairs(models) do E.summarize(m.result, ref and ref.result) end
local shown = {}
for _, m in ipairs(models) do shown[#shown + 1] = m end
if ref then shown[#shown + 1] = ref end

local function f(v) return v and string.format('%.2f', v) or '-' end
print(string.format('%-22s %7s %7s %7s %7s %8s %9s %s', 'model', 'clean', 'mCA', 'mCE', 'rel.mCE', 'related',
  'unrelated', ref and 'mCE/ref %' or ''))
for _, m in ipairs(shown) do
  local r = m.result
  print(string.format('%-22s %7s %7s %7s %7s %8s %9s %s', m.label, f(r.clean), f(r.mca), f(r.mce), f(r.relative_mce),
    f(r.related), f(r.unrelated), ref and f(r.mce_normalized) or ''))
end
local corrupting = 0
for _, m in ipairs(shown) do corrupting = corrupting + m.result.corrupt_seconds end
local seconds = rft.train.now() - t0
print(string.format('%.1f s in all, %.1f s (%.1f %%) generating corruptions', seconds, corrupting,
  100 * corrupting / seconds))
E.write(o.out, shown, names, { model = o.model or models[1].model, width = o.width or models[1].width, seed = o.seed, images = test.n,
  cifar10c = o.cifar10c, checkpoints = o.checkpoint, reference = o.reference, seconds = seconds,
  corrupt_seconds = corrupting })
print('wrote ' .. o.out .. '/results.json, corruption_eval.csv, heatmap.png, bars.png'
  .. (o.write_npy and ', and the generated set in ' .. o.write_npy or ''))
