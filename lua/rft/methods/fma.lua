-- FMA (paper 1, eq. 6): J = J0(x) + gamma * J_FMA, J_FMA over the outputs of every ReLU of the
-- one forward pass over [x ; x~]; the distorted images' labels are not used.
local loss = require 'rft.loss'

return require('rft.methods').define {
  name = 'FMA',
  about = 'feature-map augmentation: J0(x) + gamma * J_FMA over every ReLU output (paper 1, eq. 6)',
  inputs = { 'x', 'xt' },
  pair_sums = true,     -- the tapped ReLUs make the loss's sums in the forward (rft.loss.fma)
  flags = {
    { '--gamma', 'number', 0.03, 'weight of the FMA loss (recipes/gamma_search.lua finds one)', min = 0, max = 1e6 },
    -- With mean(f(x)) held constant, shrinking a layer's activations always lowers J_FMA: at lr 0.01
    -- the fast model's deepest layers collapsed to NaN in epoch 2, and the quick model diverged from
    -- gamma 0.1 on. Differentiating through the normaliser makes J_FMA blind to that scale. The main
    -- job's search on the quick model selected the constant one (results/main_job/search.md).
    { '--constant-normalizer', 'boolean', true,
      'hold the per-image normaliser mean(f(x)) constant (DESIGN.md); false differentiates through it' },
  },
  options = function(a) return { gamma = a.gamma or 0.03, exact_normalizer = a.constant_normalizer == false } end,
  loss = function(out, o)
    local j0, grad = loss.cross_entropy(out.logits, out.y, { from = 0, to = out.rows })
    local j, tap_grads = loss.fma(out.taps(), { gamma = o.gamma or 1, eps = o.eps, layers = o.layers,
                                               weights = o.weights, exact_normalizer = o.exact_normalizer,
                                               factored = true })
    return j0 + j, grad, tap_grads, { j0 = j0, extra = j }
  end,
  config = function(o)
    return { gamma = o.gamma, layers = 'every ReLU output', weights = 'equal', eps = 1e-8,
             normaliser = o.exact_normalizer and 'differentiated' or 'constant' }
  end,
}
