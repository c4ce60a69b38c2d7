-- A two-view fixture for the fine-tuning step specs: a small fast model with non-trivial running
-- statistics (so evaluation-mode batch norm is really exercised) and batch norm frozen, a batch x,
-- its distorted copy xt and labels y.
local rft = require 'rft'

return function()
  local net = rft.models.fast { width = 0.25, seed = 3 }
  for _, m in ipairs(net.modules) do
    if m.running_var then rft.rand.uniform(m.running_var, { seed = 1, lo = 0.5, hi = 2 }) end
  end
  rft.robust.freeze_bn(net)
  local x = rft.rand.uniform(rft.tensor { shape = { 4, 3, 32, 32 } }, { seed = 1 })
  local xt = rft.rand.uniform(rft.tensor { shape = { 4, 3, 32, 32 } }, { seed = 2 })
  local y = rft.from_table({ 1, 5, 0, 9 }, { 4 }, 'i32')
  return net, x, xt, y
end
