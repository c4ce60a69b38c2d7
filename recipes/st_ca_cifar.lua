-- st_ca_cifar: stability training (Zheng et al. 2016) under CA, the first method FMA is compared
-- with: J = J0(x) + alpha * L_stab, L_stab = -sum_j P(j|x) log P(j|x~) on the two-view batch.
--   rftlua recipes/st_ca_cifar.lua [--alpha 0.1] [--kl] [--epochs 2] [--paper-params] ...
local experiment = require 'rft.experiment'

local args = experiment.parser('st_ca_cifar', 'Stability training under CA on CIFAR-10 (paper Table 3).',
  function(p)
    p:option('--alpha', 'weight of the stability loss (alpha = 1 cost the fast model 15 clean points)', '0.1', tonumber)
    p:flag('--kl', 'the KL form (drops the entropy of P(x))')
  end):parse(arg)

experiment.run_ca('ST', experiment.options(args))
