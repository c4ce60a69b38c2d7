-- rft.models against their PyTorch twins (tools/fixtures/models.py): the PyTorch state_dict,
-- saved as safetensors, loads unchanged and gives the same logits; shapes and parameter counts.
local rft = require 'rft'
local fx = require 'support.fixture'

describe('a model', function()
  local cases = {
    { 'fast_w0.25', 'fast', { width = 0.25 } },
    { 'vgg16_w0.0625_bn', 'vgg16', { width = 0.0625, bn = true } },
    { 'allcnn_c_w0.0834', 'allcnn_c', { width = 0.0834 } },
    { 'quick_w0.25', 'quick', { width = 0.25 } },
  }
  for _, c in ipairs(cases) do
    it(c[2] .. ' loads a PyTorch state_dict unchanged and matches its logits', function()
      local net = rft.models.build(c[2], c[3])
      net:load_state_dict(rft.safetensors.load('spec/fixtures/models/' .. c[1] .. '.safetensors'))
      net:evaluate()
      local f = fx.load('models/' .. c[1])
      fx.assert_close(net:forward(f.x), f.logits, 1e-4, 1e-3, c[1] .. ' logits')
    end)
  end

  it('quick trains as its PyTorch twin: batch statistics after the pooling, every gradient', function()
    local net = rft.models.quick { width = 0.25 }
    net:load_state_dict(rft.safetensors.load('spec/fixtures/models/quick_w0.25.safetensors'))
    net:train()
    local f = fx.load('models/quick_w0.25_train')
    -- float32 against float32 through 7 convolutions (Winograd or direct, each path's rounding) and
    -- 7 batch norms over as few as 4 x 4 x 4 values a channel: errors of ~1e-5 relative, amplified
    -- where a channel's variance is small; 1e-3 relative bounds them with margin
    fx.assert_close(net:forward(f.x), f.logits, 1e-4, 1e-3, 'quick training-mode logits')
    net:zero_grad()
    fx.assert_close(net:backward(f.x, f.r), f.grad_x, 1e-5, 2e-3, 'quick input gradient')
    local n = 0
    for i, m in ipairs(net.modules) do
      for _, k in ipairs { 'weight', 'bias' } do
        local g = m[k == 'weight' and 'gradWeight' or 'gradBias']
        if g then
          local want = f['grad.' .. (i - 1) .. '.' .. k]
          local scale = math.max(want:max(), -want:min())
          fx.assert_close(g, want, 2e-3 * scale, 2e-3, 'quick gradient of ' .. (i - 1) .. '.' .. k)
          n = n + 1
        end
      end
    end
    assert.equal(23, n)   -- 7 convolutions, 7 batch norms (weight and bias), the linear layer's two
    assert.equal(7, #net:taps())
  end)

  it('vgg16 has the CIFAR VGG-16 layout and parameter count', function()
    local net = rft.models.vgg16 { width = 1 }
    local params = net:parameters()
    local n = 0
    for _, p in ipairs(params) do n = n + p:numel() end
    -- 13 convs 14,714,688 + linear 512*512+512 + 512*10+10
    assert.equal(14714688 + 262656 + 5130, n)
    local convs = 0
    for _, m in ipairs(net.modules) do if m.__typename == 'nn.Conv2d' then convs = convs + 1 end end
    assert.equal(13, convs)
    assert.equal(14, #net:taps())             -- 13 conv ReLUs and the classifier's
    assert.is_truthy(tostring(net):find('3x32x32 %-> 10'))
  end)

  it('allcnn_c maps 32x32 images to 10 class scores through 9 convolutions and global pooling', function()
    local net = rft.models.allcnn_c { width = 0.1 }
    local y = net:forward(rft.tensor { shape = { 2, 3, 32, 32 } })
    assert.same({ 2, 10 }, y:shape())
    assert.equal(9, #net:taps())
  end)

  it('is initialised from its seed alone', function()
    local a = rft.models.fast { width = 0.25, seed = 3 }
    local b = rft.models.fast { width = 0.25, seed = 3 }
    local c = rft.models.fast { width = 0.25, seed = 4 }
    assert.same(a.flat_params:to_table(), b.flat_params:to_table())
    assert.are_not.same(a.flat_params:to_table(), c.flat_params:to_table())
  end)

  it('says exactly which names and shapes of a state_dict do not match', function()
    local net = rft.models.fast { width = 0.25 }
    local sd = rft.safetensors.load('spec/fixtures/models/fast_w0.25.safetensors')
    sd['0.weight'] = rft.tensor { shape = { 8, 3, 5, 5 } }
    sd['1.bias'] = nil
    sd['99.weight'] = rft.tensor { shape = { 1 } }
    assert.error_matches(function() net:load_state_dict(sd) end,
      'load_state_dict: 0%.weight is f32 %[8,3,5,5%], the network expects f32 %[8,3,3,3%]; missing 1%.bias; unexpected 99%.weight')
  end)
end)
