-- rft.aug.distortions: the one registry of paper 1's seven distortions. Each entry: name (the row
-- of the tables), field (of a preset set: aug.paper.cifar10.B_plus), step (the rft.aug step) and its
-- strength parameter, the neutral strength and the bound calibration searches up to, the bisection's
-- resolution, and Table 1's parameters for CIFAR-10 and ImageNet. Presets, calibration, figures,
-- recipes and flag defaults all read this list; its order is the rows' order in Table 3.
local S = require 'rft.aug.steps'

local M = {}

M.list = {
  { name = 'B+', field = 'B_plus', step = 'brightness', param = 'delta', zero = 0, bound = 1, tol = 0.002,
    cifar10 = { delta = 0.39 }, imagenet = { delta = 0.43 } },
  { name = 'B-', field = 'B_minus', step = 'brightness', param = 'delta', zero = 0, bound = -1, tol = 0.002,
    cifar10 = { delta = -0.36 }, imagenet = { delta = -0.32 } },
  -- size stays 3 as in Table 1, so the strongest blur is close to a 3x3 box filter
  { name = 'GB', field = 'GB', step = 'gaussian_blur', param = 'sigma', zero = 0, bound = 10, tol = 0.005,
    cifar10 = { size = 3, sigma = 0.675 }, imagenet = { size = 3, sigma = 1.175 } },
  { name = 'GN', field = 'GN', step = 'gaussian_noise', param = 'sigma', zero = 0, bound = 1, tol = 0.001,
    cifar10 = { sigma = 0.075 }, imagenet = { sigma = 0.08 } },
  { name = 'SAP', field = 'SAP', step = 'salt_pepper', param = 'p', zero = 0, bound = 1, tol = 0.0005,
    cifar10 = { p = 0.025, q = 0.5, rho = 0.5 }, imagenet = { p = 0.01, q = 0.7, rho = 0.7 } },
  { name = 'S+', field = 'S_plus', step = 'saturation', param = 'alpha', zero = 1, bound = 50, tol = 0.02,
    cifar10 = { alpha = 6.0 }, imagenet = { alpha = 4.0 } },
  -- S- stops at alpha = 0 (grey)
  { name = 'S-', field = 'S_minus', step = 'saturation', param = 'alpha', zero = 1, bound = 0, tol = 0.002,
    cifar10 = { alpha = 0.0 }, imagenet = { alpha = 0.2 } },
}

--- The combined pipelines (paper eq. 7), in rft's order: photometric first, then blur, then noise.
M.combined = {
  { name = 'Combined+', field = 'combined_plus', parts = { 'B+', 'S+', 'GB', 'GN', 'SAP' } },
  { name = 'Combined-', field = 'combined_minus', parts = { 'B-', 'S-', 'GB', 'GN', 'SAP' } },
}

M.names = {}
M.by_name = {}
for i, d in ipairs(M.list) do
  M.names[i] = d.name
  M.by_name[d.name] = d
  M.by_name[d.field] = d
end

--- The registry entry of a distortion by row name or preset field; an unknown name is an error
--- listing the known ones.
function M.get(name)
  local d = M.by_name[name]
  if not d then
    error(string.format("rft.aug: unknown distortion '%s' (expected %s)", tostring(name), table.concat(M.names, ', ')), 3)
  end
  return d
end

--- The strength (the one searched parameter) of a distortion in Table 1: M.table1('GN', 'cifar10').
function M.table1(name, dataset)
  local d = M.get(name)
  return d[dataset or 'cifar10'][d.param]
end

--- The step of a distortion at a strength; fixed parameters (GB's size, SAP's q and rho) come from
--- `params` (a number is the strength alone) and default to the CIFAR-10 Table 1 values.
function M.make(name, params)
  local d = M.get(name)
  local o = {}
  for k, v in pairs(d.cifar10) do o[k] = v end
  if type(params) == 'table' then for k, v in pairs(params) do o[k] = v end else o[d.param] = params end
  return S[d.step](o):named(d.name)
end

return M
