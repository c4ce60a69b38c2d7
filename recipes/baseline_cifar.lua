-- baseline_cifar: trains a CIFAR-10 classifier from scratch on the 45,000-image training split
-- and reports validation (5,000 held out, seed 0) and test accuracy. Writes to --out (default:
-- the folder the robustness recipes look for, runs/baseline_<model>_w<width>[_bn]_e<epochs>_s<seed>):
-- train.csv, train.png, checkpoint.safetensors (a killed run resumes from it), model.safetensors,
-- results.json.
--   rftlua recipes/baseline_cifar.lua [--model fast|vgg16|allcnn_c] [--width W] [--epochs N] ...
local experiment = require 'rft.experiment'
local rft = require 'rft'

local b = experiment.baseline_defaults
local p = require('argparse')('baseline_cifar', 'Train a baseline CIFAR-10 model.')
p:option('--model', 'fast, vgg16 or allcnn_c', b.model)
p:option('--width', 'width multiplier', tostring(b.width), tonumber)
p:option('--bn', 'batch norm (vgg16, allcnn_c; fast always has it)', tostring(b.bn))
p:option('--epochs', 'training epochs', tostring(b.epochs), tonumber)
p:option('--batch', 'batch size', tostring(b.batch), tonumber)
p:option('--lr', 'peak learning rate (one-cycle: linear warm-up, linear decay)', tostring(b.lr), tonumber)
p:option('--weight-decay', 'L2 weight decay', tostring(b.weight_decay), tonumber)
p:option('--seed', 'seed for initialisation, shuffling and augmentation', tostring(b.seed), tonumber)
p:option('--data', 'CIFAR-10 folder (default: $RFT_DATA, then data/cifar-10-batches-bin)')
experiment.device_option(p)
p:option('--out', 'output folder (default: the cache folder of this configuration)')
p:flag('--fresh', 'ignore an existing checkpoint instead of resuming from it')
local o = p:parse(arg)
o.bn = o.bn == 'true'
o.out = o.out or experiment.baseline_dir(o)

if o.fresh then os.remove(o.out .. '/checkpoint.safetensors') end
local _, results = experiment.train_baseline(o, experiment.cifar(o.data))
print(string.format('test accuracy %.2f %%, validation %.2f %%, %s in all; wrote %s/results.json',
  results.test_accuracy, results.val_accuracy, rft.train.hms(results.seconds), o.out))
