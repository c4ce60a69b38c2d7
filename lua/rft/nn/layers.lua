-- The layers of rft.nn: each a thin module over the engine's ops (one C call per hook), owning its
-- parameters and their gradients; its outputs are rft.scratch buffers, one per device of the input.
-- Layouts follow PyTorch (DESIGN.md §7) so that state dicts move both ways unchanged.
local ffi = require 'ffi'
local class = require 'rft.class'
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local Module = require 'rft.nn.Module'
local C, check = F.C, F.check
local is_factored = require('rft.loss').is_factored

local L = {}

-- A factored tap gradient (rft.loss.Factored) whose map is not y, written out into a buffer of m:
-- the fused ops form it from y, so they take it only as the gradient of y itself.
local function own_form(m, extra, y)
  if extra.f == y then return extra end
  return extra:tensor(m:buffer('tap_grad', y))
end

local function param(shape) return T.new { shape = shape, device = T.default_device() } end

-- Seeds and streams are uint64 in C: checked here, or the FFI wraps or refuses them in its own words.
local function seeds(seed, stream, what)
  return F.whole(seed, what .. ': seed', 0, F.SEED_MAX, 3), F.whole(stream or 0, what .. ': stream', 0, F.SEED_MAX, 3)
end

--- Kaiming-normal (He et al. 2015, fan-in, ReLU gain) and Glorot-uniform initialisation from Philox.
function L.kaiming_normal(t, fan_in, seed, stream)
  seed, stream = seeds(seed, stream, 'kaiming_normal')
  check(C.rft_rand_normal(t, seed, stream, 0, 0, math.sqrt(2 / fan_in)), 2)
  return t
end
function L.glorot_uniform(t, fan_in, fan_out, seed, stream)
  seed, stream = seeds(seed, stream, 'glorot_uniform')
  local a = math.sqrt(6 / (fan_in + fan_out))
  check(C.rft_rand_uniform(t, seed, stream, 0, -a, a), 2)
  return t
end

-- ---- Conv2d ----------------------------------------------------------------------------------
local Conv2d = class('nn.Conv2d', 'nn.Module')
L.Conv2d = Conv2d

--- nn.Conv2d{cin=3, cout=64, k=3, stride=1, pad=1, bias=true}
function Conv2d:__init(o)
  Module.__init(self)
  assert(o and o.cin and o.cout and o.k, 'nn.Conv2d: cin, cout and k are required')
  self.cin, self.cout, self.k = o.cin, o.cout, o.k
  self.stride, self.pad = o.stride or 1, o.pad or 0
  for _, k in ipairs { 'cin', 'cout', 'k', 'stride', 'pad' } do F.whole(self[k], 'nn.Conv2d: ' .. k, 0, F.INT_MAX, 3) end
  self.args = ffi.new('rft_conv2d_args', { self.k, self.k, self.stride, self.stride, self.pad, self.pad })
  self.weight, self.gradWeight = param { o.cout, o.cin, o.k, o.k }, param { o.cout, o.cin, o.k, o.k }
  if o.bias ~= false then self.bias, self.gradBias = param { o.cout }, param { o.cout } end
end

function Conv2d:reset(seed, stream)
  seed, stream = seeds(seed, stream, 'nn.Conv2d:reset')
  L.kaiming_normal(self.weight, self.cin * self.k * self.k, seed, stream)
  if self.bias then self.bias:fill(0) end
end

function Conv2d:updateOutput(x)
  self.output = self:buffer('output', x)
  check(C.rft_conv2d_forward(self.args, x, self.weight, self.bias, self.output))
  return self.output
end
function Conv2d:updateGradInput(x, dy)
  self.gradInput = self:buffer('gradInput', x)
  check(C.rft_conv2d_backward_input(self.args, x, self.weight, dy, self.gradInput))
  return self.gradInput
end
function Conv2d:accGradParameters(x, dy, scale)
  check(C.rft_conv2d_backward_params(self.args, x, dy, scale or 1, self.gradWeight, self.gradBias))
end
function Conv2d:parameters()
  return { self.weight, self.bias }, { self.gradWeight, self.gradBias }
end
function Conv2d:state() return { weight = self.weight, bias = self.bias } end
function Conv2d:out_shape(s)
  local function o(n) return math.floor((n + 2 * self.pad - self.k) / self.stride) + 1 end
  return { self.cout, o(s[2]), o(s[3]) }
