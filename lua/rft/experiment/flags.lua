-- rft.experiment.flags: the command line of the CIFAR-10 robustness recipes, on rft.cli. Every value
-- is checked (ranges, names against the model, method and distortion registries) before a recipe
-- reads data or makes a folder; a failure is one line naming the flag, and exit status 2.
local cli = require 'rft.cli'
local methods = require 'rft.methods'
local protocol = require 'rft.experiment.protocol'
local baseline = require 'rft.experiment.baseline'
local finetune = require 'rft.experiment.finetune'

local M = {}

--- The folder name a method's CA run writes to by default: runs/<slug>_ca_cifar ('AT-distorted' ->
--- at_distorted).
function M.slug(name) return (methods.get(name).name:lower():gsub('[^%w]+', '_')) end

--- A parser with the flags every CIFAR robustness recipe takes, and the flags of the methods in
--- o.methods (names; default: every registered method). o.method: the default of --method (none:
--- --method is not a flag and o.methods[1] is the method); o.out: --out's default (default:
--- runs/<name>, or runs/<method>_ca_cifar when o.per_method_out).
function M.parser(name, description, o)
  o = o or {}
  local list = o.methods or methods.names()
  local b = baseline.defaults
  local p = cli.parser(name, description)
  p:string('--data', 'CIFAR-10 folder (default: $RFT_DATA, then data/cifar-10-batches-bin)')
  p:device()
  p:string('--out', 'output folder', o.out or (not o.per_method_out and 'runs/' .. name or nil))
  if o.method then p:choice('--method', 'fine-tuning method (lua/rft/methods/)', o.method, list) end
  p:choice('--model', 'architecture', b.model, cli.models())
  p:number('--width', 'width multiplier', b.width, { above = 0, max = 16 })
  p:boolean('--bn', 'batch norm', b.bn)
  p:integer('--baseline-epochs', 'epochs of the baseline when it must be trained', b.epochs, { min = 1, max = 10000 })
  p:boolean('--baseline-whiten', 'the baseline starts from a patch-whitening first layer (rft.models.whiten.apply)',
    b.whiten)
  p:number('--baseline-lr', 'peak learning rate of the baseline', b.lr, { above = 0, max = 10 })
  p:number('--baseline-label-smoothing', 'label smoothing of the baseline', b.label_smoothing, { min = 0, max = 1 })
  p:string('--baseline', 'folder of a trained baseline (default: runs/baseline_<model>_w<width>..._s<seed>)')
  p:integer('--epochs', 'fine-tuning epochs: an even number gives Combined+ and Combined- as many (the paper: 30+)',
    2, { min = 1, max = 10000 })
  p:number('--lr', "fine-tuning learning rate: lr for --lr-top of the epochs, lr/100 then lr/10^4 (the paper's shape)",
    0.01, { above = 0, max = 10 })
  p:number('--lr-top', 'fraction of the fine-tuning epochs at --lr (the rest at lr/100, then lr/10^4)', 0.5,
    { above = 0, max = 1 })
  p:integer('--batch', 'batch size (clean images; a two-view step sees twice as many)', 128, { min = 1, max = 45000 })
  p:number('--weight-decay', 'L2 weight decay', 5e-4, { min = 0, max = 1 })
  p:integer('--seed', 'seed of the baseline, the batches and the distortions', 0, { min = 0, max = 2 ^ 31 - 1 })
  p:flag('--paper-params', "use Table 1's strengths instead of calibrating them")
  p:number('--target-drop', 'calibration: accuracy points each distortion costs the baseline', 10, { above = 0, below = 100 })
  p:integer('--calib-images', 'calibration: validation images used', 2000, { min = 1, max = protocol.val_images })
  p:integer('--curve-images', 'test images for the per-epoch curves (the tables use all 10,000)', 2000,
    { min = 1, max = 10000 })
  p:integer('--train-images', 'fine-tune on the first N training images', protocol.train_images,
    { min = 1, max = protocol.train_images })
  methods.add_flags(p, list)
  p.method_list, p.default_method, p.per_method_out = list, o.method or list[1], o.per_method_out
  return p
end

--- Options from parsed flags, in the shape the experiment's functions take: the flags' values, and
--- method (the method value), method_options, lr_schedule (finetune.lr's pieces), baseline (the
--- baseline's configuration).
function M.options(a, p)
  local o = {}
  for k, v in pairs(a) do o[k] = v end
  o.method = methods.get(a.method or (p and p.default_method))
  o.method_options = methods.options(o.method, a)
  if not o.out then o.out = 'runs/' .. M.slug(o.method) .. '_ca_cifar' end
  o.lr_schedule = finetune.lr(a.lr, a.epochs, a.lr_top)
  o.baseline = { model = a.model, width = a.width, bn = a.bn, epochs = a.baseline_epochs, whiten = a.baseline_whiten,
                 batch = a.batch, lr = a.baseline_lr, label_smoothing = a.baseline_label_smoothing,
                 weight_decay = a.weight_decay, seed = a.seed, baseline_dir = a.baseline }
  return o
end

--- Parse a CA recipe's command line: rft.experiment.flags.parse('fma_ca_cifar', 'FMA ...', {methods =
--- {<one name>}}, arg) --> options (M.options), or one line on stderr and exit 2.
function M.parse(name, description, o, args)
  local p = M.parser(name, description, o)
  return M.options(p:parse(args), p), p
end

return M
