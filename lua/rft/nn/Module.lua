-- nn.Module: the protocol every layer follows, torch/nn's unchanged in name:
--   updateOutput(x) -> self.output;  updateGradInput(x, dy) -> self.gradInput;
--   accGradParameters(x, dy, scale) adds scale * dL/dtheta into the gradient tensors.
-- forward/backward call them; parameters() lists {weights}, {gradients}. A module keeps its output
-- and gradInput tensors and lets the engine's ops resize them, so buffers are reused across calls.
local class = require 'rft.class'
local T = require 'rft.tensor'

local Module = class('nn.Module')

function Module:__init()
  self.training = true
end

--- A tensor owned by this module, made once and resized by the ops that write it.
function Module:buffer(dtype)
  return T.new { shape = { 0 }, dtype = dtype or 'f32', device = T.default_device() }
end

function Module:forward(x) return self:updateOutput(x) end

--- gradInput for dy; also accumulates the parameter gradients (scale defaults to 1).
function Module:backward(x, dy, scale)
  local gx = self:updateGradInput(x, dy)
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
