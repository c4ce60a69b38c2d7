-- at_ca_cifar: augmentation training under CA, the second method FMA is compared with: the
-- classification loss on the clean and the distorted images alike.
--   rftlua recipes/at_ca_cifar.lua [--epochs 2] [--paper-params] ...
-- The method is lua/rft/methods/at.lua; the protocol is fma_ca_cifar.lua's.
local rft = require 'rft'
local ex = require 'rft.experiment'

-- Every flag is checked here, before any data is read or folder made.
local o = ex.parse('at_ca_cifar', 'Augmentation training under CA on CIFAR-10 (paper Table 3).', { methods = { 'AT' } }, arg)
local t0 = rft.train.now()

-- 1. Data: 45,000 training and 5,000 validation images (split seed 0); reported numbers on the test set.
local d = ex.cifar(o.data)

-- 2. The baseline: trained from scratch once per configuration, cached in runs/.
local net, base, base_dir = ex.baseline(o.baseline, d)

-- 3. Strengths: each distortion calibrated on validation to cost the baseline --target-drop points
--    (paper 1, 3.3.2; cached beside the baseline), or Table 1's with --paper-params.
local presets, cal = ex.strengths(net, d, o, base_dir)
print('distortions: ' .. tostring(presets.combined_plus) .. '\n             ' .. tostring(presets.combined_minus))

-- 4. The baseline's column of Table 3: the ten rows on the 10,000 test images (cached beside it).
local before = ex.baseline_rows(net, d.test, presets, base_dir)

-- 5. Fine-tuning under CA: Combined+ on odd epochs, Combined- on even ones; lr for half the epochs,
--    then lr/100 and lr/10^4. The ten rows on --curve-images test images after every epoch (Figure 4).
local epochs, curve0 = ex.finetune(o.method, net, d, ex.ca_schedule(presets), o, presets)

-- 6. AT/CA's column, and the table with the average improvement.
net:evaluate()
local after = ex.evaluate_rows(net, d.test, presets, 'AT/CA')
ex.write_ca(o, { net = net, before = before, after = after, epochs = epochs, curve0 = curve0, presets = presets, calibration = cal,
  baseline_results = base, baseline_dir = base_dir, data_dir = d.dir, val_accuracy = rft.train.evaluate(net, d.val),
  seconds = rft.train.now() - t0 })
