-- rft.invariance: the invariance score of the second paper (eq. 2),
--   sigma_i = 1 - d(f(x_i), f(G(x_i))) / (1/N sum_j d(f(x_i), f(x_j))),   d = mean squared difference,
-- per layer, with the denominator in O(N D) from ||f_i||^2/D - 2 f_i.fbar/D + mean_j ||f_j||^2/D.
-- score(f, g) works on whole feature matrices; Scorer streams a test set through a network batch
-- by batch (two passes: statistics, then scores), so feature maps never sit in memory all at once.
local ffi = require 'ffi'
local rft = require 'rft'

local M = {}

--- f, g: f32 [N, D...] features of x_i and of G(x_i) -> f32 [N] scores.
function M.score(f, g)
  local n = #f
  local d = f:numel() / n
  if g:numel() ~= f:numel() then
    error(string.format('rft.invariance.score: g has %d values, f has %d', g:numel(), f:numel()), 2)
  end
  local fp, gp = f:data(), g:data()
  local mean = ffi.new('double[?]', d)
  local sq = ffi.new('double[?]', n)
  local msq = 0
  for i = 0, n - 1 do
    local s, row = 0, fp + i * d
    for k = 0, d - 1 do local v = row[k]; s = s + v * v; mean[k] = mean[k] + v end
    sq[i] = s; msq = msq + s
  end
  for k = 0, d - 1 do mean[k] = mean[k] / n end
  msq = msq / n
  local out = rft.tensor { shape = { n } }
  local op = out:data()
  for i = 0, n - 1 do
    local dot, num, row, grow = 0, 0, fp + i * d, gp + i * d
    for k = 0, d - 1 do
      dot = dot + row[k] * mean[k]
      local t = row[k] - grow[k]; num = num + t * t
    end
    local den = (sq[i] - 2 * dot + msq) / d
    op[i] = den > 0 and 1 - (num / d) / den or 0
  end
  return out
end

return M
