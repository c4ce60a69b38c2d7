-- nn.Module: the protocol every layer follows, torch/nn's unchanged in name:
--   updateOutput(x) -> self.output;  updateGradInput(x, dy) -> self.gradInput;
--   accGradParameters(x, dy, scale) adds scale * dL/dtheta into the gradient tensors.
-- forward/backward call them; parameters() lists {weights}, {gradients}. A module keeps its output
-- and gradInput tensors in rft.scratch (per device) and lets the engine's ops resize them, so
-- buffers are reused across calls.
local class = require 'rft.class'
local scratch = require 'rft.scratch'

local Module = class('nn.Module')

function Module:__init()
  self.training = true
end

--- A tensor owned by this module, made once per (name, device of `like`, dtype) and resized by the
--- ops that write it (rft.scratch). like: a tensor or a device name.
function Module:buffer(name, like, dtype)
  return scratch.get(self, name, like, dtype)
end

function Module:forward(x) return self:updateOutput(x) end

--- gradInput for dy; also accumulates the parameter gradients (scale defaults to 1). extra: a
--- gradient to add to dy first, passed only to modules that say adds_tap_grad (nn.Sequential's
--- tap gradients), which add it in their own pass.
function Module:backward(x, dy, scale, extra)
  local gx = self:updateGradInput(x, dy, extra)
  self:accGradParameters(x, dy, scale or 1)
  return gx
end

function Module:updateGradInput() error(self.__typename .. ': no backward', 2) end
function Module:accGradParameters() end
function Module:parameters() return {}, {} end

function Module:zero_grad()
  local _, grads = self:parameters()
  for _, g in ipairs(grads) do g:fill(0) end
end

function Module:train() self.training = true; return self end
function Module:evaluate() self.training = false; return self end

--- Output shape (without the batch dimension) for an input shape; layers that change it override.
function Module:out_shape(s) return s end

--- {name=tensor} of what a checkpoint holds (PyTorch names: weight, bias, running_mean, ...).
function Module:state() return {} end

function Module:__tostring() return self.__typename end

return Module
