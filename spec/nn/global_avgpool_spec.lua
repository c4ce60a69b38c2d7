-- Global average pooling: plane means, the spread-out gradient against central differences, and
-- bad arguments.
local rft = require 'rft'
local op = require 'support.opcheck'

describe('global_avgpool', function()
  it('averages each (H,W) plane into (N,C)', function()
    local x = rft.from_table({ 1, 2, 3, 4, 10, 20, 30, 40, -1, -1, -1, -5 }, { 3, 1, 2, 2 })
    local y = op.out()
    op.call('rft_global_avgpool_forward', x, y)
    assert.same({ 3, 1 }, y:shape())
    assert.same({ 2.5, 25, -2 }, y:to_table())
  end)

  it('spreads dy / (H*W) over each plane', function()
    local x = rft.tensor { shape = { 1, 2, 2, 2 } }
    local dx = op.out()
    op.call('rft_global_avgpool_backward', x, rft.from_table({ 4, -8 }, { 1, 2 }), dx)
    assert.same({ 1, 2, 2, 2 }, dx:shape())
    assert.same({ 1, 1, 1, 1, -2, -2, -2, -2 }, dx:to_table())
  end)

  it('has the gradient of central differences', function()
    local x = op.randn({ 2, 3, 5, 4 }, 7)
    local r = op.randn({ 2, 3 }, 8)
    local y, dx = op.out(), op.out()
    local function loss() op.call('rft_global_avgpool_forward', x, y); return op.dot(y, r) end
    loss()
    op.call('rft_global_avgpool_backward', x, r, dx)
    op.gradcheck('global_avgpool', x, loss, dx, { eps = 1e-2, tol = 1e-3 })
  end)

  it('says what is wrong with bad arguments', function()
    assert.error_matches(op.calling('rft_global_avgpool_forward', rft.tensor { shape = { 2, 3, 4 } }, op.out()),
      'global_avgpool: input must be %(N,C,H,W%), got %[2,3,4%]')
    assert.error_matches(op.calling('rft_global_avgpool_backward', rft.tensor { shape = { 2, 3, 4, 4 } },
      rft.tensor { shape = { 2, 4 } }, op.out()),
      'global_avgpool_backward: dy has shape %[2,4%], expected %[2,3%]')
  end)
end)
