-- The two-view fine-tuning step: with batch norm frozen, one pass over [x ; x~] equals two
-- separate passes (outputs, taps and parameter gradients), and the three methods differ only in the
-- loss that reads the pass.
local rft = require 'rft'
local fx = require 'support.fixture'

local setup = require 'support.two_view'

describe('the two-view step', function()
  it('gives each view the logits and taps of its own forward pass when batch norm is frozen', function()
    local net, x, xt, y = setup()
    local lx = net:forward(x):copy()
    local tx = net:taps()[3].tensor:copy()
    local lxt = net:forward(xt):copy()
    rft.robust.step('AT', net, x, xt, y)
    local both = net.output
    fx.assert_close(both:view(0, 4), lx, 1e-5, 1e-4, 'clean logits')
    fx.assert_close(both:view(4, 8), lxt, 1e-5, 1e-4, 'distorted logits')
    fx.assert_close(net:taps()[3].tensor:view(0, 4), tx, 1e-5, 1e-4, 'tap relu3 of the clean view')
  end)

  it('AT: gradients equal those of two separate passes with half the loss each', function()
    local net, x, xt, y = setup()
    net:zero_grad()
    rft.robust.step('AT', net, x, xt, y)
    local two_view = net.flat_grads:copy()
    net:zero_grad()
    for _, v in ipairs { x, xt } do
      local logits = net:forward(v)
      local _, g = rft.loss.cross_entropy(logits, y, { scale = 0.5 })
      net:backward(v, g)
    end
    fx.assert_close(two_view, net.flat_grads, 1e-6, 1e-3, 'parameter gradients')
  end)

  it('FMA and ST add their term to J0 on the clean view; a zero weight gives J0 alone', function()
    local net, x, xt, y = setup()
    net:zero_grad()
    local j0 = rft.robust.step('FMA', net, x, xt, y, { gamma = 0 })
    local g0 = net.flat_grads:copy()
    net:zero_grad()
    local clean = net:forward(x)
    local ce, g = rft.loss.cross_entropy(clean, y)
    net:backward(x, g)
    assert.near(ce, j0, 1e-5)
    fx.assert_close(g0, net.flat_grads, 1e-6, 1e-3, 'gamma = 0 gradients')
    net:zero_grad()
    local total, _, parts = rft.robust.step('FMA', net, x, xt, y, { gamma = 2 })
    assert.is_true(parts.extra > 0)
    assert.near(parts.j0 + parts.extra, total, 1e-9)
    local st_total, _, st_parts = rft.robust.step('ST', net, x, xt, y, { alpha = 0.5 })
    assert.near(st_parts.j0 + st_parts.extra, st_total, 1e-9)
    assert.near(ce, st_parts.j0, 1e-5)
    assert.error_matches(function() rft.robust.step('XYZ', net, x, xt, y) end, "unknown method 'XYZ' %(expected one of .*FMA")
  end)

  it('keeps batch-norm statistics unchanged while fine-tuning', function()
    local net, x, xt, y = setup()
    local bn = net.modules[2]
    local before = bn.running_mean:to_table()
    rft.robust.step('FMA', net, x, xt, y)
    assert.same(before, bn.running_mean:to_table())
  end)

  it('adds the seconds of its forward, loss and backward to rft.robust.timings when that is a table', function()
    local net, x, xt, y = setup()
    rft.robust.timings = {}
    rft.robust.step('FMA', net, x, xt, y)
    local first = rft.robust.timings.forward
    rft.robust.step('FMA', net, x, xt, y)
    local t = rft.robust.timings
    rft.robust.timings = nil
    for _, k in ipairs { 'forward', 'loss', 'backward' } do
      assert.is_true(type(t[k]) == 'number' and t[k] > 0, k)
    end
    assert.is_true(t.forward > first)   -- accumulated over both steps
    rft.robust.step('FMA', net, x, xt, y)   -- and nothing is timed without it
    assert.is_nil(rft.robust.timings)
  end)
end)
