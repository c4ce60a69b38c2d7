-- rft.robust: the fine-tuning step every method of rft.methods shares (DESIGN.md §1, §4). One
-- forward pass over what the method puts through the network ([x ; x~], x or x~), the method's loss
-- reading the logits and taps, one backward pass with the tap gradients injected. The methods
-- themselves (FMA, ST, AT, AT-distorted, clean, ...) are values in lua/rft/methods/.
-- Batch norm is frozen (evaluation mode) so both views see the same statistics.
local ffi = require 'ffi'
local F = require 'rft.ffi'
local scratch = require 'rft.scratch'
local train = require 'rft.train'
local methods = require 'rft.methods'
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

--- y += a * x (same shape and device): methods add one loss's gradient to another's.
function M.axpy(a, x, y)
  check(C.rft_tensor_axpy(a, x, y), 2)
  return y
end

--- When a table, M.step adds the seconds of each of its parts to it (forward, loss, backward):
--- `tools/bench/step_loop.lua --parts` reads them.
M.timings = nil

--- One step's forward, loss and backward (gradients accumulate in net; the caller steps the
--- optimizer). method: a method value or its name in rft.methods ('FMA', 'ST', 'AT', 'AT-distorted',
--- 'clean', ...); xt may be nil for a method that does not read it; o: the method's options
--- (rft.methods.options fills what o leaves out). Returns the total loss, the number of correct
--- predictions on the first view put through, and the loss parts {j0=, extra=, ...}.
function M.step(method, net, x, xt, y, o)
  local m = methods.get(method)
  o = o or {}
  local b = #y
  local inputs = m.inputs
  if m.distorted and xt == nil then error('rft.robust.step: method ' .. m.name .. ' needs the distorted batch xt', 2) end
  local input
  if #inputs == 2 then input = concat(x, xt, 'xx', 'f32')
  elseif inputs[1] == 'xt' then input = xt
  else input = x end
  local t = M.timings
  local t0 = t and train.now()
  net.pair_sums = m.pair_sums and #inputs == 2 or nil   -- FMA's sums made in the forward (nn.Sequential)
  local logits = net:forward(input)
  net.pair_sums = nil
  local t1 = t and train.now()
  local out = {
    logits = logits, y = y, rows = b, net = net,
    taps = function() return net:taps() end,
    labels = function() return #inputs == 2 and concat(y, y, 'yy', 'i32') or y end,
  }
  local total, grad, tap_grads, terms = m.loss(out, o)
  local t2 = t and train.now()
  net:backward(input, grad, tap_grads, { input_grad = false })   -- the input's gradient is not wanted here
  if t then
    local t3 = train.now()
    t.forward, t.loss, t.backward = (t.forward or 0) + t1 - t0, (t.loss or 0) + t2 - t1, (t.backward or 0) + t3 - t2
  end
  local correct = train.correct(logits:view(0, b), y)
  terms = terms or {}
  terms.j0 = terms.j0 or total
  terms.extra = terms.extra or (total - terms.j0)
  return total, correct, terms
end

return M
