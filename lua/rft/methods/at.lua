-- Augmentation training, paper 1's Table 2 recipe: the classification loss on the clean and the
-- distorted images alike (J0 over the 2B rows of [x ; x~], labels [y ; y]).
local loss = require 'rft.loss'

return require('rft.methods').define {
  name = 'AT',
  about = 'augmentation training: cross-entropy over the clean and the distorted images alike',
  inputs = { 'x', 'xt' },
  loss = function(out)
    local j0, grad = loss.cross_entropy(out.logits, out.labels())
    return j0, grad, nil, { j0 = j0, extra = 0 }
  end,
}
