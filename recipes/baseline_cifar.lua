-- baseline_cifar: trains a CIFAR-10 classifier from scratch on the 45,000-image training split,
-- reports validation (5,000 held out, seed 0) and test accuracy, and writes runs/<name>/:
-- train.csv (per epoch), checkpoint.safetensors (resumable), model.safetensors, results.json.
--   rftlua recipes/baseline_cifar.lua [--model fast|vgg16|allcnn_c] [--width W] [--epochs N] ...
local rft = require 'rft'
local util = require 'rft.util'
local cjson = require 'cjson'

local p = require('argparse')('baseline_cifar', 'Train a baseline CIFAR-10 model.')
p:option('--model', 'fast, vgg16 or allcnn_c', 'fast')
p:option('--width', 'width multiplier', '1', tonumber)
p:option('--bn', 'batch norm (vgg16, allcnn_c; fast always has it)', 'true')
p:option('--epochs', 'training epochs', '12', tonumber)
p:option('--batch', 'batch size', '128', tonumber)
p:option('--lr', 'peak learning rate (one-cycle: linear warm-up, linear decay)', '0.1', tonumber)
p:option('--weight-decay', 'L2 weight decay', '5e-4', tonumber)
p:option('--seed', 'seed for initialisation, shuffling and augmentation', '0', tonumber)
p:option('--data', 'CIFAR-10 folder (default: $RFT_DATA, then data/cifar-10-batches-bin)')
p:option('--out', 'output folder', 'runs/baseline_cifar')
p:flag('--fresh', 'ignore an existing checkpoint instead of resuming from it')
local o = p:parse(arg)

local t0 = rft.train.now()
local full = rft.data.cifar10 { dir = o.data, split = 'train' }
local test = rft.data.cifar10 { dir = full.dir, split = 'test' }
local tr_idx, val_idx = rft.data.split(full, 5000)
local train, val = rft.data.subset(full, tr_idx), rft.data.subset(full, val_idx)

local net = rft.models.build(o.model, { width = o.width, bn = o.bn == 'true', seed = o.seed })
print(net)
print(string.format('training on %d images, validating on %d, testing on %d; %d threads',
  train.n, val.n, test.n, rft.threads()))

util.mkdir_p(o.out)
if o.fresh then os.remove(o.out .. '/checkpoint.safetensors') end
local rows, train_seconds = rft.train.fit {
  net = net, train = train, val = val, epochs = o.epochs, batch = o.batch, seed = o.seed,
  lr = rft.train.one_cycle(o.lr, o.epochs), momentum = 0.9, nesterov = true, weight_decay = o.weight_decay,
  out = o.out,
}

local test_acc, per_class = rft.train.evaluate(net, test)
local val_acc = rft.train.evaluate(net, val)
local seconds = rft.train.now() - t0
rft.safetensors.save(o.out .. '/model.safetensors', net:state_dict(),
  { model = o.model, width = o.width, bn = o.bn, test_accuracy = test_acc })

local classes = {}
for c = 0, 9 do classes[test.classes[c + 1]] = per_class[c] end
util.write_atomic(o.out .. '/results.json', cjson.encode {
  config = { model = o.model, width = o.width, bn = o.bn == 'true', epochs = o.epochs, batch = o.batch,
             lr = o.lr, schedule = 'one-cycle (linear warm-up 20 %, linear decay)', momentum = 0.9,
             nesterov = true, weight_decay = o.weight_decay, seed = o.seed, augmentation = 'crop 4 + flip',
             split = '45000/5000 seed 0', data = full.dir, threads = rft.threads(), rft = rft.version() },
  test_accuracy = test_acc, val_accuracy = val_acc, per_class_test_accuracy = classes,
  seconds = seconds, train_seconds = train_seconds, epochs = rows,
})
print(string.format('test accuracy %.2f %%, validation %.2f %%, %s in all; wrote %s/results.json',
  test_acc, val_acc, rft.train.hms(seconds), o.out))
