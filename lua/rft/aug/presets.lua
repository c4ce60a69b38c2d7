-- rft.aug.presets: the papers' augmentations as ready pipelines. aug.paper.cifar10 and
-- aug.paper.imagenet hold the seven Table 1 augmentations of the first paper and the two combined
-- pipelines (rft.aug.distortions holds the list and the values; combined order B, S, GB, GN, SAP,
-- DESIGN.md §4); aug.heavier{} is the second paper's
-- random scheme and aug.G() its invariance probe (every range halved, parameters at the extremes).
-- The Table 1 values are presets, not truths for another model: aug.calibrate finds a model's own.
local P = require 'rft.aug.pipeline'
local S = require 'rft.aug.steps'
local D = require 'rft.aug.dist'

local M = {}

local R = require 'rft.aug.distortions'

-- The row names of the seven distortions (rft.aug.distortions' order) and of the combined pipelines.
M.rows = R.names
M.combined_rows = { 'Combined+', 'Combined-' }

--- A preset set from the seven strengths, keyed by rft.aug.distortions' fields: t = {B_plus=,
--- B_minus=, S_plus=, S_minus=, GN=, GB={size=, sigma=}, SAP={p=, q=, rho=}} (a number is the
--- strength alone; the other parameters keep Table 1's CIFAR-10 values). Entries are reachable by
--- field (B_plus) and by row name ('B+'); the two combined pipelines too (combined_plus, 'Combined+').
function M.build(t)
  local s = {}
  for _, d in ipairs(R.list) do
    local v = t[d.field]
    if v == nil then error('aug.build: no value for ' .. d.field .. ' (' .. d.name .. ')', 2) end
    s[d.field] = R.make(d.name, v)
    s[d.name] = s[d.field]
  end
  for _, c in ipairs(R.combined) do
    local steps = {}
    for i, n in ipairs(c.parts) do steps[i] = s[n] end
    s[c.field] = P.chain(steps, { name = c.name })
    s[c.name] = s[c.field]
  end
  s.values = t
  return s
end

--- The Table 1 values of a dataset ('cifar10' or 'imagenet') in the shape M.build takes.
function M.table1_values(dataset)
  local t = {}
  for _, d in ipairs(R.list) do
    local p = d[dataset]
    local n = 0
    for _ in pairs(p) do n = n + 1 end
    if n == 1 then t[d.field] = p[d.param] else
      t[d.field] = {}
      for k, v in pairs(p) do t[d.field][k] = v end
    end
  end
  return t
end

M.paper = {
  -- paper 1, Table 1 (CIFAR-10) and the ImageNet values of its text
  cifar10 = M.build(M.table1_values('cifar10')),
  imagenet = M.build(M.table1_values('imagenet')),
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
