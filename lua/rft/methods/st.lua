-- Stability training (Zheng et al. 2016): J = J0(x) + alpha * L_stab, L_stab = -sum_j P(j|x)
-- log P(j|x~) on the logits of the one pass over [x ; x~] (the KL form drops P(x)'s entropy).
local loss = require 'rft.loss'
local robust = require 'rft.robust'

return require('rft.methods').define {
  name = 'ST',
  about = 'stability training: J0(x) + alpha * L_stab(P(x), P(x~))',
  inputs = { 'x', 'xt' },
  flags = {
    { '--alpha', 'number', 0.1, 'weight of the stability loss (alpha = 1 cost the fast model 15 clean points)', min = 0, max = 1e6 },
    { '--kl', 'flag', nil, 'the KL form (drops the entropy of P(x))' },
  },
  options = function(a) return { alpha = a.alpha or 0.1, kl = a.kl or false } end,
  loss = function(out, o)
    local j0, grad = loss.cross_entropy(out.logits, out.y, { from = 0, to = out.rows })
    local js, g = loss.stability(out.logits, { alpha = o.alpha or 1, kl = o.kl, clean_const = o.clean_const })
    robust.axpy(1, g, grad)
    return j0 + js, grad, nil, { j0 = j0, extra = js }
  end,
  config = function(o)
    return { alpha = o.alpha, stability_form = o.kl and 'KL' or 'cross-entropy',
             clean_branch = o.clean_const and 'constant' or 'differentiated' }
  end,
}
