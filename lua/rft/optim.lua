-- rft.optim: optimizers over lists of parameter tensors (a flattened network gives one pair, so a
-- step is one engine call). SGD follows torch.optim.SGD exactly (dampening 0).
local ffi = require 'ffi'
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local C, check = F.C, F.check

local M = {}

local SGD = {}
SGD.__index = SGD

--- rft.optim.sgd{params=..., grads=..., lr=0.01, momentum=0.9, nesterov=false, weight_decay=0}
--- params/grads: a tensor or a list of tensors. opt.lr is writable between steps.
function M.sgd(o)
  assert(o and o.params and o.grads, 'rft.optim.sgd: params and grads are required')
  local ps = T.is_tensor(o.params) and { o.params } or o.params
  local gs = T.is_tensor(o.grads) and { o.grads } or o.grads
  if #ps ~= #gs then error(string.format('rft.optim.sgd: %d params but %d grads', #ps, #gs), 2) end
  local self = setmetatable({
    params = ps, grads = gs, lr = o.lr or 0.01, momentum = o.momentum or 0,
    nesterov = o.nesterov or false, weight_decay = o.weight_decay or 0,
    bufs = {}, steps = 0, args = ffi.new('rft_sgd_args'),
  }, SGD)
  for i, p in ipairs(ps) do
    self.bufs[i] = T.new { shape = p:shape(), device = p:device() }
  end
  return self
end

--- One in-place update of every parameter.
function SGD:step()
  local a = self.args
  a.lr, a.momentum, a.weight_decay, a.nesterov = self.lr, self.momentum, self.weight_decay, self.nesterov and 1 or 0
  local first = self.steps == 0 and 1 or 0
  for i, p in ipairs(self.params) do
    check(C.rft_sgd_step(a, first, self.grads[i], p, self.bufs[i]), 2)
  end
  self.steps = self.steps + 1
end

--- The momentum buffers and step count, for checkpoints.
function SGD:state()
  local s = { ['optim.steps'] = T.from_table({ self.steps }, { 1 }, 'i32') }
  for i, b in ipairs(self.bufs) do s['optim.momentum.' .. i] = b end
  return s
end

function SGD:load_state(s)
  self.steps = s['optim.steps'] and s['optim.steps']:to_table()[1] or 0
  for i, b in ipairs(self.bufs) do
    local src = s['optim.momentum.' .. i]
    if not src then error('optimizer state lacks optim.momentum.' .. i, 2) end
    b:copy_from(src)
  end
end

return M
