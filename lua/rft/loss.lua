-- rft.loss: the loss primitives the training methods read from a forward pass. Each returns the
-- already weighted value and its gradients (DESIGN.md §7). Gradient tensors are buffers reused by
-- the next call of the same loss: use them before calling again.
local ffi = require 'ffi'
local F = require 'rft.ffi'
local scratch = require 'rft.scratch'
local C, check = F.C, F.check

local M = {}

local value = ffi.new('double[1]')

-- A gradient buffer per (owner, name, device of `like`), made once.
local function buffer(owner, name, like) return scratch.get(owner, name, like) end

--- Cross-entropy of softmax(logits) against labels, mean over rows [o.from, o.to) (0-based,
--- default all; labels then hold those rows' labels), times o.scale (1), against targets smoothed by
--- o.smoothing (0: one-hot; e: (1 - e) onehot + e/K, PyTorch's label_smoothing). AT uses it on both views.
--- --> loss, grad_logits (zero outside the rows). With o.deferred the loss is not read back (on a
--- GPU the call then does not wait for the device): it returns nil, grad_logits, and the unscaled
--- loss is added to the device's totals that rft.loss.take_metrics hands over.
function M.cross_entropy(logits, labels, o)
  o = o or {}
  local from, to = o.from or 0, o.to or #logits
  local grad = o.grad or buffer(M.cross_entropy, 'grad', logits)
  check(C.rft_cross_entropy_smoothed(logits, labels, from, to, o.smoothing or 0, o.scale or 1,
    (not o.deferred) and value or nil, grad), 2)
  if o.deferred then return nil, grad end
  return value[0] * (o.scale or 1), grad
end

local count = ffi.new('int64_t[1]')

--- The number of rows of logits whose label is among the o.k (1) largest; with o.deferred, nil, the
--- count being added to the device's totals instead (as cross_entropy's deferred loss).
function M.count_correct(logits, labels, o)
  o = o or {}
  check(C.rft_topk_correct(logits, labels, o.k or 1, (not o.deferred) and count or nil), 2)
  if o.deferred then return nil end
  return tonumber(count[0])
end

local taken_loss, taken_correct = ffi.new('double[1]'), ffi.new('int64_t[1]')

--- The totals of the deferred calls on `device` (default: the default device) since the last take:
--- the sum of the unscaled losses and of the counts they would have returned; they start again
--- from 0. Waits for the device once; a label refused by a deferred CUDA call fails here.
function M.take_metrics(device)
  device = device or T.default_device()
  local code = F.devices[device]
  if not code then
    error("rft.loss.take_metrics: device must be 'cpu' or 'cuda', got " .. tostring(device), 2)
  end
  check(C.rft_metrics_take(code, taken_loss, taken_correct), 2)
  return taken_loss[0], tonumber(taken_correct[0])
end

local fma_args = ffi.new('rft_fma_args')
local fma_factored = {}   -- tap name -> its rft.loss.Factored (buffers reused, as the tensors are)

--- FMA loss (paper eq. 6) over the taps of a two-view batch [x ; x~]:
---   gamma * 1/|L| * sum over layers l of w_l * J_l,
--- taps: net:taps() of the two-view forward; o.gamma (1), o.eps (1e-8), o.exact_normalizer (false),
--- o.layers (names to use; default every tap), o.weights ({name = w}, default 1). o.factored (CPU):
--- each tap_grads entry is an rft.loss.Factored over the tap itself (rft_fma_loss_factored), formed in
--- the tapped layer's own backward (the same numbers, without writing the gradient maps), from the
--- tap's pair_sums where its forward made them (rft_fma_loss_sums: the map is not read); on a device
--- the option is ignored.
--- --> loss, tap_grads {name = grad}, per_layer {name = J_l (unweighted)}
function M.fma(taps, o)
  o = o or {}
  fma_args.eps = o.eps or 1e-8
  fma_args.exact_normalizer = o.exact_normalizer and 1 or 0
  local use
  if o.layers then use = {}; for _, n in ipairs(o.layers) do use[n] = true end end
  local chosen = {}
  for _, tap in ipairs(taps) do
    if not use or use[tap.name] then chosen[#chosen + 1] = tap end
  end
  if #chosen == 0 then error('rft.loss.fma: no tapped layer selected', 2) end
  local gamma, total, grads, per = o.gamma or 1, 0, {}, {}
  local factored = o.factored and chosen[1].tensor:device() == 'cpu'
  for _, tap in ipairs(chosen) do
    local w = o.weights and o.weights[tap.name] or 1
    local g
    value[0] = 0
    if factored then
      g = fma_factored[tap.name]
      if not g then
        g = M.Factored { coef = buffer(M.fma, tap.name .. ' coef', 'cpu'),
                         index = scratch.get(M.fma, tap.name .. ' index', 'cpu', 'i32') }
        fma_factored[tap.name] = g
      end
      g.f, g.means = tap.tensor, tap.tensor
      if tap.pair_sums then     -- made by the tapped layer's forward (nn.Sequential's pair_sums)
        check(C.rft_fma_loss_sums(fma_args, gamma * w / #chosen, tap.tensor, tap.pair_sums, value, g.coef, g.index), 2)
      else
        check(C.rft_fma_loss_factored(fma_args, gamma * w / #chosen, tap.tensor, value, g.coef, g.index), 2)
      end
    else
      g = buffer(M.fma, tap.name, tap.tensor)
      check(C.rft_fma_loss(fma_args, gamma * w / #chosen, tap.tensor, value, g), 2)
    end
    total = total + value[0]
    per[tap.name] = gamma * w ~= 0 and value[0] * #chosen / (gamma * w) or 0
    grads[tap.name] = g
  end
  return total, grads, per
end

local st_args = ffi.new('rft_stability_args')

--- Stability-training loss on the logits of [x ; x~]: alpha * mean_i -sum_j P(j|x_i) log P(j|x~_i).
--- o.alpha (1), o.kl (false: the KL form), o.clean_const (false: no gradient to the clean branch).
--- --> loss, grad_logits
function M.stability(logits, o)
  o = o or {}
  st_args.alpha, st_args.kl, st_args.clean_const = o.alpha or 1, o.kl and 1 or 0, o.clean_const and 1 or 0
  local grad = buffer(M.stability, 'grad', logits)
  check(C.rft_stability_loss(st_args, logits, value, grad), 2)
  return value[0], grad
end

local inv_loss, inv_value = ffi.new('double[1]'), ffi.new('double[1]')
local inv_values, inv_nvalues = ffi.new('double[8]'), 8

--- A tap gradient in factored form (rft.loss.invariance or rft.loss.fma with o.factored): for the
--- tapped map f (B rows), row i of the gradient is coef[i][0] (f_i - means[index[i][0]]) - coef[i][1]
--- (f_i - means[index[i][1]]) (+ coef[i][2] where coef has three columns; rft.h:
--- rft_invariance_loss_factored, rft_fma_loss_factored, whose means are f itself). nn.Sequential:backward
--- forms it inside the tapped ReLU's (or batch norm + ReLU's) own backward without writing the map;
--- g:tensor(out) writes it out (into out, a tensor it resizes, or a new one). It holds the gradient of
--- f's values of the forward it came from: use it before the next forward.
local Factored = setmetatable({}, { __call = function(cls, t) return setmetatable(t, cls) end })
Factored.__index = Factored
M.Factored = Factored
function M.is_factored(g) return getmetatable(g) == Factored end
function Factored:tensor(out)
  out = out or require('rft.tensor').new { shape = { 0 }, device = self.f:device() }
  check(C.rft_factored_grad(self.f, self.coef, self.means, self.index, out), 2)
  return out
end
function Factored:shape() return self.f:shape() end
function Factored:device() return self.f:device() end
function Factored:__tostring() return 'factored tap gradient of ' .. tostring(self.f) end

--- The second paper's layer weights: alpha_l = alpha 10^((l-1)/(L-1)) / sum_k 10^((k-1)/(L-1)), the
--- deepest layer 10 times the first, summing to alpha (0.1). names: the tap names in forward order.
function M.invariance_weights(names, alpha)
  alpha = alpha or 0.1
  local n, w, total = #names, {}, 0
  for l = 1, n do total = total + 10 ^ (n > 1 and (l - 1) / (n - 1) or 0) end
  for l, name in ipairs(names) do w[name] = alpha * 10 ^ (n > 1 and (l - 1) / (n - 1) or 0) / total end
  return w
end

local factored_buffers = {}   -- tap name -> its rft.loss.Factored (buffers reused, as the tensors are)
local inv_fw, inv_ff, inv_fc, inv_fm, inv_fi, inv_fv, inv_fn = nil, nil, nil, nil, nil, nil, 0   -- the taps call's arrays

--- Data-augmentation invariance loss (second paper, eq. 3) over taps of a batch of K seeds x M
--- copies: groups i32 [B] (the seed of each row). o.weights {name = w} (default: the exponential law
--- over the taps, summing to 0.1), o.normalizer 'all' (default) or 'same_class' (then o.labels, i32
--- [B]). On a device the taps' values are read in one copy after the last tap (o.async = true takes
--- that path on the CPU too). o.factored (CPU): each tap_grads entry is an rft.loss.Factored, the
--- gradient in factored form that nn.Sequential:backward adds inside the tapped layer's own backward,
--- sparing a pass that writes every tap's gradient map and one that reads it (the same numbers); on
--- a device the option is ignored (tensors, without a wait per tap).
--- --> loss (sum of w_l L_inv,l), tap_grads {name = grad}, per_tap {name = L_inv,l}
function M.invariance(taps, groups, o)
  o = o or {}
  local weights = o.weights
  if not weights then
    local names = {}
    for i, t in ipairs(taps) do names[i] = t.name end
    weights = M.invariance_weights(names)
  end
  local classes
  if o.normalizer == 'same_class' then
    classes = o.labels or error("rft.loss.invariance: normalizer 'same_class' needs labels", 2)
  elseif o.normalizer and o.normalizer ~= 'all' then
    error("rft.loss.invariance: normalizer must be 'all' or 'same_class', got " .. tostring(o.normalizer), 2)
  end
  local chosen = {}
  for _, tap in ipairs(taps) do
    if weights[tap.name] then chosen[#chosen + 1] = tap end
  end
  local total, grads, per = 0, {}, {}
  if #chosen == 0 then return total, grads, per end
  local dev = chosen[1].tensor:device()
  if dev == 'cpu' and not o.async and o.factored then
    -- every tap in one engine call: one plan of the batch, one parallel region for all the maps
    local n = #chosen
    if inv_fn < n then
      inv_fw, inv_ff = ffi.new('float[?]', n), ffi.new('const rft_tensor*[?]', n)
      inv_fc, inv_fm, inv_fi = ffi.new('rft_tensor*[?]', n), ffi.new('rft_tensor*[?]', n), ffi.new('rft_tensor*[?]', n)
      inv_fv, inv_fn = ffi.new('double[?]', n), n
    end
    for j, tap in ipairs(chosen) do
      local fg = factored_buffers[tap.name]
      if not fg then
        fg = Factored { coef = buffer(M.invariance, tap.name .. ' coef', 'cpu'),
          means = buffer(M.invariance, tap.name .. ' means', 'cpu'),
          index = scratch.get(M.invariance, tap.name .. ' index', 'cpu', 'i32') }
        factored_buffers[tap.name] = fg
      end
      fg.f = tap.tensor
      inv_fw[j - 1], inv_ff[j - 1] = weights[tap.name], tap.tensor
      inv_fc[j - 1], inv_fm[j - 1], inv_fi[j - 1] = fg.coef, fg.means, fg.index
      grads[tap.name] = fg
    end
    inv_loss[0] = 0
    check(C.rft_invariance_loss_factored_taps(n, inv_fw, inv_ff, groups, classes, inv_loss, inv_fv, inv_fc, inv_fm,
      inv_fi), 2)
    for j, tap in ipairs(chosen) do per[tap.name] = inv_fv[j - 1] end
    return inv_loss[0], grads, per
  end
  if dev == 'cpu' and not o.async then
    for _, tap in ipairs(chosen) do
      local g = buffer(M.invariance, tap.name, tap.tensor)
      inv_loss[0] = 0
      check(C.rft_invariance_loss(weights[tap.name], tap.tensor, groups, classes, inv_loss, inv_value, g), 2)
      total, grads[tap.name], per[tap.name] = total + inv_loss[0], g, inv_value[0]
    end
    return total, grads, per
  end
  -- on a device: every tap's value goes to a slot of one device buffer, read once at the end (one
  -- wait for the device per call, none per tap)
  local out = buffer(M.invariance, ' values', chosen[1].tensor)
  if out:numel() < 2 * #chosen then out:resize { 2 * #chosen } end
  for slot, tap in ipairs(chosen) do
    local g = buffer(M.invariance, tap.name, tap.tensor)
    check(C.rft_invariance_loss_async(weights[tap.name], tap.tensor, groups, classes, out, slot - 1, g), 2)
    grads[tap.name] = g
  end
  if inv_nvalues < #chosen then inv_values, inv_nvalues = ffi.new('double[?]', #chosen), #chosen end
  check(C.rft_invariance_read(out, #chosen, inv_values), 2)
  for slot, tap in ipairs(chosen) do
    local v = inv_values[slot - 1]
    -- the weight as the engine applies it (f32), as the CPU path's loss accumulates it
    total, per[tap.name] = total + tonumber(ffi.new('float', weights[tap.name])) * v, v
  end
  return total, grads, per
end

return M
