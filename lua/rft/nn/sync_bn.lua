-- Synchronised batch norm for data-parallel training (`--sync-bn`): the training-mode statistics of
-- nn.BatchNorm2d taken over the global batch of every rank, so that N ranks give one process's
-- numbers. Composed from the engine's batch-norm ops (any device): per-channel quantities of length C
-- cross the ranks, each rank's maps stay where they are.
--
-- Forward, rank r with M_r = N_r·H·W values per channel, local mean m_r and biased variance v_r:
--   mean = Σ_r M_r m_r / M,   var = Σ_r M_r (v_r + (m_r − mean)²) / M   (Chan's combination, no
--   E[x²] − E[x]² cancellation), then y = (x − mean)·invstd·w + b, which is the evaluation formula with
--   (mean, var) in place of the running statistics. Running statistics follow PyTorch's rule with M.
-- Backward: each rank's loss is the mean over its own rows, and the training loop scales rank r's
-- gradients by k_r = N·M_r/M (1 when the batch splits evenly) before averaging them over the N ranks;
-- so k_r·dy_r is N times the global batch's dy, and k_r·dx_r must be N times its dx:
--   dx_r = w·invstd·dy_r − w·invstd·(S1 + xhat·S2)/(k_r M),  S1 = Σ_r k_r Σ dy_r,  S2 = Σ_r k_r Σ dy_r·xhat.
--   The evaluation-mode backward (statistics held) gives w·invstd·dy_r and the local sums Σ dy_r and
--   Σ dy_r·xhat; the rest is affine in xhat per channel, which the evaluation forward computes with
--   weight −w·invstd·S2/(k_r M) and bias −w·invstd·S1/(k_r M). The parameter gradients keep the local
--   sums: the loop's weighted mean of gradients does the rest.
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local dist = require 'rft.dist'
local C, check = F.C, F.check

local M = {}

local function scratch(m, name, like)
  local t = m[name]
  if not t or t:device() ~= like:device() then
    t = T.new { shape = like:shape(), dtype = 'f32', device = like:device() }
    m[name] = t
  end
  return t:resize(like:shape())
end

local function set(t, values) return t:copy_from(T.from_table(values, { #values }, 'f32', 'cpu')) end

function M.forward(m, x)
  local c = m.c
  local mr = x:size(1) * x:size(3) * x:size(4)
  local rm, rv = scratch(m, 'sync_rm', m.running_mean), scratch(m, 'sync_rv', m.running_var)
  rm:fill(0); rv:fill(1)
  check(C.rft_batchnorm2d_forward_train(m.args, x, m.weight, m.bias, rm, rv, m.output, m.save_mean, m.save_invstd))
  local lm, li = m.save_mean:to_table(), m.save_invstd:to_table()
  local eps = m.args.eps
  local part = { mr }
  for i = 1, c do part[i + 1] = mr * lm[i] end
  part = dist.allreduce_numbers(part, 'sum')
  local total, mean = part[1], {}
  for i = 1, c do mean[i] = part[i + 1] / total end
  local sq = {}
  for i = 1, c do
    local v = 1 / (li[i] * li[i]) - eps
    sq[i] = mr * (v + (lm[i] - mean[i]) ^ 2)
  end
  sq = dist.allreduce_numbers(sq, 'sum')
  local var, invstd = {}, {}
  for i = 1, c do var[i] = sq[i] / total; invstd[i] = 1 / math.sqrt(var[i] + eps) end
  set(m.save_mean, mean); set(m.save_invstd, invstd)
  set(rm, mean); set(rv, var)
  check(C.rft_batchnorm2d_forward_eval(m.args, x, m.weight, m.bias, rm, rv, m.output))
  local mom, old_m, old_v = m.args.momentum, m.running_mean:to_table(), m.running_var:to_table()
  for i = 1, c do
    old_m[i] = (1 - mom) * old_m[i] + mom * mean[i]
    old_v[i] = (1 - mom) * old_v[i] + mom * var[i] * total / (total - 1)
  end
  set(m.running_mean, old_m); set(m.running_var, old_v)
  m.sync_total = total
  return m.output
end

function M.backward(m, x, dy, scale)
  local c = m.c
  local mr = x:size(1) * x:size(3) * x:size(4)
  local rm, rv = scratch(m, 'sync_rm', m.running_mean), scratch(m, 'sync_rv', m.running_var)   -- mean, var
  local s2t, s1t = scratch(m, 'sync_s2', m.gradWeight):fill(0), scratch(m, 'sync_s1', m.gradBias):fill(0)
  check(C.rft_batchnorm2d_backward_eval(x, m.weight, rm, rv, m.args.eps, dy, 1, m.gradInput, s2t, s1t))
  check(C.rft_tensor_axpy(scale or 1, s2t, m.gradWeight))
  check(C.rft_tensor_axpy(scale or 1, s1t, m.gradBias))
  local s1, s2 = s1t:to_table(), s2t:to_table()
  local total, w, invstd = m.sync_total, m.weight:to_table(), m.save_invstd:to_table()
  local kr = dist.size() * mr / total
  local all = {}
  for i = 1, c do all[i], all[c + i] = kr * s1[i], kr * s2[i] end
  all = dist.allreduce_numbers(all, 'sum')
  local cw, cb = {}, {}
  for i = 1, c do
    local k = w[i] * invstd[i] / (kr * total)
    cw[i], cb[i] = -k * all[c + i], -k * all[i]
  end
  local corr = scratch(m, 'sync_corr', x)
  check(C.rft_batchnorm2d_forward_eval(m.args, x, set(s2t, cw), set(s1t, cb), rm, rv, corr))
  check(C.rft_tensor_axpy(1, corr, m.gradInput))
  return m.gradInput
end

return M
