-- FMA on the deepest tapped layer only: J = J0(x) + gamma * J_FMA(last ReLU output), the feature
-- term on the representation the classifier reads and nothing earlier. Written as the README's
-- example of a method added as one file.
local loss = require 'rft.loss'

return require('rft.methods').define {
  name = 'FMA-last',
  about = 'FMA on the last ReLU output only: J0(x) + gamma * J_FMA(last tap)',
  inputs = { 'x', 'xt' },
  flags = { { '--gamma', 'number', 0.03, 'weight of the FMA loss', min = 0, max = 1e6 } },
  loss = function(out, o)
    local j0, grad = loss.cross_entropy(out.logits, out.y, { from = 0, to = out.rows })
    local taps = out.taps()
    local j, tap_grads = loss.fma(taps, { gamma = o.gamma, layers = { taps[#taps].name }, exact_normalizer = true,
                                          factored = true })
    return j0 + j, grad, tap_grads, { j0 = j0, extra = j }
  end,
  config = function(o) return { gamma = o.gamma, layers = 'the last ReLU output', normaliser = 'differentiated' } end,
}