end
function Conv2d:__tostring()
  return string.format('nn.Conv2d(%d -> %d, %dx%d%s%s%s)', self.cin, self.cout, self.k, self.k,
    self.stride ~= 1 and ', stride ' .. self.stride or '', self.pad ~= 0 and ', pad ' .. self.pad or '',
    self.bias and '' or ', no bias')
end

-- ---- Linear ----------------------------------------------------------------------------------
local Linear = class('nn.Linear', 'nn.Module')
L.Linear = Linear

--- nn.Linear{cin=512, cout=10, bias=true}; weight [cout, cin] as PyTorch.
function Linear:__init(o)
  Module.__init(self)
  assert(o and o.cin and o.cout, 'nn.Linear: cin and cout are required')
  self.cin, self.cout = o.cin, o.cout
  self.weight, self.gradWeight = param { o.cout, o.cin }, param { o.cout, o.cin }
  if o.bias ~= false then self.bias, self.gradBias = param { o.cout }, param { o.cout } end
end
function Linear:reset(seed, stream)
  seed, stream = seeds(seed, stream, 'nn.Linear:reset')
  L.glorot_uniform(self.weight, self.cin, self.cout, seed, stream)
  if self.bias then self.bias:fill(0) end
end
function Linear:updateOutput(x)
  self.output = self:buffer('output', x)
  check(C.rft_linear_forward(x, self.weight, self.bias, self.output))
  return self.output
end
function Linear:updateGradInput(x, dy)
  self.gradInput = self:buffer('gradInput', x)
  check(C.rft_linear_backward_input(x, self.weight, dy, self.gradInput))
  return self.gradInput
end
function Linear:accGradParameters(x, dy, scale)
  check(C.rft_linear_backward_params(x, dy, scale or 1, self.gradWeight, self.gradBias))
end
Linear.parameters = Conv2d.parameters
Linear.state = Conv2d.state
function Linear:out_shape() return { self.cout } end
function Linear:__tostring() return string.format('nn.Linear(%d -> %d)', self.cin, self.cout) end

-- ---- ReLU ------------------------------------------------------------------------------------
local ReLU = class('nn.ReLU', 'nn.Module')
L.ReLU = ReLU
-- A tapped ReLU takes its tap's gradient as `extra` and adds it in its own backward pass
-- (dx = (dy + extra) * [y > 0]), sparing nn.Sequential a copy and a sum over the map; extra may be
-- a tensor or an rft.loss.Factored (formed from y there, never written out).
ReLU.adds_tap_grad = true
function ReLU:updateOutput(x)
  self.output = self:buffer('output', x)
  check(C.rft_relu_forward(x, self.output))
  return self.output
