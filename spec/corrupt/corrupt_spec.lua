-- The CIFAR-10-C corruptions (engine/corrupt/, rft.corrupt): every one against the reference
-- generator of tools/fixtures/cifar_c_reference.py (fed rft's draws where the reference draws them
-- itself), the same images whatever the batch split or the thread count, the 1/255 grid, clipping,
-- the rates of the two noises whose draws live inside libraries, and clear errors.
local ffi = require 'ffi'
local rft = require 'rft'
local fixture = require 'support.fixture'

local ALL = rft.corrupt.names('all')
local has_frost = pcall(rft.corrupt.find_frost)

local function u8_values(t)                 -- f32 on the 1/255 grid -> Lua array of 0..255
  local a = t:to_table()
  for i = 1, #a do a[i] = math.floor(a[i] * 255 + 0.5) end
  return a
end

local function batch(n, seed)               -- n CIFAR-like images: smooth shapes plus a little texture
  local x = rft.tensor { shape = { n, 3, 32, 32 }, dtype = 'u8', device = 'cpu' }
  local p = x:data()
  for i = 0, n * 3072 - 1 do
    local img, c, q = math.floor(i / 3072), math.floor(i / 1024) % 3, i % 1024
    local h, w = math.floor(q / 32), q % 32
    p[i] = (37 * img + 11 * c + 5 * h + 3 * w + (h * w * (seed or 1)) % 17) % 256
  end
  return x:float()
end

