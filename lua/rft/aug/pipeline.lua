-- rft.aug.pipeline: augmentation steps (one engine kernel each), chains of them and the K x M copies
-- of the invariance loss. A pipeline is anything with p:apply(x, {seed=, ids=, epoch=, out=}) and
-- tostring(p); x is f32 [N,C,H,W] in [0,1], ids the images' dataset indices (i32 [N], default
-- 0..N-1). Every random draw is keyed by (seed, image id, the step's stream), so the same seed and
-- ids give bit-identical images whatever the batch split or thread count.
-- Not here: the formulas (engine/aug/*.c, DESIGN.md §4), presets (presets.lua).
local ffi = require 'ffi'
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local D = require 'rft.aug.dist'
local C, check = F.C, F.check

local M = {}

-- out:resize(shape) through the engine directly (works with any version of rft.tensor)
local function resize(t, shape)
  local a = ffi.new('int64_t[?]', #shape, shape)
  check(C.rft_tensor_resize(t, #shape, a), 4)
  return t
end

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

-- ---- the apply context -------------------------------------------------------------------------

-- ctx: seed (number), stream (32-bit), ids (i32 [N] or nil), n, device. Part k of a pipeline works
-- on stream substream(stream, k); parameter j of a step on substream(step stream, 1000 + j).
local function sub(ctx, k)
  return { seed = ctx.seed, stream = C.rft_aug_substream(ctx.stream, k), ids = ctx.ids, n = ctx.n,
           device = ctx.device }
end

local function make_ctx(x, o, what)
  if not T.is_tensor(x) then error(what .. ': x must be a tensor f32 [N,C,H,W], got ' .. type(x), 3) end
  if x:dtype() ~= 'f32' or x:dim() ~= 4 then
    error(string.format('%s: x must be f32 [N,C,H,W], got %s [%s]', what, x:dtype(), table.concat(x:shape(), ',')), 3)
  end
  o = o or {}
  local n = x:size(1)
  local ids = o.ids
  if ids ~= nil then
    if not T.is_tensor(ids) or ids:dtype() ~= 'i32' or ids:numel() ~= n then
      error(string.format('%s: ids must be i32 [%d] (one dataset index per image), got %s', what, n,
                          T.is_tensor(ids) and (ids:dtype() .. ' [' .. table.concat(ids:shape(), ',') .. ']') or type(ids)), 3)
    end
  end
  local seed = o.seed or 0
  if type(seed) ~= 'number' or seed < 0 or seed % 1 ~= 0 then
    error(what .. ': seed must be a whole number >= 0, got ' .. tostring(seed), 3)
  end
  local stream = o.stream or 0
  if o.epoch then stream = C.rft_aug_substream(stream, 0x45500000 + o.epoch) end
  return { seed = seed, stream = stream, ids = ids, n = n, device = x:device() }
end

-- ---- parameters -----------------------------------------------------------------------------------

local function check_value(v, what)
  if type(v) == 'number' or D.is_dist(v) or T.is_tensor(v) then return v end
  error(what .. ' must be a number, a distribution (aug.uniform, ...) or a tensor of per-image values, got '
        .. tostring(v), 4)
end

local const_cache = setmetatable({}, { __mode = 'v' })
local function const(v, device)
  local key = device .. ':' .. string.format('%.17g', v)
  local t = const_cache[key]
  if not t then
    t = T.from_table({ v }, { 1 }, 'f32', device)
    const_cache[key] = t
  end
  return t
end

-- The tensor (1 or N values on the batch's device) for parameter j of step s; draws go to a buffer
-- the step keeps per parameter (valid until the step runs again).
local function resolve(v, ctx, s, j)
  if type(v) == 'number' then return const(v, ctx.device) end
  if D.is_dist(v) then
    s.bufs = s.bufs or {}
    s.bufs[j] = s.bufs[j] or T.new { shape = { 0 }, dtype = 'f32', device = 'cpu' }
    return v:draw(ctx.seed, C.rft_aug_substream(ctx.stream, 1000 + j), ctx.ids, ctx.n, ctx.device, s.bufs[j])
  end
  if v:device() ~= ctx.device then return v:copy(ctx.device) end
  return v
end

local function show(v)
  if type(v) == 'number' then return D.fmt(v) end
  if T.is_tensor(v) then return '<' .. v:numel() .. ' values>' end
  return tostring(v)
end

-- ---- pipelines ----------------------------------------------------------------------------------

local Pipeline = {}
Pipeline.__index = Pipeline
M.Pipeline = Pipeline

--- xt = p:apply(x, {seed=0, ids=nil, epoch=nil, out=nil}): a new tensor (or `out`, resized).
function Pipeline:apply(x, o)
  local ctx = make_ctx(x, o, 'aug ' .. (self.label or self.kind) .. ':apply')
  local out = o and o.out
  if out == nil or out == x then
    out = T.new { shape = x:shape(), dtype = 'f32', device = x:device() }
  else
    resize(out, x:shape())
  end
  self:run(x, out, ctx)
  return out
end

function Pipeline:__call(x, o) return self:apply(x, o) end
function Pipeline:__tostring() return self:describe() end

local function is_pipeline(p) return type(p) == 'table' and getmetatable(p) and getmetatable(p).__index == Pipeline end
M.is_pipeline = is_pipeline

-- A step: kind, the kernel call run(self, x, y, P, ctx) with P the resolved parameters, its
-- parameter names in display order, whether y may be x.
local function step(kind, names, inplace, params, opts, run)
  local s = setmetatable({ kind = kind, names = names, params = params, opts = opts or {}, inplace = inplace,
                           kernel = run }, Pipeline)
  return s
end

--- The text of tostring(p): its steps in order with their parameters, e.g.
--- "Combined+ = chain{1 B+ brightness{delta=0.39} -> 2 S+ saturation{alpha=6} -> ...}".
function Pipeline:describe(inner)
  if self.steps then
    local parts = {}
    for k, s in ipairs(self.steps) do parts[k] = k .. ' ' .. s:describe(true) end
    local body = 'chain{' .. table.concat(parts, ' -> ') .. '}'
    if not self.label then return body end
    return inner and (self.label .. ' ' .. body) or (self.label .. ' = ' .. body)
  end
  local parts = {}
  for _, name in ipairs(self.names) do
    local v = self.params[name]
    if v ~= nil then parts[#parts + 1] = name .. '=' .. show(v) end
  end
  for _, name in ipairs(self.opt_names or {}) do
    if self.opts[name] ~= nil then parts[#parts + 1] = name .. '=' .. tostring(self.opts[name]) end
  end
  local body = self.kind .. '{' .. table.concat(parts, ', ') .. '}'
  if not self.label then return body end
  return inner and (self.label .. ' ' .. body) or (self.label .. ' = ' .. body)
end

--- A copy of the pipeline with a display name, e.g. p:named('B+').
function Pipeline:named(label)
  local c = setmetatable({}, Pipeline)
  for k, v in pairs(self) do c[k] = v end
  c.label = label
  return c
end

-- run(x, y, ctx): y ~= x unless self.inplace.
function Pipeline:run(x, y, ctx)
  if self.steps then return self:run_chain(x, y, ctx) end
  local P = {}
  for j, name in ipairs(self.names) do
    if self.params[name] ~= nil then P[name] = resolve(self.params[name], ctx, self, j) end
  end
  self.kernel(self, x, y, P, ctx)
end

function Pipeline:run_chain(x, y, ctx)
  local steps = self.steps
  if #steps == 0 then y:copy_from(x); return end
  steps[1]:run(x, y, sub(ctx, 1))
  local cur, other = y, nil
  for k = 2, #steps do
    local s = steps[k]
    if s.inplace then
      s:run(cur, cur, sub(ctx, k))
    else
      if other == nil then
        self.scratch = self.scratch or T.new { shape = { 0 }, dtype = 'f32', device = y:device() }
        other = resize(self.scratch, y:shape())
      end
      s:run(cur, other, sub(ctx, k))
      cur, other = other, cur
    end
  end
  if cur ~= y then y:copy_from(cur) end
end

--- aug.chain{p1, p2, ...}: p1 first, clipping after each (every kernel clips). opts.name labels it.
function M.chain(steps, opts)
  if type(steps) ~= 'table' then error('aug.chain: expected a list of pipelines', 2) end
  for i, s in ipairs(steps) do
    if not is_pipeline(s) then error('aug.chain: step ' .. i .. ' is not a pipeline (got ' .. tostring(s) .. ')', 2) end
  end
  local c = setmetatable({ kind = 'chain', steps = { unpack(steps) }, inplace = false }, Pipeline)
  c.label = opts and opts.name
  return c
end

--- The identity (a copy), for "clean" rows and columns.
function M.identity()
  return setmetatable({ kind = 'identity', names = {}, params = {}, opts = {}, inplace = true,
                        kernel = function(_, x, y) if x ~= y then y:copy_from(x) end end }, Pipeline)
end

-- ---- the kernels ------------------------------------------------------------------------------

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

-- ---- copies for the invariance loss ---------------------------------------------------------------

local Copies = {}
Copies.__index = Copies

--- aug.copies(p, M): c:apply(x, {seed=, ids=}) turns K images into K·M distorted copies (copy j of
--- image i at row i·M + j, keyed by id·M + j so each copy draws its own distortion) and returns
--- them with groups, i32 [K·M], the seed image's row i of each copy, and the copies' ids.
function M.copies(p, m)
  if not is_pipeline(p) then error('aug.copies: expected a pipeline, got ' .. tostring(p), 2) end
  if type(m) ~= 'number' or m < 1 or m % 1 ~= 0 then error('aug.copies: M must be a whole number >= 1', 2) end
  return setmetatable({ pipeline = p, m = m }, Copies)
end

function Copies:apply(x, o)
  o = o or {}
  local ctx = make_ctx(x, o, 'aug.copies:apply')
  local k, m = ctx.n, self.m
  local shape = x:shape()
  shape[1] = k * m
  local rep = T.new { shape = shape, dtype = 'f32', device = x:device() }
  local groups = T.new { shape = { k * m }, dtype = 'i32', device = 'cpu' }
  local ids = T.new { shape = { k * m }, dtype = 'i32', device = 'cpu' }
  local gp, ip = groups:data(), ids:data()
  local src_ids = o.ids and (o.ids:device() == 'cpu' and o.ids or o.ids:copy('cpu'))
  local sp = src_ids and src_ids:data()
  for i = 0, k - 1 do
    local img = x:view(i, i + 1)
    local id = sp and sp[i] or i
    for j = 0, m - 1 do
      rep:view(i * m + j, i * m + j + 1):copy_from(img)
      gp[i * m + j] = i
      ip[i * m + j] = id * m + j
    end
  end
  if x:device() ~= 'cpu' then ids, groups = ids:copy(x:device()), groups:copy(x:device()) end
  local out = self.pipeline:apply(rep, { seed = o.seed, ids = ids, epoch = o.epoch, stream = o.stream, out = o.out })
  return out, groups, ids
end

function Copies:__tostring() return 'copies(' .. tostring(self.pipeline) .. ', M=' .. self.m .. ')' end

return M
