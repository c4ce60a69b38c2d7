-- rft.aug.steps: one constructor per engine kernel (engine/aug/*.c, DESIGN.md §4), each returning a
-- pipeline step. Parameters are numbers, per-image tensors or distributions (rft.aug.dist); modes
-- (border, per) are plain options. The step's run calls its kernel once with the resolved tensors.
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local D = require 'rft.aug.dist'
local P = require 'rft.aug.pipeline'
local C, check = F.C, F.check
local step, check_value = P.step, P.check_value

local M = {}

local borders = { reflect101 = C.RFT_BORDER_REFLECT101, reflect = C.RFT_BORDER_REFLECT,
                  replicate = C.RFT_BORDER_REPLICATE, constant = C.RFT_BORDER_CONSTANT, wrap = C.RFT_BORDER_WRAP }

local function border_code(name, what)
  local b = borders[name]
  if not b then
    error(string.format("%s: border '%s' is not one of reflect101, reflect, replicate, constant, wrap", what,
                        tostring(name)), 4)
  end
  return b
end

local function opts_of(o, what, allowed)
  if type(o) ~= 'table' then error(what .. ': expected a table of options', 3) end
  for k in pairs(o) do
    if not allowed[k] then
      local names = {}
      for n in pairs(allowed) do names[#names + 1] = n end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (expected %s)", what, tostring(k), table.concat(names, ', ')), 3)
    end
  end
  return o
end

local function set(list) local s = {} for _, v in ipairs(list) do s[v] = true end return s end

local function params_of(o, names, defaults, what)
  local p = {}
  for _, name in ipairs(names) do
    local v = o[name]
    if v == nil then v = defaults[name] end
    if v == nil then error(what .. ': ' .. name .. ' is required', 3) end
    p[name] = check_value(v, what .. ': ' .. name)
  end
  return p
end

--- aug.brightness{delta=0.39}: x + delta (B+ / B-).
function M.brightness(o)
  opts_of(o, 'aug.brightness', set { 'delta' })
  return step('brightness', { 'delta' }, true, params_of(o, { 'delta' }, {}, 'aug.brightness'), nil,
    function(_, x, y, P) check(C.rft_aug_brightness(P.delta, x, y), 5) end)
end

--- aug.contrast{gamma=1.25}: (x - channel mean)·gamma + channel mean.
function M.contrast(o)
  opts_of(o, 'aug.contrast', set { 'gamma' })
  return step('contrast', { 'gamma' }, true, params_of(o, { 'gamma' }, {}, 'aug.contrast'), nil,
    function(_, x, y, P) check(C.rft_aug_contrast(P.gamma, x, y), 5) end)
end

--- aug.saturation{alpha=6}: HSL saturation times alpha (S+ / S-).
function M.saturation(o)
  opts_of(o, 'aug.saturation', set { 'alpha' })
  return step('saturation', { 'alpha' }, true, params_of(o, { 'alpha' }, {}, 'aug.saturation'), nil,
    function(_, x, y, P) check(C.rft_aug_saturation(P.alpha, x, y), 5) end)
end

--- aug.gaussian_noise{sigma=0.075, mean=0}: x + N(mean, sigma²) per value (GN).
function M.gaussian_noise(o)
  opts_of(o, 'aug.gaussian_noise', set { 'sigma', 'mean' })
  return step('gaussian_noise', { 'mean', 'sigma' }, true,
    params_of(o, { 'mean', 'sigma' }, { mean = 0 }, 'aug.gaussian_noise'), nil,
    function(_, x, y, P, ctx)
      check(C.rft_aug_gaussian_noise(ctx.seed, ctx.stream, ctx.ids, P.mean, P.sigma, x, y), 5)
    end)
end

--- aug.gaussian_blur{size=3, sigma=0.675, border='reflect101'}: separable Gaussian blur (GB).
function M.gaussian_blur(o)
  opts_of(o, 'aug.gaussian_blur', set { 'size', 'sigma', 'border' })
  local border = o.border or 'reflect101'
  local b = border_code(border, 'aug.gaussian_blur')
  local s = step('gaussian_blur', { 'size', 'sigma' }, true,
    params_of(o, { 'size', 'sigma' }, { size = 3 }, 'aug.gaussian_blur'), { border = border },
    function(_, x, y, P) check(C.rft_aug_gaussian_blur(b, P.size, P.sigma, x, y), 5) end)
  s.opt_names = { 'border' }
  return s
end

--- aug.salt_pepper{p=0.025, q=0.5, rho=0.5, per='value'|'pixel'}: x + rho·m·(2b - 1) (SAP).
function M.salt_pepper(o)
  opts_of(o, 'aug.salt_pepper', set { 'p', 'q', 'rho', 'per' })
  local per = o.per or 'value'
  if per ~= 'value' and per ~= 'pixel' then
    error("aug.salt_pepper: per must be 'value' or 'pixel', got '" .. tostring(per) .. "'", 2)
  end
  local pp = per == 'pixel' and 1 or 0
  local s = step('salt_pepper', { 'p', 'q', 'rho' }, true,
    params_of(o, { 'p', 'q', 'rho' }, { q = 0.5, rho = 0.5 }, 'aug.salt_pepper'), { per = per },
    function(_, x, y, P, ctx)
      check(C.rft_aug_salt_pepper(pp, ctx.seed, ctx.stream, ctx.ids, P.p, P.q, P.rho, x, y), 5)
    end)
  s.opt_names = { 'per' }
  return s
end

--- aug.hflip{p=0.5} (each image flipped with probability p) or aug.hflip{flip=...} (per-image 0/1).
function M.hflip(o)
  o = o or {}
  opts_of(o, 'aug.hflip', set { 'p', 'flip' })
  local flip = o.flip
  if flip == nil then
    local p = o.p == nil and 0.5 or o.p
    if type(p) ~= 'number' then error('aug.hflip: p must be a number (use flip= for per-image values)', 2) end
    flip = D.bernoulli(p)
  end
  return step('hflip', { 'flip' }, true, { flip = check_value(flip, 'aug.hflip: flip') }, nil,
    function(_, x, y, P) check(C.rft_aug_hflip(P.flip, x, y), 5) end)
end

--- aug.crop{pad=4, border='constant'}: a random crop of the image padded by `pad` (shifts dx, dy
--- drawn in -pad..pad), or given shifts aug.crop{dx=..., dy=...}.
function M.crop(o)
  opts_of(o, 'aug.crop', set { 'pad', 'dx', 'dy', 'border' })
  local pad = o.pad or 4
  local border = o.border or 'constant'
  local b = border_code(border, 'aug.crop')
  local p = { dx = check_value(o.dx or D.randint(-pad, pad), 'aug.crop: dx'),
              dy = check_value(o.dy or D.randint(-pad, pad), 'aug.crop: dy') }
  local s = step('crop', { 'dx', 'dy' }, false, p, { border = border },
    function(_, x, y, P) check(C.rft_aug_crop(b, P.dx, P.dy, x, y), 5) end)
  s.opt_names = { 'border' }
  return s
end

-- 3x3 affine matrices as {a,b,c,d,e,f} (last row 0 0 1).
local function mul(A, B)
  return { A[1] * B[1] + A[2] * B[4], A[1] * B[2] + A[2] * B[5], A[1] * B[3] + A[2] * B[6] + A[3],
           A[4] * B[1] + A[5] * B[4], A[4] * B[2] + A[5] * B[5], A[4] * B[3] + A[5] * B[6] + A[6] }
end

--- The inverse map (output pixel -> input pixel) of the affine step for one image of H x W:
--- M = R(rotation) · T(tx·W, ty·H) · Sh(shear) · Z(zoom_x, zoom_y), about the image centre, in the
--- manner of Keras' apply_affine_transform (used by the second paper's code). Angles: rotation in
--- degrees, shear in radians; zoom > 1 shows more of the image (zooms out).
function M.affine_matrix(rot_deg, tx, ty, shear, zx, zy, H, W)
  local th = math.rad(rot_deg)
  local cx, cy = (W - 1) / 2, (H - 1) / 2
  local R = { math.cos(th), -math.sin(th), 0, math.sin(th), math.cos(th), 0 }
  local Tm = { 1, 0, tx * W, 0, 1, ty * H }
  local S = { 1, -math.sin(shear), 0, 0, math.cos(shear), 0 }
  local Z = { zx, 0, 0, 0, zy, 0 }
  local A = mul(mul(mul(R, Tm), S), Z)
  -- about the centre: src = A (dst - c) + c
  return mul(mul({ 1, 0, cx, 0, 1, cy }, A), { 1, 0, -cx, 0, 1, -cy })
end

local affine_names = { 'rotation', 'tx', 'ty', 'shear', 'zoom_x', 'zoom_y' }
local affine_defaults = { rotation = 0, tx = 0, ty = 0, shear = 0, zoom_x = 1, zoom_y = 1 }

--- aug.affine{rotation=deg, tx=, ty= (fractions of the side), shear=rad, zoom_x=, zoom_y=,
--- border='replicate'} or aug.affine{matrix=theta} (f32 [N,2,3] or [1,2,3], output -> input pixel).
function M.affine(o)
  opts_of(o, 'aug.affine', set { 'rotation', 'tx', 'ty', 'shear', 'zoom_x', 'zoom_y', 'matrix', 'border' })
  local border = o.border or 'replicate'
  local b = border_code(border, 'aug.affine')
  if o.matrix ~= nil then
    if not T.is_tensor(o.matrix) then error('aug.affine: matrix must be a tensor f32 [N,2,3]', 2) end
    local s = step('affine', { 'matrix' }, false, { matrix = o.matrix }, { border = border },
      function(_, x, y, P) check(C.rft_aug_affine(b, P.matrix, x, y), 5) end)
    s.opt_names = { 'border' }
    return s
  end
  local s = step('affine', affine_names, false, params_of(o, affine_names, affine_defaults, 'aug.affine'),
    { border = border },
    function(_, x, y, P)
      local n, H, W = x:size(1), x:size(3), x:size(4)
      local all_one = true
      for _, name in ipairs(affine_names) do if P[name]:numel() ~= 1 then all_one = false end end
      local m = all_one and 1 or n
      local theta = T.new { shape = { m, 2, 3 }, dtype = 'f32', device = 'cpu' }
      local tp, v = theta:data(), {}
      for _, name in ipairs(affine_names) do
        local t = P[name]
        if t:device() ~= 'cpu' then t = t:copy('cpu') end
        v[name] = { t:data(), t:numel() }
      end
      local function at(name, i) local d = v[name]; return d[1][d[2] == 1 and 0 or i] end
      for i = 0, m - 1 do
        local A = M.affine_matrix(at('rotation', i), at('tx', i), at('ty', i), at('shear', i), at('zoom_x', i),
                                  at('zoom_y', i), H, W)
        for k = 1, 6 do tp[i * 6 + k - 1] = A[k] end
      end
      if x:device() ~= 'cpu' then theta = theta:copy(x:device()) end
      check(C.rft_aug_affine(b, theta, x, y), 5)
    end)
  s.opt_names = { 'border' }
  return s
end

return M
