-- Helpers for the layer, loss, optimizer and data-path specs: call an engine function and turn a
-- non-zero status into a Lua error carrying rft_last_error() (so assert.error_matches can read it),
-- random tensors, and the central-difference gradient check STYLE.md asks for.
local ffi = require 'ffi'
local rft = require 'rft'

local M = {}

--- C.fn(...) or error(message). Use as M.call('rft_relu_forward', x, y).
function M.call(name, ...)
  local rc = rft.C[name](...)
  if rc ~= 0 then error(ffi.string(rft.C.rft_last_error()), 0) end
end

--- f(...) for an engine function f itself, or error(message).
function M.run(f, ...)
  local rc = f(...)
  if rc ~= 0 then error(ffi.string(rft.C.rft_last_error()), 0) end
end

--- A function that calls C.fn(...) with these arguments, for assert.error_matches.
function M.calling(name, ...)
  local args, n = { ... }, select('#', ...)
  return function() M.call(name, unpack(args, 1, n)) end
end

--- f32 tensor of the shape, N(0,1) * std + mean from a seed.
function M.randn(shape, seed, std, mean)
  return rft.rand.normal(rft.tensor { shape = shape }, { seed = seed or 1, std = std or 1, mean = mean or 0 })
end

--- An empty tensor of a dtype for an op to resize.
function M.out(dtype) return rft.tensor { shape = { 0 }, dtype = dtype or 'f32' } end

--- sum_i a[i] * b[i] in double.
function M.dot(a, b)
  local p, q, s = a:data(), b:data(), 0
  for i = 0, a:numel() - 1 do s = s + p[i] * q[i] end
  return s
end

--- Central differences: for every element of x (f32, CPU), the derivative of loss() (a Lua number
--- computed from x's current values) against `grad` (a tensor with x's element count), compared by
--- ||num - grad|| / max(||num||, ||grad||) <= tol. eps is the perturbation; the step actually taken
--- in f32 is used in the quotient.
function M.gradcheck(what, x, loss, grad, o)
  o = o or {}
  local eps, tol = o.eps or 1e-2, o.tol or 1e-2
  local p, g, n = x:data(), grad:data(), x:numel()
  assert(grad:numel() == n, what .. ': gradient has ' .. grad:numel() .. ' elements, x has ' .. n)
  local num = {}
  for i = 0, n - 1 do
    local old = p[i]
    p[i] = old + eps; local up = p[i]; local lp = loss()
    p[i] = old - eps; local dn = p[i]; local lm = loss()
    p[i] = old
    num[i] = (lp - lm) / (up - dn)
  end
  local d2, n2, g2, worst, at = 0, 0, 0, 0, 0
  for i = 0, n - 1 do
    local d = num[i] - g[i]
    d2, n2, g2 = d2 + d * d, n2 + num[i] ^ 2, g2 + g[i] ^ 2
    if math.abs(d) > worst then worst, at = math.abs(d), i end
  end
  local err = math.sqrt(d2) / math.max(math.sqrt(n2), math.sqrt(g2), 1e-12)
  assert(err <= tol, string.format('%s: relative gradient error %.3g > %g (worst at [%d]: numeric %.6g, analytic %.6g)',
    what, err, tol, at, num[at], g[at]))
  return err
end

return M
