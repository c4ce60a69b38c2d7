-- rft.aug: augmentations from Lua. Kernels (engine/aug/, DESIGN.md §4) as pipeline steps whose
-- parameters are numbers, per-image tensors or distributions; chains; the papers' presets; K x M
-- copies for the invariance loss; schedules (which pipeline for an epoch and batch); calibration of
-- strengths against a model. Every random draw is keyed by (seed, image id, step), so a distorted
-- image never depends on the batch, the threads or the device.
--
--   local aug = rft.aug
--   local p = aug.chain{ aug.brightness{delta=0.39}, aug.gaussian_noise{sigma=0.075} }
--   local xt = p:apply(x, {seed=7, ids=ids})      -- print(p) shows the order and the parameters
local P = require 'rft.aug.pipeline'
local S = require 'rft.aug.steps'
local D = require 'rft.aug.dist'
local presets = require 'rft.aug.presets'
local distortions = require 'rft.aug.distortions'

local aug = {
  -- steps
  brightness = S.brightness, contrast = S.contrast, saturation = S.saturation,
  gaussian_noise = S.gaussian_noise, gaussian_blur = S.gaussian_blur, salt_pepper = S.salt_pepper,
  affine = S.affine, hflip = S.hflip, crop = S.crop, affine_matrix = S.affine_matrix,
  identity = P.identity, chain = P.chain, copies = P.copies, is_pipeline = P.is_pipeline,
  -- per-image parameter distributions
  uniform = D.uniform, truncnormal = D.truncnormal, choice = D.choice, randint = D.randint,
  bernoulli = D.bernoulli, is_dist = D.is_dist,
  -- presets
  paper = presets.paper, heavier = presets.heavier, G = presets.G, build = presets.build,
  rows = presets.rows, distortions = distortions,
}

-- schedule, calibrate and figure load on first use
setmetatable(aug, {
  __index = function(t, k)
    local v
    if k == 'schedule' then v = require 'rft.aug.schedule'
    elseif k == 'calibrate' or k == 'family' or k == 'families' then
      local cal = require 'rft.aug.calibrate'
      rawset(t, 'calibrate', cal.calibrate); rawset(t, 'family', cal.family); rawset(t, 'families', cal.families)
      return rawget(t, k)
    elseif k == 'figure' then v = require 'rft.aug.figure'
    else return nil end
    rawset(t, k, v)
    return v
  end,
})

--- Presets built from a calibration result (as recipes/calibrate_cifar.lua saves it): {rows = {
--- {family='B+', strength=...}, ...}} or {['B+']=strength, ...}; missing rows keep the CIFAR-10 values.
function aug.from_calibration(cal)
  local v = presets.table1_values('cifar10')
  local function put(name, s)
    local d = distortions.by_name[name]
    if not d or type(s) ~= 'number' then return end
    if type(v[d.field]) == 'table' then v[d.field][d.param] = s else v[d.field] = s end
  end
  for _, r in ipairs(cal.rows or {}) do put(r.family, r.strength) end
  for k, s in pairs(cal) do put(k, s) end
  return presets.build(v)
end

return aug
