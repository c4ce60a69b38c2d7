-- The control: cross-entropy on the clean images alone for the same epochs, schedule and learning
-- rates as the methods, separating "more training" from "the method". No distortion is computed.
local loss = require 'rft.loss'

return require('rft.methods').define {
  name = 'clean',
  about = 'the control: clean cross-entropy only, the same epochs and learning rates',
  inputs = { 'x' },
  loss = function(out)
    local j0, grad = loss.cross_entropy(out.logits, out.y)
    return j0, grad, nil, { j0 = j0, extra = 0 }
  end,
}
