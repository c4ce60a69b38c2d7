-- CUDA augmentation kernels against the CPU (kernels/aug_*.cu): every kernel of engine/aug on odd
-- sizes, with shared and per-image parameters, every border mode, ids given and absent, in place
-- where the op allows it and on a view with an offset, with the CPU result as the ground truth; then
-- whole rft.aug pipelines (Combined+/-, the heavier scheme, G, its copies) on a batch with the same
-- seed and ids on both devices.
--
-- Bit for bit: the random draws (noise, salt-and-pepper masks, aug_draw), and every kernel whose
-- formula uses only rounded products and sums, division, sqrt and floor (aug_math.h: brightness,
-- contrast, saturation, noise, salt-and-pepper, affine, flip, crop, draws). Within BLUR_ATOL: the
-- blur, whose weights go through exp (glibc's on the CPU, CUDA's double exp rounded to float on the
-- device: nearly always the same float, not guaranteed), and pipelines that contain it.
-- Without a usable device every case is pending, with the reason.
local ffi = require 'ffi'
local rft = require 'rft'
local C = rft.C

local cuda = require 'support.cuda'
local gpu, dev, host, same_bits, close = cuda.gpu, cuda.dev, cuda.host, cuda.same_bits, cuda.close

local BLUR_ATOL = 2e-6         -- a few ulp of values <= 1 (weights within an ulp or two of the CPU's)
local PIPE_ATOL = 1e-5         -- a blur difference carried through noise and salt-and-pepper

-- [N,C,H,W] shapes: odd sides, a noise tile and a salt-and-pepper tile split part-way (7 x 9 x 3 =
-- 189 values; 20 x 20 x 3 = 1200; 33 x 31 = 1023 pixels, 3069 values), and the CIFAR side.
local SHAPES = { { 3, 3, 7, 9 }, { 2, 3, 20, 20 }, { 1, 3, 33, 31 }, { 3, 3, 32, 32 } }
local BORDERS = { reflect101 = C.RFT_BORDER_REFLECT101, reflect = C.RFT_BORDER_REFLECT,
                  replicate = C.RFT_BORDER_REPLICATE, constant = C.RFT_BORDER_CONSTANT, wrap = C.RFT_BORDER_WRAP }

local function ok(rc)
  if rc ~= 0 then error(ffi.string(C.rft_last_error()), 2) end
end

local function label(shape) return '[' .. table.concat(shape, ',') .. ']' end

-- A CPU batch, uniform in [lo, hi] (a little outside [0,1] by default, so that clipping shows).
local function batch(shape, seed, lo, hi)
  return rft.rand.uniform(rft.tensor { shape = shape }, { seed = seed, lo = lo or -0.05, hi = hi or 1.05 })
end

local function out() return rft.tensor { shape = { 0 }, device = cuda.device } end
local function vals(t) return rft.from_table(t, { #t }) end

-- Per-image parameter values for n images, spread over [a, b].
local function spread(n, a, b)
  local t = {}
  for i = 1, n do t[i] = n == 1 and a or a + (b - a) * (i - 1) / (n - 1) end
  return vals(t)
end

local function ids_for(n)
  local t = {}
  for i = 1, n do t[i] = 1000 * i + 7 end
  return rft.from_table(t, { n }, 'i32')
end

-- The n arguments with every tensor among them copied to the device (nil and numbers kept).
local function device_args(n, ...)
  local args, dargs = { ... }, {}
  for i = 1, n do
    local a = args[i]
    dargs[i] = rft.is_tensor(a) and dev(a) or a
  end
  return dargs
end

-- Runs f(args..., y) on the CPU and, with every tensor argument copied to the device, into a device
-- output; returns both outputs. args may hold nil (absent ids) and plain numbers.
local function both(f, n, ...)
  local args, dargs = { ... }, device_args(n, ...)
  local y, yd = rft.tensor { shape = { 0 } }, out()
  args[n + 1], dargs[n + 1] = y, yd
  ok(f(unpack(args, 1, n + 1)))
  ok(f(unpack(dargs, 1, n + 1)))
  return y, yd
end

-- both, then f once more on the device writing over its input (the last argument): returns the CPU
-- output, the device output and the device input after the in-place call.
local function both_in_place(f, n, ...)
  local y, yd = both(f, n, ...)
  local dargs = device_args(n, ...)
  dargs[n + 1] = dargs[n]
  ok(f(unpack(dargs, 1, n + 1)))
  return y, yd, dargs[n]
end

describe('CUDA augmentation kernels against the CPU', function()
  -- ---- photometric ----------------------------------------------------------------------------

  gpu('brightness: bit for bit, shared and per-image delta, in place', function()
    for _, shape in ipairs(SHAPES) do
      local x = batch(shape, 1)
      for _, d in ipairs { vals { 0.3 }, spread(shape[1], -0.4, 0.45) } do
        local y, yd, yi = both_in_place(C.rft_aug_brightness, 2, d, x)
        same_bits(y, yd, 'brightness ' .. label(shape))
        same_bits(y, yi, 'brightness in place ' .. label(shape))
      end
    end
  end)

  gpu('contrast: bit for bit (the CPU order of the channel means), shared and per-image gamma, in place', function()
    for _, shape in ipairs(SHAPES) do
      local x = batch(shape, 2)
      for _, g in ipairs { vals { 1.3 }, spread(shape[1], 0.5, 1.5) } do
        local y, yd, yi = both_in_place(C.rft_aug_contrast, 2, g, x)
        same_bits(y, yd, 'contrast ' .. label(shape))
        same_bits(y, yi, 'contrast in place ' .. label(shape))
      end
    end
  end)

  gpu('saturation: bit for bit for S+, S- (alpha = 0) and per-image alpha, grey pixels included', function()
    for _, shape in ipairs(SHAPES) do
      local x = batch(shape, 3, 0, 1)
      -- a few grey pixels (chroma 0), where k does not matter
      local p, hw = x:data(), shape[3] * shape[4]
      for i = 0, 4 do p[hw + i], p[2 * hw + i] = p[i], p[i] end
      for _, a in ipairs { vals { 6 }, vals { 0 }, vals { 0.2 }, spread(shape[1], 0, 4) } do
        local y, yd, yi = both_in_place(C.rft_aug_saturation, 2, a, x)
        same_bits(y, yd, 'saturation ' .. label(shape))
        same_bits(y, yi, 'saturation in place ' .. label(shape))
      end
    end
  end)

  -- ---- blur -----------------------------------------------------------------------------------

  gpu('Gaussian blur: every border mode, shared and per-image size and sigma, within ' .. BLUR_ATOL, function()
    for _, shape in ipairs(SHAPES) do
      local x = batch(shape, 4)
      local n = shape[1]
      local sizes = {}
      for i = 1, n do sizes[i] = ({ 3, 5, 1, 7 })[(i - 1) % 4 + 1] end
      local params = {
        { vals { 3 }, vals { 0.675 } },             -- CIFAR-10's GB
        { vals { 3 }, vals { 1.175 } },             -- ImageNet's GB
        { vals { 5 }, vals { 2.0 } },
        { vals(sizes), spread(n, 0.5, 1.5) },       -- per image
        { vals { 7 }, spread(n, 0.3, 3) },          -- shared size, per-image sigma
      }
      for bname, b in pairs(BORDERS) do
        for k, ps in ipairs(params) do
          local y, yd = both(C.rft_aug_gaussian_blur, 4, b, ps[1], ps[2], x)
          close(y, yd, BLUR_ATOL, 0, 'blur ' .. bname .. ' params ' .. k .. ' ' .. label(shape))
        end
      end
    end
  end)

  gpu('Gaussian blur with sigma = 0 is the identity (clipped) bit for bit, and works in place', function()
    for _, shape in ipairs(SHAPES) do
      local x = batch(shape, 5)
      for bname, b in pairs(BORDERS) do
        local y, yd = both(C.rft_aug_gaussian_blur, 4, b, vals { 5 }, vals { 0 }, x)
        same_bits(y, yd, 'blur sigma 0 ' .. bname .. ' ' .. label(shape))
      end
      local y = rft.tensor { shape = { 0 } }
      ok(C.rft_aug_gaussian_blur(C.RFT_BORDER_REFLECT101, vals { 3 }, vals { 0.675 }, x, y))
      local xd = dev(x)
      ok(C.rft_aug_gaussian_blur(C.RFT_BORDER_REFLECT101, dev(vals { 3 }), dev(vals { 0.675 }), xd, xd))
      close(y, xd, BLUR_ATOL, 0, 'blur in place ' .. label(shape))
    end
  end)

  -- ---- random draws ---------------------------------------------------------------------------

  gpu('Gaussian noise: the same draws bit for bit, ids given and absent, shared and per-image parameters', function()
    for _, shape in ipairs(SHAPES) do
      local x = batch(shape, 6)
      local n = shape[1]
      for _, ids in ipairs { ids_for(n), false } do
        local id = ids or nil
        local cases = { { vals { 0 }, vals { 0.075 } }, { spread(n, -0.1, 0.1), spread(n, 0.01, 0.5) } }
        for k, c in ipairs(cases) do
          local y, yd, yi = both_in_place(C.rft_aug_gaussian_noise, 6, 77, 5, id, c[1], c[2], x)
          local what = string.format('noise %s ids %s case %d', label(shape), ids and 'given' or 'NULL', k)
          same_bits(y, yd, what)
          same_bits(y, yi, what .. ' in place')
        end
      end
    end
  end)

  gpu('Gaussian noise: the bare noise (x = 0.5, no clipping) is the same to the last bit on a large batch', function()
    -- 1.5 M values: many tiles, the grid-stride loop past one pass of the grid
    local x = rft.tensor { shape = { 64, 3, 64, 128 } }:fill(0.5)
    local y, yd = both(C.rft_aug_gaussian_noise, 6, 2 ^ 40 + 3, 0xdeadbeef, ids_for(64), vals { 0 }, vals { 0.01 }, x)
    same_bits(y, yd, 'noise, large batch')
  end)

  gpu('salt-and-pepper: the same masks bit for bit, per value and per pixel, ids given and absent', function()
    for _, shape in ipairs(SHAPES) do
      local x = batch(shape, 7)
      local n = shape[1]
      for _, ids in ipairs { ids_for(n), false } do
        local id = ids or nil
        local cases = { { vals { 0.025 }, vals { 0.5 }, vals { 0.5 } }, { vals { 0.3 }, vals { 0.7 }, vals { 0.7 } },
                        { spread(n, 0, 0.5), spread(n, 0.2, 1), spread(n, 0.1, 0.9) } }
        for per = 0, 1 do
          for k, c in ipairs(cases) do
            local y, yd, yi = both_in_place(C.rft_aug_salt_pepper, 8, per, 79, 11, id, c[1], c[2], c[3], x)
            local what = string.format('salt-and-pepper %s per %s ids %s case %d', label(shape),
                                       per == 1 and 'pixel' or 'value', ids and 'given' or 'NULL', k)
            same_bits(y, yd, what)
            same_bits(y, yi, what .. ' in place')
          end
        end
      end
    end
  end)

  gpu('noise and salt-and-pepper read a view with an offset as the CPU does', function()
    local x = batch({ 5, 3, 11, 13 }, 8)
    local ids = ids_for(3)
    local xv = x:view(1, 4)
    local xd = dev(x)
    local xdv = xd:view(1, 4)
    local y, yd = rft.tensor { shape = { 0 } }, out()
    ok(C.rft_aug_gaussian_noise(3, 4, ids, vals { 0.01 }, vals { 0.2 }, xv, y))
    ok(C.rft_aug_gaussian_noise(3, 4, dev(ids), dev(vals { 0.01 }), dev(vals { 0.2 }), xdv, yd))
    same_bits(y, yd, 'noise on a view')
    ok(C.rft_aug_salt_pepper(1, 3, 4, ids, vals { 0.2 }, vals { 0.5 }, vals { 0.5 }, xv, y))
    ok(C.rft_aug_salt_pepper(1, 3, 4, dev(ids), dev(vals { 0.2 }), dev(vals { 0.5 }), dev(vals { 0.5 }), xdv, yd))
    same_bits(y, yd, 'salt-and-pepper on a view')
  end)

  gpu('per-image draws (aug_draw): every kind bit for bit, ids given and absent, long choice lists', function()
    local long = {}
    for i = 1, 45 do long[i] = i * 0.5 - 3 end      -- more values than travel inline in the launch
    local kinds = {
      { C.RFT_DRAW_UNIFORM, { -0.36, 0.39 } },
      { C.RFT_DRAW_TRUNCNORMAL, { -22.5, 22.5 } },
      { C.RFT_DRAW_TRUNCNORMAL, { 0.85, 1.15 } },
      { C.RFT_DRAW_CHOICE, { 0.925, 1.075 } },
      { C.RFT_DRAW_CHOICE, long },
      { C.RFT_DRAW_INTEGER, { -4, 4 } },
      { C.RFT_DRAW_BERNOULLI, { 0.5 } },
      { C.RFT_DRAW_BERNOULLI, { 0.025 } },
    }
    for _, n in ipairs { 1, 7, 300 } do
      for _, ids in ipairs { ids_for(n), false } do
        for k, kv in ipairs(kinds) do
          local values = ffi.new('float[?]', #kv[2], kv[2])
          local o, od = rft.tensor { shape = { 0 } }, out()
          ok(C.rft_aug_draw(kv[1], #kv[2], values, 12345678901, 0x5eed, ids or nil, n, o))
          ok(C.rft_aug_draw(kv[1], #kv[2], values, 12345678901, 0x5eed, ids and dev(ids) or nil, n, od))
          same_bits(o, od, string.format('aug_draw kind %d (case %d), n = %d, ids %s', kv[1], k, n,
                                         ids and 'given' or 'NULL'))
        end
      end
    end
  end)

  -- ---- geometry -------------------------------------------------------------------------------

  gpu('affine warp: bit for bit under every border mode, one matrix for all and one per image', function()
    for _, shape in ipairs(SHAPES) do
      local x = batch(shape, 9)
      local n, H, W = shape[1], shape[3], shape[4]
      local one = rft.from_table(rft.aug.affine_matrix(17, 0.1, -0.08, 0.12, 1.1, 0.9, H, W), { 1, 2, 3 })
      local per = {}
      for i = 0, n - 1 do
        local m = rft.aug.affine_matrix(-22.5 + 15 * i, 0.1 * i - 0.1, 0.05, -0.15 + 0.1 * i, 0.85 + 0.1 * i,
                                        1.15 - 0.1 * i, H, W)
        for k = 1, 6 do per[#per + 1] = m[k] end
      end
      per = rft.from_table(per, { n, 2, 3 })
      -- a matrix that throws most positions far outside (every border mode's far reach)
      local far = rft.from_table({ 3.5, -1.25, -40.3, 0.75, 2.5, 27.9 }, { 1, 2, 3 })
      for bname, b in pairs(BORDERS) do
        for k, th in ipairs { one, per, far } do
          local y, yd = both(C.rft_aug_affine, 3, b, th, x)
          same_bits(y, yd, string.format('affine %s matrix %d %s', bname, k, label(shape)))
        end
      end
    end
  end)

  gpu('horizontal flip: bit for bit, per-image and shared flags, odd and even widths, in place', function()
    for _, shape in ipairs(SHAPES) do
      local x = batch(shape, 10)
      local n = shape[1]
      local flags = {}
      for i = 1, n do flags[i] = i % 2 end
      for _, f in ipairs { vals(flags), vals { 1 }, vals { 0 } } do
        local y, yd, yi = both_in_place(C.rft_aug_hflip, 2, f, x)
        same_bits(y, yd, 'hflip ' .. label(shape))
        same_bits(y, yi, 'hflip in place ' .. label(shape))
      end
    end
  end)

  gpu('crop shifts: bit for bit under every border mode, per-image and shared shifts, on a view', function()
    for _, shape in ipairs(SHAPES) do
      local x = batch(shape, 11)
      local n = shape[1]
      local dxs, dys = {}, {}
      for i = 1, n do dxs[i], dys[i] = ({ -4, 3, 0, 11 })[(i - 1) % 4 + 1], ({ 2, -4, 25, 0 })[(i - 1) % 4 + 1] end
      for bname, b in pairs(BORDERS) do
        for k, s in ipairs { { vals(dxs), vals(dys) }, { vals { 4 }, vals { -3 } }, { vals { -40 }, vals { 37 } } } do
          local y, yd = both(C.rft_aug_crop, 4, b, s[1], s[2], x)
          same_bits(y, yd, string.format('crop %s shifts %d %s', bname, k, label(shape)))
        end
      end
    end
    local x = batch({ 4, 3, 9, 7 }, 12)
    local y, yd = rft.tensor { shape = { 0 } }, out()
    ok(C.rft_aug_crop(C.RFT_BORDER_CONSTANT, vals { 2, -1 }, vals { -3, 1 }, x:view(2, 4), y))
    ok(C.rft_aug_crop(C.RFT_BORDER_CONSTANT, dev(vals { 2, -1 }), dev(vals { -3, 1 }), dev(x):view(2, 4), yd))
    same_bits(y, yd, 'crop of a view')
  end)
end)

describe('rft.aug pipelines on the device against the CPU', function()
  local aug = rft.aug
  local ids_list = { 3, 14, 15, 92, 65, 35, 897, 9 }

  local function apply_both(p, shape, seed, o)
    o = o or {}
    local x = batch(shape, seed, 0, 1)
    local ids = rft.from_table({ unpack(ids_list, 1, shape[1]) }, { shape[1] }, 'i32')
    local y = p:apply(x, { seed = 42, ids = ids, epoch = o.epoch })
    local yd = p:apply(dev(x), { seed = 42, ids = dev(ids), epoch = o.epoch })
    assert.equal(cuda.device, yd:device())
    return y, yd
  end

  for _, c in ipairs {
    { 'Combined+ (CIFAR-10)', aug.paper.cifar10.combined_plus },
    { 'Combined- (CIFAR-10)', aug.paper.cifar10.combined_minus },
    { 'Combined+ (ImageNet)', aug.paper.imagenet.combined_plus },
    { 'Combined- (ImageNet)', aug.paper.imagenet.combined_minus },
  } do
    gpu(c[1] .. ' gives the same images (within ' .. PIPE_ATOL .. ', the blur) for the same seed and ids', function()
      for _, shape in ipairs { { 8, 3, 32, 32 }, { 3, 3, 7, 9 } } do
        local y, yd = apply_both(c[2], shape, 13, { epoch = 3 })
        close(y, yd, PIPE_ATOL, 0, c[1] .. ' ' .. label(shape))
      end
    end)
  end

  for _, c in ipairs {
    { 'the heavier scheme', aug.heavier() },
    { 'G', aug.G() },
    { 'crop and flip', aug.chain { aug.crop { pad = 4 }, aug.hflip {} } },
    { 'brightness, saturation, noise, salt-and-pepper (per pixel)',
      aug.chain { aug.brightness { delta = aug.uniform(-0.3, 0.3) }, aug.saturation { alpha = aug.choice { 0, 6 } },
                  aug.gaussian_noise { sigma = aug.truncnormal(0, 0.1) },
                  aug.salt_pepper { p = 0.05, per = 'pixel' } } },
  } do
    gpu(c[1] .. ' gives bit-identical images for the same seed and ids', function()
      for _, shape in ipairs { { 8, 3, 32, 32 }, { 3, 3, 7, 9 } } do
        local y, yd = apply_both(c[2], shape, 17)
        same_bits(y, yd, c[1] .. ' ' .. label(shape))
      end
    end)
  end

  gpu('the heavier scheme\'s copies (invariance loss) give bit-identical copies, groups and ids', function()
    local copies = aug.copies(aug.heavier(), 4)
    local x = batch({ 3, 3, 32, 32 }, 19, 0, 1)
    local ids = rft.from_table({ 5, 600, 7 }, { 3 }, 'i32')
    local y, groups, cids = copies:apply(x, { seed = 8, ids = ids })
    local yd, gd, cd = copies:apply(dev(x), { seed = 8, ids = dev(ids) })
    same_bits(y, yd, 'copies')
    same_bits(groups, gd, 'copies: groups')
    same_bits(cids, cd, 'copies: ids')
  end)
end)
