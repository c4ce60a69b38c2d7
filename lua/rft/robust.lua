-- rft.robust: the two-view fine-tuning step shared by FMA, ST and AT (DESIGN.md §1, §4).
-- One forward pass over [x ; x~]; the methods differ only in which loss reads the logits and taps:
--   FMA: J0(x) + gamma * J_FMA(taps)       ST: J0(x) + alpha * L_stab(logits)
--   AT:  J0 over x and x~ alike             (none: J0(x), the plain fine-tuning control)
-- Batch norm is frozen (evaluation mode) so both views see the same statistics.
local ffi = require 'ffi'
local F = require 'rft.ffi'
local scratch = require 'rft.scratch'
local loss = require 'rft.loss'
local train = require 'rft.train'
local C, check = F.C, F.check

local M = {}

--- Batch-norm layers to evaluation mode (running statistics fixed); everything else trains.
function M.freeze_bn(net)
  net:train()
  for _, m in ipairs(net.modules) do
    if m.__typename == 'nn.BatchNorm2d' then m:evaluate() end
  end
  return net
end

local parts = ffi.new('const rft_tensor*[2]')

-- [a ; b] in the scratch buffer `key` on a's device (the [x ; x~] and [y ; y] batches)
local function concat(a, b, key, dtype)
  local out = scratch.get(M, key, a, dtype)
  parts[0], parts[1] = a, b
  check(C.rft_tensor_cat(2, parts, out), 3)
  return out
end

--- One step's forward, loss and backward (gradients accumulate in net; the caller steps the
--- optimizer). method: 'FMA' | 'ST' | 'AT' | 'none'; o: gamma, alpha, fma options, stability
--- options. Returns the total loss, the number of correct clean predictions, and the loss parts.
function M.step(method, net, x, xt, y, o)
  o = o or {}
  local b = #x
  local xx = concat(x, xt, 'xx', 'f32')
  local logits = net:forward(xx)
  local j0, grad, extra, tap_grads
  if method == 'AT' then
    j0, grad = loss.cross_entropy(logits, concat(y, y, 'yy', 'i32'))
  else
    j0, grad = loss.cross_entropy(logits, y, { from = 0, to = b })
  end
  if method == 'ST' then
    local g
    extra, g = loss.stability(logits, { alpha = o.alpha or 1, kl = o.kl, clean_const = o.clean_const })
    check(C.rft_tensor_axpy(1, g, grad), 2)
  elseif method == 'FMA' then
    extra, tap_grads = loss.fma(net:taps(), { gamma = o.gamma or 1, eps = o.eps, layers = o.layers,
                                             weights = o.weights, exact_normalizer = o.exact_normalizer })
  elseif method ~= 'AT' and method ~= 'none' then
    error("rft.robust.step: method must be 'FMA', 'ST', 'AT' or 'none', got " .. tostring(method), 2)
  end
  net:backward(xx, grad, tap_grads, { input_grad = false })
  local clean = logits:view(0, b)
  local correct = train.correct(clean, y)
  return j0 + (extra or 0), correct, { j0 = j0, extra = extra or 0 }
end

return M
