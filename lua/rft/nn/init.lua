-- rft.nn: modules in the spirit of torch's nn (see nn/Module.lua for the protocol).
local L = require 'rft.nn.layers'

return {
  Module = require 'rft.nn.Module',
  Sequential = require('rft.nn.Sequential').new,
  Conv2d = L.Conv2d.new,
  Linear = L.Linear.new,
  ReLU = L.ReLU.new,
  MaxPool2d = L.MaxPool2d.new,
  GlobalAvgPool2d = L.GlobalAvgPool2d.new,
  Flatten = L.Flatten.new,
  BatchNorm2d = L.BatchNorm2d.new,
  Dropout = L.Dropout.new,
  init = { kaiming_normal = L.kaiming_normal, glorot_uniform = L.glorot_uniform },
}