describe('rft.corrupt names', function()
  it('lists the 15 of the benchmark in its order, and the extras apart', function()
    assert.same({ 'gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur',
      'zoom_blur', 'snow', 'frost', 'fog', 'brightness', 'contrast', 'elastic_transform', 'pixelate',
      'jpeg_compression' }, rft.corrupt.names())
    assert.same({ 'speckle_noise', 'gaussian_blur', 'spatter', 'saturate' }, rft.corrupt.names('extra'))
    assert.equal(19, #ALL)
  end)
end)

describe('rft.corrupt against the reference generator', function()
  local fx = fixture.load('cifar_c')
  local x = fx.x:float()
  local seed = fx.seed:to_table()[1]
  for _, name in ipairs(ALL) do
    if fx[name] then
      local run = (name ~= 'frost' or has_frost) and it or pending
      run(name .. ': at most 1/255 from the reference on >= 99 % of values, every severity', function()
        local want = fx[name]:to_table()          -- [5·4, 3, 32, 32], severity-major
        local per = 4 * 3072
        for s = 1, 5 do
          local got = u8_values(rft.corrupt.apply(x, name, s, { seed = seed }))
          local far, worst = 0, 0
          for i = 1, per do
            local d = math.abs(got[i] - want[(s - 1) * per + i])
            if d > 1 then far = far + 1 end
            if d > worst then worst = d end
          end
          assert(far <= 0.01 * per, string.format('%s severity %d: %d of %d values more than 1/255 from the '
            .. 'reference (worst %d/255)', name, s, far, per, worst))
        end
      end)
    end
  end
end)

describe('rft.corrupt outputs', function()
  local x = batch(6)
  for _, name in ipairs(ALL) do
    local run = (name ~= 'frost' or has_frost) and it or pending
    run(name .. ': same images whatever the batch split and threads; on the grid; clipped', function()
      local ids = rft.from_table({ 10, 11, 12, 13, 14, 15 }, { 6 }, 'i32')
      local sev = 3
      local whole = rft.corrupt.apply(x, name, sev, { seed = 5, ids = ids }):to_table()
      local a = rft.corrupt.apply(x:view(0, 2):copy(), name, sev, { seed = 5, ids = ids:view(0, 2):copy() }):to_table()
      local b = rft.corrupt.apply(x:view(2, 6):copy(), name, sev, { seed = 5, ids = ids:view(2, 6):copy() }):to_table()
      for i = 1, #b do a[#a + 1] = b[i] end
      assert.same(whole, a)
      local threads = rft.threads()
      rft.threads(1)
      local one = rft.corrupt.apply(x, name, sev, { seed = 5, ids = ids }):to_table()
      rft.threads(threads)
      assert.same(whole, one)
      for i = 1, #whole do
        local v = whole[i] * 255
        assert(whole[i] >= 0 and whole[i] <= 1, name .. ': value outside [0,1]')
        assert(math.abs(v - math.floor(v + 0.5)) < 1e-3, name .. ': value off the 1/255 grid: ' .. whole[i])
      end
    end)
  end

  it('keys the draws by seed and image id, not by position', function()
    local ids = rft.from_table({ 3, 3 }, { 2 }, 'i32')
    local two = rft.tensor { shape = { 2, 3, 32, 32 } }
    two:copy_from(rft.cat { x:view(0, 1), x:view(0, 1) })
    local y = rft.corrupt.apply(two, 'gaussian_noise', 2, { seed = 1, ids = ids }):to_table()
    for i = 1, 3072 do assert.equal(y[i], y[3072 + i]) end
    local z = rft.corrupt.apply(two, 'gaussian_noise', 2, { seed = 2, ids = ids }):to_table()
    local same = 0
    for i = 1, 3072 do if y[i] == z[i] then same = same + 1 end end
    assert(same < 3072 / 4, 'another seed should change most values')
  end)

  it('clips white and black images and stays on the grid (gaussian noise, brightness, fog, snow)', function()
    local w = rft.tensor { shape = { 2, 3, 32, 32 } }
    local p = w:data()
    for i = 0, 3071 do p[i] = 1; p[3072 + i] = 0 end
    for _, name in ipairs { 'gaussian_noise', 'brightness', 'fog', 'snow', 'speckle_noise', 'contrast' } do
      local y = rft.corrupt.apply(w, name, 5, { seed = 1 })
      local lo, hi = y:stats()
      assert(lo >= 0 and hi <= 1, name)
      for _, v in ipairs(y:to_table()) do
        assert(math.abs(v * 255 - math.floor(v * 255 + 0.5)) < 1e-3, name .. ' off the grid')
      end
    end
    -- brightness adds to V: white stays white, black becomes c·255 truncated (0.3·255 = 76.5 -> 76)
    local y = rft.corrupt.apply(w, 'brightness', 5, {}):to_table()
    assert.equal(1, y[1])
    assert.near(76 / 255, y[3073], 1e-7)
  end)

  it('flips the rate of values impulse noise asks (binomial bound) and shot noise has variance x/c', function()
    local n = 40
    local g = rft.tensor { shape = { n, 3, 32, 32 } }:fill(128 / 255)
    local cs = { 0.01, 0.02, 0.03, 0.05, 0.07 }
    for s = 1, 5 do
      local y = rft.corrupt.apply(g, 'impulse_noise', s, { seed = 9 }):to_table()
      local flipped, salt = 0, 0
      for i = 1, #y do
        if y[i] == 0 or y[i] == 1 then flipped = flipped + 1 end
        if y[i] == 1 then salt = salt + 1 end
      end
      local m, p = #y, cs[s]
      local sd = math.sqrt(m * p * (1 - p))      -- binomial; 6 sd: a false alarm about once in 1e9
      assert(math.abs(flipped - m * p) <= 6 * sd, string.format('severity %d: %d flipped of %d', s, flipped, m))
      assert(math.abs(salt - flipped / 2) <= 6 * math.sqrt(flipped / 4), 'salt should be half the flips')
    end
    local shot = { 500, 250, 100, 75, 50 }
    for s = 1, 5 do
      local y = rft.corrupt.apply(g, 'shot_noise', s, { seed = 9 }):to_table()
      local sum, sum2 = 0, 0
      for i = 1, #y do sum = sum + y[i]; sum2 = sum2 + y[i] * y[i] end
      local m = #y
      local mean = sum / m
      local var = sum2 / m - mean * mean
      -- Poisson(x c)/c has variance x/c; the truncation to 1/255 adds about 1/12 of a step squared
      local want = (128 / 255) / shot[s] + 1 / (12 * 255 * 255)
      -- the sample variance of m values has relative sd sqrt(2/m) (~0.6 % here): allow 5 %
      assert(math.abs(var / want - 1) < 0.05, string.format('severity %d: variance %g, expected %g', s, var, want))
      -- mean: x minus half a step of truncation, within 6 standard errors
      assert(math.abs(mean - (128 / 255 - 0.5 / 255)) <= 6 * math.sqrt(want / m) + 0.1 / 255,
        string.format('severity %d: mean %g', s, mean))
    end
  end)
end)

describe('rft.corrupt errors', function()
  local x = batch(1)
  it('names what was wrong', function()
    assert.error_matches(function() rft.corrupt.apply(x, 'rain', 1) end, "unknown corruption 'rain'")
    assert.error_matches(function() rft.corrupt.apply(x, 'fog', 6) end, 'severity must be 1..5, got 6')
    local bad = rft.tensor { shape = { 1, 3, 16, 16 } }
    assert.error_matches(function() rft.corrupt.apply(bad, 'fog', 1) end, 'x must be %[N,3,32,32%]')
    local ids = rft.from_table({ 1, 2 }, { 2 }, 'i32')
    assert.error_matches(function() rft.corrupt.apply(x, 'fog', 1, { ids = ids }) end, 'ids must hold 1 values')
  end)
  it('says where to get the frost photographs when the folder has none', function()
    assert.error_matches(function() rft.corrupt.find_frost('/nonexistent/frost') end,
      'hendrycks/robustness')
  end)
end)
