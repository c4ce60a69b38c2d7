-- Augmentation training on the distorted images only: cross-entropy on x~ and nothing on x, the
-- reading of paper 1's AT/CA that fits its numbers. Only x~ goes through the network, so the
-- training accuracy it reports is on the distorted images.
local loss = require 'rft.loss'

return require('rft.methods').define {
  name = 'AT-distorted',
  about = 'augmentation training on the distorted images only: cross-entropy on x~',
  inputs = { 'xt' },
  loss = function(out)
    local j0, grad = loss.cross_entropy(out.logits, out.y)
    return j0, grad, nil, { j0 = j0, extra = 0 }
  end,
}
