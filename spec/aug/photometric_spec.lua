-- Brightness, contrast and HSL saturation (DESIGN.md §4) against their formulas on small hand-made
-- batches; saturation also against an independent RGB -> HSL -> scaled S -> RGB round trip.
local rft = require 'rft'
local U = require 'aug.util'
local C = rft.C

local function run(f, ...)
  local rc = f(...)
  if rc ~= 0 then error(require('ffi').string(C.rft_last_error()), 2) end
end

describe('brightness', function()
  it('adds delta to every value and clips to [0,1], with one delta per image', function()
    local x = U.batch({ 2, 3, 4, 5 }, 3)
    local y = rft.tensor { shape = { 1 } }
    run(C.rft_aug_brightness, U.vals { 0.3, -0.45 }, x, y)
    assert.same({ 2, 3, 4, 5 }, y:shape())
    local xs, ys = x:to_table(), y:to_table()
    local want = {}
    for i = 1, #xs do want[i] = U.clip(xs[i] + (i <= 60 and 0.3 or -0.45)) end
    U.close(ys, want, 1e-6, 'brightness')
  end)

  it('works in place', function()
    local x = U.batch({ 2, 3, 4, 4 })
    local want = rft.tensor { shape = { 1 } }
    run(C.rft_aug_brightness, U.val(0.2), x, want)
    run(C.rft_aug_brightness, U.val(0.2), x, x)
    assert.is_true(U.bits_equal(want, x))
  end)
end)

describe('contrast', function()
  it('scales each channel about its own mean: (x - m)·gamma + m', function()
    local shape = { 2, 3, 3, 4 }
    local x = U.batch(shape, 5)
    local y = rft.tensor { shape = { 1 } }
    local gammas = { 1.5, 0.5 }
    run(C.rft_aug_contrast, U.vals(gammas), x, y)
    local xs, ys, want = x:to_table(), y:to_table(), {}
    for n = 0, 1 do
      for c = 0, 2 do
        local m = 0
        for h = 0, 2 do for w = 0, 3 do m = m + U.at(xs, shape, n, c, h, w) end end
        m = m / 12
        for h = 0, 2 do
          for w = 0, 3 do
            want[((n * 3 + c) * 3 + h) * 4 + w + 1] = U.clip((U.at(xs, shape, n, c, h, w) - m) * gammas[n + 1] + m)
          end
        end
      end
    end
    U.close(ys, want, 1e-6, 'contrast')
  end)
end)

-- An independent HSL round trip: RGB -> (H, S, L), S <- min(1, alpha·S), back to RGB.
local function rgb_to_hsl(r, g, b)
  local mx, mn = math.max(r, g, b), math.min(r, g, b)
  local l = (mx + mn) / 2
  if mx == mn then return 0, 0, l end
  local d = mx - mn
  local s = l > 0.5 and d / (2 - mx - mn) or d / (mx + mn)
  local h
  if mx == r then h = (g - b) / d + (g < b and 6 or 0)
  elseif mx == g then h = (b - r) / d + 2
  else h = (r - g) / d + 4 end
  return h / 6, s, l
end
local function hue2rgb(p, q, t)
  if t < 0 then t = t + 1 end
  if t > 1 then t = t - 1 end
  if t < 1 / 6 then return p + (q - p) * 6 * t end
  if t < 1 / 2 then return q end
  if t < 2 / 3 then return p + (q - p) * (2 / 3 - t) * 6 end
  return p
end
local function hsl_to_rgb(h, s, l)
  if s == 0 then return l, l, l end
  local q = l < 0.5 and l * (1 + s) or l + s - l * s
  local p = 2 * l - q
  return hue2rgb(p, q, h + 1 / 3), hue2rgb(p, q, h), hue2rgb(p, q, h - 1 / 3)
end

describe('saturation', function()
  it('matches an independent HSL round trip for alpha in {0, 0.3, 1, 2.5, 6, 1e6}', function()
    local shape = { 6, 3, 8, 8 }
    local x = U.batch(shape, 9)
    -- a few exact cases: grey, pure colours, black, white
    local p = x:data()
    local hw = 64
    for n = 0, 5 do
      local base = n * 3 * hw
      p[base], p[base + hw], p[base + 2 * hw] = 0.5, 0.5, 0.5
      p[base + 1], p[base + 1 + hw], p[base + 1 + 2 * hw] = 1, 0, 0
      p[base + 2], p[base + 2 + hw], p[base + 2 + 2 * hw] = 0, 0, 0
      p[base + 3], p[base + 3 + hw], p[base + 3 + 2 * hw] = 1, 1, 1
      p[base + 4], p[base + 4 + hw], p[base + 4 + 2 * hw] = 0.9, 0.85, 0.1
    end
    local alphas = { 0, 0.3, 1, 2.5, 6, 1e6 }
    local y = rft.tensor { shape = { 1 } }
    run(C.rft_aug_saturation, U.vals(alphas), x, y)
    local xs, ys = x:to_table(), y:to_table()
    local got, want = {}, {}
    for n = 0, 5 do
      for i = 0, hw - 1 do
        local o = n * 3 * hw + i + 1
        local h, s, l = rgb_to_hsl(xs[o], xs[o + hw], xs[o + 2 * hw])
        local r, g, b = hsl_to_rgb(h, math.min(1, alphas[n + 1] * s), l)
        for k, v in ipairs { r, g, b } do
          want[#want + 1] = U.clip(v)
          got[#got + 1] = ys[o + (k - 1) * hw]
        end
      end
    end
    U.close(got, want, 2e-5, 'saturation')
  end)

  it('alpha = 0 gives the HSL grey (max+min)/2 in every channel', function()
    local x = rft.from_table({ 0.2, 0.9, 0.6, 0.1, 0.3, 0.4 }, { 1, 3, 1, 2 })
    local y = rft.tensor { shape = { 1 } }
    run(C.rft_aug_saturation, U.val(0), x, y)
    U.close(y:to_table(), { 0.4, 0.5, 0.4, 0.5, 0.4, 0.5 }, 1e-6, 'grey')   -- (0.6+0.2)/2, (0.9+0.1)/2
  end)

  it('refuses batches that are not RGB', function()
    local y = rft.tensor { shape = { 1 } }
    assert.equal(C.RFT_ESHAPE, C.rft_aug_saturation(U.val(2), rft.tensor { shape = { 2, 1, 4, 4 } }, y))
    assert.matches('aug_saturation: x must have 3 channels %(RGB%), got %[2,1,4,4%]',
                   require('ffi').string(C.rft_last_error()))
  end)
end)
