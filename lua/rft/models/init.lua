-- rft.models: the networks of the two papers and a small fast one for CPU runs. Each returns a
-- flattened nn.Sequential initialised from `seed`, taking [N,3,32,32] images in [0,1].
local nn = require 'rft.nn'

local M = {}

local function ch(n, width) return math.max(1, math.floor(n * width + 0.5)) end

-- conv3x3 (+ BN) + ReLU
local function conv_block(layers, cin, cout, o)
  layers[#layers + 1] = nn.Conv2d { cin = cin, cout = cout, k = o.k or 3, stride = o.stride or 1,
                                    pad = o.pad == nil and 1 or o.pad, bias = not o.bn }
  if o.bn then layers[#layers + 1] = nn.BatchNorm2d { c = cout } end
  layers[#layers + 1] = nn.ReLU()
end

local function finish(layers, o, name)
  layers.input = { 3, 32, 32 }
  local net = nn.Sequential(layers)
  net.name = name
  net.config = o
  net:reset(o.seed or 0)
  net:flatten()
  return net
end

--- VGG-16, CIFAR variant: 13 conv3x3 (64,64,M,128,128,M,256x3,M,512x3,M,512x3,M), then
--- 512->512->10. width multiplies every layer (0.25 is VGG-16/4); bn adds batch norm after each conv.
function M.vgg16(o)
  o = o or {}
  local w, layers, cin = o.width or 1, {}, 3
  for _, v in ipairs { 64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M' } do
    if v == 'M' then
      layers[#layers + 1] = nn.MaxPool2d { k = 2, stride = 2 }
    else
      conv_block(layers, cin, ch(v, w), { bn = o.bn }); cin = ch(v, w)
    end
  end
  layers[#layers + 1] = nn.Flatten()
  layers[#layers + 1] = nn.Linear { cin = cin, cout = ch(512, w) }
  layers[#layers + 1] = nn.ReLU()
  if (o.dropout or 0) > 0 then layers[#layers + 1] = nn.Dropout { p = o.dropout } end
  layers[#layers + 1] = nn.Linear { cin = ch(512, w), cout = o.classes or 10 }
  return finish(layers, o, 'vgg16')
end

--- All-CNN-C (Springenberg et al. 2014): conv3x3 96, 96, 96/2, 192, 192, 192/2, conv3x3 192 valid,
--- conv1x1 192, conv1x1 10, global average pooling; ReLU after each conv; optional batch norm.
function M.allcnn_c(o)
  o = o or {}
  local w, layers = o.width or 1, {}
  local a, b = ch(96, w), ch(192, w)
  conv_block(layers, 3, a, o)
  conv_block(layers, a, a, o)
  conv_block(layers, a, a, { bn = o.bn, stride = 2 })
  conv_block(layers, a, b, o)
  conv_block(layers, b, b, o)
  conv_block(layers, b, b, { bn = o.bn, stride = 2 })
  conv_block(layers, b, b, { bn = o.bn, pad = 0 })
  conv_block(layers, b, b, { bn = o.bn, k = 1, pad = 0 })
  conv_block(layers, b, o.classes or 10, { bn = o.bn, k = 1, pad = 0 })
  layers[#layers + 1] = nn.GlobalAvgPool2d()
  return finish(layers, o, 'allcnn_c')
end

--- A small VGG-style net with batch norm (the main job's model before `quick`), six conv layers (widths
--- 32, 64 | 128 | 128, 256 | 256, pooled after the 2nd, 3rd and 5th), global pooling and one
--- linear layer. Trains to 85 %+ on CIFAR-10 in minutes on two cores; width scales it.
function M.fast(o)
  o = o or {}
  local w, layers = o.width or 1, {}
  local c = { ch(32, w), ch(64, w), ch(128, w), ch(128, w), ch(256, w), ch(256, w) }
  local bn = { bn = o.bn ~= false }
  conv_block(layers, 3, c[1], bn)
  conv_block(layers, c[1], c[2], bn)
  layers[#layers + 1] = nn.MaxPool2d { k = 2 }
  conv_block(layers, c[2], c[3], bn)
  layers[#layers + 1] = nn.MaxPool2d { k = 2 }
  conv_block(layers, c[3], c[4], bn)
  conv_block(layers, c[4], c[5], bn)
  layers[#layers + 1] = nn.MaxPool2d { k = 2 }
  conv_block(layers, c[5], c[6], bn)
  layers[#layers + 1] = nn.GlobalAvgPool2d()
  layers[#layers + 1] = nn.Linear { cin = c[6], cout = o.classes or 10 }
  return finish(layers, o, 'fast')
end

--- The main job's model: a 12-channel stem, then three conv groups of widths 32 | 128 | 256, each
--- conv3x3, max pool 2x2, BN + ReLU, conv3x3, BN + ReLU (pooling before the batch norm, so that its
--- BN + ReLU run on a quarter of the map), max-pooled from 4x4 to 1x1, one linear layer: the layout
--- of the fastest published CIFAR-10 training recipes' network, narrower. 86.79 % on the CIFAR-10
--- test set in 17 epochs, at 1.4 times the fast model's images/s (results/time_to_baseline/).
function M.quick(o)
  o = o or {}
  local w, layers = o.width or 1, {}
  local cin = ch(12, w)
  conv_block(layers, 3, cin, { bn = true })
  for _, c in ipairs { ch(32, w), ch(128, w), ch(256, w) } do
    layers[#layers + 1] = nn.Conv2d { cin = cin, cout = c, k = 3, stride = 1, pad = 1, bias = false }
    layers[#layers + 1] = nn.MaxPool2d { k = 2 }
    layers[#layers + 1] = nn.BatchNorm2d { c = c }
    layers[#layers + 1] = nn.ReLU()
    conv_block(layers, c, c, { bn = true })
    cin = c
  end
  layers[#layers + 1] = nn.MaxPool2d { k = 4 }
  layers[#layers + 1] = nn.Flatten()
  layers[#layers + 1] = nn.Linear { cin = cin, cout = o.classes or 10 }
  return finish(layers, o, 'quick')
end

--- A model by name with options: M.build('vgg16', {width=0.25}).
function M.build(name, o)
  local f = M[name]
  if type(f) ~= 'function' or name == 'build' then
    error("rft.models: unknown model '" .. tostring(name) .. "' (vgg16, allcnn_c, fast, quick)", 2)
  end
  return f(o)
end

return M
