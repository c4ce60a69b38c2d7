-- SGD: several steps against torch.optim.SGD (momentum, Nesterov, weight decay, plain) and against
-- a Lua transcription of the documented formula, and bad arguments.
local ffi = require 'ffi'
local rft = require 'rft'
local fx = require 'support.fixture'
local op = require 'support.opcheck'

local function sgd_args(lr, momentum, wd, nesterov)
  return ffi.new('rft_sgd_args', { lr, momentum, wd, nesterov and 1 or 0 })
end

local cases = {
  momentum = { 0.1, 0.9, 5e-4, false },
  nesterov = { 0.1, 0.9, 5e-4, true },
  plain = { 0.05, 0.0, 1e-2, false },
}

-- torch.optim.SGD's documented update, dampening 0, in double
local function lua_sgd(p, buf, g, step, lr, mu, wd, nesterov)
  for i = 1, #p do
    local gi = g[i] + wd * p[i]
    local s = gi
    if mu ~= 0 then
      buf[i] = step == 1 and gi or mu * buf[i] + gi
      s = nesterov and gi + mu * buf[i] or buf[i]
    end
    p[i] = p[i] - lr * s
  end
end

describe('sgd', function()
  local ref = fx.load('sgd')

  for name, c in pairs(cases) do
    it('follows torch.optim.SGD and the documented formula for 5 steps (' .. name .. ')', function()
      local param = ref.param0:copy()
      local buf = rft.tensor { shape = { 10 } }:fill(123)   -- whatever is there before the first step
      local want = ref[name .. '.params']
      local lp, lbuf = ref.param0:to_table(), {}
      for step = 1, 5 do
        local g = ref.grads:view(step - 1, step):reshape { 10 }
        op.call('rft_sgd_step', sgd_args(unpack(c)), step == 1 and 1 or 0, g, param, c[2] > 0 and buf or nil)
        fx.assert_close(param, want:view(step - 1, step):reshape { 10 }, 1e-6, 1e-5, name .. ' step ' .. step)
        lua_sgd(lp, lbuf, g:to_table(), step, c[1], c[2], c[3], c[4])
        local got = param:to_table()
        for i = 1, 10 do assert.near(lp[i], got[i], 1e-5 + 1e-5 * math.abs(lp[i])) end
      end
    end)
  end

  it('updates a large flat buffer on several threads like the formula says', function()
    local n = 100000
    local p, g, buf = op.randn({ n }, 50), op.randn({ n }, 51), rft.tensor { shape = { n } }
    local p0 = p:to_table()
    op.call('rft_sgd_step', sgd_args(0.01, 0.9, 0, true), 1, g, p, buf)
    local pp, gp = p:data(), g:data()
    for i = 0, n - 1, 997 do
      assert.near(p0[i + 1] - 0.01 * (gp[i] + 0.9 * gp[i]), pp[i], 1e-6)
    end
  end)

  it('says what is wrong with bad arguments', function()
    local p = rft.tensor { shape = { 4 } }
    assert.error_matches(op.calling('rft_sgd_step', sgd_args(0.1, 0.9, 0, false), 1, rft.tensor { shape = { 5 } }, p,
      rft.tensor { shape = { 4 } }), 'sgd: grad %[5%] has 5 elements, param %[4%] has 4')
    assert.error_matches(op.calling('rft_sgd_step', sgd_args(0.1, 0.9, 0, false), 1, p, p, nil),
      'sgd: momentum 0.9 needs a momentum_buf')
    assert.error_matches(op.calling('rft_sgd_step', sgd_args(0.1, 0, 0, true), 1, p, p, nil),
      'sgd: nesterov needs a momentum > 0')
    assert.error_matches(op.calling('rft_sgd_step', sgd_args(-1, 0, 0, false), 1, p, p, nil),
      'sgd: lr = %-1, expected >= 0')
  end)
end)
