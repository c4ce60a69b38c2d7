-- rft.aug.presets: the papers' augmentations as ready pipelines. aug.paper.cifar10 and
-- aug.paper.imagenet hold the seven Table 1 augmentations of the first paper and the two combined
-- pipelines, in the order B, S, GB, GN, SAP (DESIGN.md §4); aug.heavier{} is the second paper's
-- random scheme and aug.G() its invariance probe (every range halved, parameters at the extremes).
-- The Table 1 values are presets, not truths for another model: aug.calibrate finds a model's own.
local P = require 'rft.aug.pipeline'
local S = require 'rft.aug.steps'
local D = require 'rft.aug.dist'

local M = {}

-- The row names of the robustness tables, in the paper's order.
M.rows = { 'B+', 'B-', 'S+', 'S-', 'GN', 'GB', 'SAP' }
M.combined_rows = { 'Combined+', 'Combined-' }

--- A preset set from the seven strengths: t = {B_plus=, B_minus=, S_plus=, S_minus=, GN=, GB=
--- {size=, sigma=}, SAP={p=, q=, rho=}}. Entries are reachable by field (B_plus) and by row name ('B+').
function M.build(t)
  local s = {
    B_plus = S.brightness { delta = t.B_plus }:named('B+'),
    B_minus = S.brightness { delta = t.B_minus }:named('B-'),
    S_plus = S.saturation { alpha = t.S_plus }:named('S+'),
    S_minus = S.saturation { alpha = t.S_minus }:named('S-'),
    GN = S.gaussian_noise { sigma = t.GN }:named('GN'),
    GB = S.gaussian_blur { size = t.GB.size or 3, sigma = t.GB.sigma }:named('GB'),
    SAP = S.salt_pepper { p = t.SAP.p, q = t.SAP.q or 0.5, rho = t.SAP.rho or 0.5 }:named('SAP'),
  }
  -- photometric first, then blur, then noise
  s.combined_plus = P.chain({ s.B_plus, s.S_plus, s.GB, s.GN, s.SAP }, { name = 'Combined+' })
  s.combined_minus = P.chain({ s.B_minus, s.S_minus, s.GB, s.GN, s.SAP }, { name = 'Combined-' })
  s['B+'], s['B-'], s['S+'], s['S-'] = s.B_plus, s.B_minus, s.S_plus, s.S_minus
  s['Combined+'], s['Combined-'] = s.combined_plus, s.combined_minus
  s.values = t
  return s
end

M.paper = {
  -- paper 1, Table 1 (CIFAR-10) and the ImageNet values of its text
  cifar10 = M.build { B_plus = 0.39, B_minus = -0.36, S_plus = 6.0, S_minus = 0.0, GN = 0.075,
                      GB = { size = 3, sigma = 0.675 }, SAP = { p = 0.025, q = 0.5, rho = 0.5 } },
  imagenet = M.build { B_plus = 0.43, B_minus = -0.32, S_plus = 4.0, S_minus = 0.2, GN = 0.08,
                       GB = { size = 3, sigma = 1.175 }, SAP = { p = 0.01, q = 0.7, rho = 0.7 } },
}

-- The heavier scheme's half-ranges around the centre of each parameter.
M.heavier_ranges = {
  rotation = { 0, 22.5 },     -- degrees
  tx = { 0, 0.10 }, ty = { 0, 0.10 },   -- fraction of the side
  shear = { 0, 0.15 },        -- radians
  zoom_x = { 1, 0.15 }, zoom_y = { 1, 0.15 },
  brightness = { 0, 0.25 },
  contrast = { 1, 0.5 },
}

--- aug.heavier{scale=1, extremes=false}: the second paper's scheme, each parameter from a normal
--- centred in its range with sigma = range/4, redrawn until inside: rotation ±22.5°, translation ±10 %
--- of the side (rows and columns independently), shear ±0.15 rad, zoom x and y in [0.85, 1.15],
--- flip with p = 0.5, brightness ±0.25, contrast gamma in [0.5, 1.5]; order affine (one matrix about
--- the centre, bilinear, edge-replicate), flip, brightness, contrast. scale multiplies every
--- half-range; extremes=true takes one of the two ends of each range, each with probability 1/2.
function M.heavier(o)
  o = o or {}
  local scale = o.scale or 1
  if type(scale) ~= 'number' or scale < 0 then error('aug.heavier: scale must be a number >= 0', 2) end
  local function param(name)
    local r = M.heavier_ranges[name]
    local lo, hi = r[1] - r[2] * scale, r[1] + r[2] * scale
    if o.extremes then return D.choice { lo, hi } end
    return D.truncnormal(lo, hi)
  end
  local steps = {
    S.affine { rotation = param('rotation'), tx = param('tx'), ty = param('ty'), shear = param('shear'),
               zoom_x = param('zoom_x'), zoom_y = param('zoom_y'), border = 'replicate' },
    S.hflip { p = 0.5 },
    S.brightness { delta = param('brightness') },
    S.contrast { gamma = param('contrast') },
  }
  local name = o.name or (o.extremes and scale == 0.5 and 'G' or 'heavier')
  return P.chain(steps, { name = name })
end

--- aug.G(): the invariance probe G of the second paper (its 2.2): the heavier scheme with every range
--- halved, each parameter at one of the two ends: rotation ±11.25°, translation ±5 %, shear ±0.075 rad,
--- zoom 0.925 or 1.075 per axis, flip or not, brightness ±0.125, contrast 0.75 or 1.25.
function M.G() return M.heavier { scale = 0.5, extremes = true, name = 'G' } end

return M