end
--- The forward of a two-view batch [x ; x~] (CPU) that also writes FMA's sums of each pair of rows
--- into sums (a double[2 * #x / 2] array; rft_relu_forward_pairs), read by rft.loss.fma instead of the map.
function ReLU:forward_pairs(x, sums)
  self.output = self:buffer('output', x)
  check(C.rft_relu_forward_pairs(x, self.output, sums))
  return self.output
end
function ReLU:updateGradInput(x, dy, extra)
  self.gradInput = self:buffer('gradInput', x)
  if extra and is_factored(extra) then extra = own_form(self, extra, self.output) end
  if extra and is_factored(extra) then
    check(C.rft_relu_backward_add_factored(self.output, dy, extra.coef, extra.means, extra.index, self.gradInput))
  elseif extra then
    check(C.rft_relu_backward_add(self.output, dy, extra, self.gradInput))
  else
    check(C.rft_relu_backward(self.output, dy, self.gradInput))
  end
  return self.gradInput
end
function ReLU:__tostring() return 'nn.ReLU' end

-- ---- MaxPool2d -------------------------------------------------------------------------------
local MaxPool2d = class('nn.MaxPool2d', 'nn.Module')
L.MaxPool2d = MaxPool2d

--- nn.MaxPool2d{k=2, stride=2, pad=0}
function MaxPool2d:__init(o)
  Module.__init(self)
  o = o or {}
  self.k = o.k or 2
  self.stride, self.pad = o.stride or self.k, o.pad or 0
  self.args = ffi.new('rft_pool2d_args', { self.k, self.k, self.stride, self.stride, self.pad, self.pad })
end
function MaxPool2d:updateOutput(x)
  self.output, self.argmax = self:buffer('output', x), self:buffer('argmax', x, 'i32')
  check(C.rft_maxpool2d_forward(self.args, x, self.output, self.argmax))
  return self.output
end
function MaxPool2d:updateGradInput(x, dy)
  self.gradInput = self:buffer('gradInput', x)
  check(C.rft_maxpool2d_backward(self.args, x, self.argmax, dy, self.gradInput))
  return self.gradInput
end
function MaxPool2d:out_shape(s)
  local function o(n) return math.floor((n + 2 * self.pad - self.k) / self.stride) + 1 end
  return { s[1], o(s[2]), o(s[3]) }
end
function MaxPool2d:__tostring() return string.format('nn.MaxPool2d(%dx%d, stride %d)', self.k, self.k, self.stride) end

-- ---- GlobalAvgPool2d -------------------------------------------------------------------------
local GlobalAvgPool2d = class('nn.GlobalAvgPool2d', 'nn.Module')
L.GlobalAvgPool2d = GlobalAvgPool2d
function GlobalAvgPool2d:updateOutput(x)
  self.output = self:buffer('output', x)
  check(C.rft_global_avgpool_forward(x, self.output))
  return self.output
end
function GlobalAvgPool2d:updateGradInput(x, dy)
  self.gradInput = self:buffer('gradInput', x)
  check(C.rft_global_avgpool_backward(x, dy, self.gradInput))
  return self.gradInput
end
function GlobalAvgPool2d:out_shape(s) return { s[1] } end
function GlobalAvgPool2d:__tostring() return 'nn.GlobalAvgPool2d' end

-- ---- Flatten ---------------------------------------------------------------------------------
local Flatten = class('nn.Flatten', 'nn.Module')
L.Flatten = Flatten
function Flatten:updateOutput(x)
  local s = x:shape()
  local n = 1
  for i = 2, #s do n = n * s[i] end
  self.output = x:reshape { s[1], n }          -- (C,H,W) order, as PyTorch's flatten
  return self.output
end
function Flatten:updateGradInput(x, dy)
  self.gradInput = dy:reshape(x:shape())
  return self.gradInput
end
function Flatten:out_shape(s)
  local n = 1
  for _, v in ipairs(s) do n = n * v end
  return { n }
end
function Flatten:__tostring() return 'nn.Flatten' end

-- ---- BatchNorm2d -----------------------------------------------------------------------------
local BatchNorm2d = class('nn.BatchNorm2d', 'nn.Module')
L.BatchNorm2d = BatchNorm2d

--- nn.BatchNorm2d{c=64, eps=1e-5, momentum=0.1} (PyTorch's defaults and running-statistics rule).
--- In evaluate mode it uses the running statistics, and its backward treats them as constants.
function BatchNorm2d:__init(o)
  Module.__init(self)
  assert(o and o.c, 'nn.BatchNorm2d: c is required')
  self.c = o.c
  self.args = ffi.new('rft_batchnorm_args', { o.eps or 1e-5, o.momentum or 0.1 })
  self.weight, self.gradWeight = param { o.c }:fill(1), param { o.c }
  self.bias, self.gradBias = param { o.c }, param { o.c }
  self.running_mean, self.running_var = param { o.c }, param { o.c }:fill(1)
end
function BatchNorm2d:reset()
  self.weight:fill(1); self.bias:fill(0); self.running_mean:fill(0); self.running_var:fill(1)
end
-- With `sync` set (data-parallel training with --sync-bn) and more than one rank, training-mode
-- statistics are those of the global batch (rft.nn.sync_bn).
local function synced(m) return m.training and m.sync and require('rft.dist').size() > 1 end
function BatchNorm2d:updateOutput(x)
  self.output = self:buffer('output', x)
  if self.training then
    self.save_mean, self.save_invstd = self:buffer('save_mean', x), self:buffer('save_invstd', x)
    if synced(self) then return require('rft.nn.sync_bn').forward(self, x) end
    check(C.rft_batchnorm2d_forward_train(self.args, x, self.weight, self.bias, self.running_mean,
      self.running_var, self.output, self.save_mean, self.save_invstd))
  else
    check(C.rft_batchnorm2d_forward_eval(self.args, x, self.weight, self.bias, self.running_mean,
      self.running_var, self.output))
  end
  return self.output
end
-- dx and the parameter gradients come from one engine call.
function BatchNorm2d:backward(x, dy, scale)
  self.gradInput = self:buffer('gradInput', x)
  if synced(self) then return require('rft.nn.sync_bn').backward(self, x, dy, scale) end
  if self.training then
    check(C.rft_batchnorm2d_backward(x, self.weight, self.save_mean, self.save_invstd, dy, scale or 1,
      self.gradInput, self.gradWeight, self.gradBias))
  else
    check(C.rft_batchnorm2d_backward_eval(x, self.weight, self.running_mean, self.running_var,
      self.args.eps, dy, scale or 1, self.gradInput, self.gradWeight, self.gradBias))
  end
  return self.gradInput
end

--- Batch norm and the ReLU that follows it in one pass (nn.Sequential calls these): y = max(BN(x), 0)
--- written into relu's output, which becomes this module's output too (the pre-ReLU map is never
--- made). Returns y.
function BatchNorm2d:forward_relu(x, relu)
  local y = relu:buffer('output', x)
  self.args.relu = 1
  local ok, err = pcall(BatchNorm2d.updateOutput_into, self, x, y)
  self.args.relu = 0
  if not ok then error(err, 0) end
  relu.output = y
  return y
end
function BatchNorm2d:updateOutput_into(x, y)
  self.output = y
  if self.training then
    self.save_mean, self.save_invstd = self:buffer('save_mean', x), self:buffer('save_invstd', x)
    check(C.rft_batchnorm2d_forward_train(self.args, x, self.weight, self.bias, self.running_mean,
      self.running_var, y, self.save_mean, self.save_invstd))
  else
    check(C.rft_batchnorm2d_forward_eval(self.args, x, self.weight, self.bias, self.running_mean,
      self.running_var, y))
  end
end
--- The backward of forward_relu: dy at the ReLU's output, extra (optional) its tap gradient, a
--- tensor or an rft.loss.Factored; the ReLU's mask and the batch-norm backward in one pass. want_dx
--- false: parameter gradients only.
function BatchNorm2d:backward_relu(x, relu, dy, extra, scale, want_dx)
  local dx = want_dx ~= false and self:buffer('gradInput', x) or nil
  if extra and is_factored(extra) then extra = own_form(self, extra, relu.output) end
  if extra and is_factored(extra) and self.training then
    check(C.rft_batchnorm2d_relu_backward_factored(x, self.weight, self.save_mean, self.save_invstd, relu.output, dy,
      extra.coef, extra.means, extra.index, scale or 1, dx, self.gradWeight, self.gradBias))
  elseif extra and is_factored(extra) then
    check(C.rft_batchnorm2d_relu_backward_eval_factored(x, self.weight, self.running_mean, self.running_var,
      self.args.eps, relu.output, dy, extra.coef, extra.means, extra.index, scale or 1, dx, self.gradWeight,
      self.gradBias))
  elseif self.training then
    check(C.rft_batchnorm2d_relu_backward(x, self.weight, self.save_mean, self.save_invstd, relu.output, dy, extra,
      scale or 1, dx, self.gradWeight, self.gradBias))
  else
    check(C.rft_batchnorm2d_relu_backward_eval(x, self.weight, self.running_mean, self.running_var,
      self.args.eps, relu.output, dy, extra, scale or 1, dx, self.gradWeight, self.gradBias))
  end
  self.gradInput = dx
  return dx
end

function BatchNorm2d:parameters()
  return { self.weight, self.bias }, { self.gradWeight, self.gradBias }
end
function BatchNorm2d:state()
  return { weight = self.weight, bias = self.bias, running_mean = self.running_mean, running_var = self.running_var }
end
function BatchNorm2d:__tostring() return string.format('nn.BatchNorm2d(%d)', self.c) end

-- ---- Dropout ---------------------------------------------------------------------------------
local Dropout = class('nn.Dropout', 'nn.Module')
L.Dropout = Dropout

--- nn.Dropout{p=0.5}: inverted dropout; masks from Philox, a new one every call (seed set by
--- Sequential:seed). Identity in evaluate mode.
function Dropout:__init(o)
  Module.__init(self)
  self.p = (o and o.p) or 0.5
  self.seed, self.stream, self.calls = 0, 0, 0
end
function Dropout:active() return self.training and self.p > 0 end
function Dropout:updateOutput(x)
  if not self:active() then self.output = x; return x end
  self.calls = self.calls + 1
  self.output, self.mask = self:buffer('output', x), self:buffer('mask', x, 'u8')
  check(C.rft_dropout_forward(self.p, self.seed, self.stream, self.calls * 2 ^ 32, x, self.output, self.mask))
  return self.output
end
function Dropout:updateGradInput(_, dy)
  if not self:active() then self.gradInput = dy; return dy end
  self.gradInput = self:buffer('gradInput', dy)
  check(C.rft_dropout_backward(self.p, self.mask, dy, self.gradInput))
  return self.gradInput
end
function Dropout:__tostring() return string.format('nn.Dropout(p=%g)', self.p) end

return L
