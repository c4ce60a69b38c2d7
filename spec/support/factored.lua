-- What the specs of the factored tap gradients (rft.loss.fma and rft.loss.invariance with
-- factored = true) share: a training step run with the gradients as tensors and in factored form
-- must give the same numbers, bit for bit.
local rft = require 'rft'
local assert = require 'luassert'   -- busted's assert lives in the spec's environment, not in _G

local M = {}

--- The tap gradients written out (name -> flat table), each checked to be in the form asked for.
function M.written_out(tg, factored)
  local out = {}
  for name, t in pairs(tg) do
    assert.equal(factored, rft.loss.is_factored(t), name)
    out[name] = (factored and t:tensor() or t):to_table()
  end
  return out
end

--- One case per entry of `cases`, named by what(case): step(case) with case.factored false and then
--- true returns tables whose every field is the same.
function M.same_as_tensor_form(cases, what, step)
  local it = getfenv(2).it
  for _, case in ipairs(cases) do
    it("gives the tensor form's numbers (" .. what(case) .. ')', function()
      case.factored = false
      local want = step(case)
      case.factored = true
      local got = step(case)
      for k, v in pairs(want) do assert.same(v, got[k], k) end
    end)
  end
end

return M
