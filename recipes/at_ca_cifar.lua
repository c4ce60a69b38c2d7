-- at_ca_cifar: augmentation training under CA, the second method FMA is compared with: the
-- classification loss on the clean and the distorted images alike.
--   rftlua recipes/at_ca_cifar.lua [--epochs 2] [--paper-params] ...
local experiment = require 'rft.experiment'

local args = experiment.parser('at_ca_cifar', 'Augmentation training under CA on CIFAR-10 (paper Table 3).'):parse(arg)

experiment.run_ca('AT', experiment.options(args))
