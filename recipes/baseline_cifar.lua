-- baseline_cifar: trains a CIFAR-10 classifier from scratch on the 45,000-image training split
-- and reports validation (5,000 held out, seed 0) and test accuracy. Writes to --out (default:
-- the folder the robustness recipes look for, runs/baseline_<model>_w<width>[_bn]_e<epochs>_s<seed>):
-- train.csv, train.png, checkpoint.safetensors (a killed run resumes from it), model.safetensors,
-- results.json. Every flag is checked before any data is read or any folder made.
--   rftlua recipes/baseline_cifar.lua [--model quick|fast|vgg16|allcnn_c] [--width W] [--epochs N] ...
local experiment = require 'rft.experiment'
local cli = require 'rft.cli'
local rft = require 'rft'

local b = experiment.baseline_defaults
local p = cli.parser('baseline_cifar', 'Train a baseline CIFAR-10 model.')
p:choice('--model', 'architecture', b.model, cli.models())
p:number('--width', 'width multiplier', b.width, { above = 0, max = 16 })
p:boolean('--bn', 'batch norm (vgg16, allcnn_c; fast and quick always have it)', b.bn)
p:integer('--epochs', 'training epochs', b.epochs, { min = 1, max = 10000 })
p:boolean('--whiten', 'start from a patch-whitening first layer (rft.models.whiten.apply)', b.whiten)
p:integer('--batch', 'batch size', b.batch, { min = 1, max = 45000 })
p:number('--lr', 'peak learning rate (one-cycle: linear warm-up, linear decay)', b.lr, { above = 0, max = 10 })
p:number('--weight-decay', 'L2 weight decay', b.weight_decay, { min = 0, max = 1 })
p:number('--label-smoothing', 'label smoothing e: targets (1 - e) one-hot + e/10', b.label_smoothing, { min = 0, max = 1 })
p:integer('--seed', 'seed for initialisation, shuffling and augmentation', b.seed, { min = 0, max = 2 ^ 31 - 1 })
p:string('--data', 'CIFAR-10 folder (default: $RFT_DATA, then data/cifar-10-batches-bin)')
p:device()
p:string('--out', 'output folder (default: the cache folder of this configuration)')
p:flag('--fresh', 'ignore an existing checkpoint instead of resuming from it')
local o = p:parse(arg)
o.out = o.out or experiment.baseline_dir(o)

if o.fresh then os.remove(o.out .. '/checkpoint.safetensors') end
local _, results = experiment.train_baseline(o, experiment.cifar(o.data))
print(string.format('test accuracy %.2f %%, validation %.2f %%, %s in all; wrote %s/results.json',
  results.test_accuracy, results.val_accuracy, rft.train.hms(results.seconds), o.out))
