-- Pipelines: determinism (same seed and ids -> bit-identical images whatever the batch split or the
-- thread count; other seeds, epochs or ids -> other images), clipping, per-image parameters and
-- distributions, chains and their printout, presets, the heavier scheme and G, copies, bad input.
local rft = require 'rft'
local U = require 'aug.util'
local aug = rft.aug

local function ids_of(t) return rft.from_table(t, { #t }, 'i32') end

local pipelines = {
  ['Combined+'] = aug.paper.cifar10.combined_plus,
  ['Combined-'] = aug.paper.cifar10.combined_minus,
  heavier = aug.heavier(),
  G = aug.G(),
  crop_flip = aug.chain { aug.crop { pad = 4 }, aug.hflip {} },
}

describe('a pipeline', function()
  for name, p in pairs(pipelines) do
    it(name .. ' gives bit-identical images for a batch and for its halves with the same ids', function()
      local x = U.batch({ 8, 3, 16, 16 }, 21)
      local ids = { 10, 11, 12, 13, 40000, 15, 16, 17 }
      local whole = p:apply(x, { seed = 5, ids = ids_of(ids) })
      local a = p:apply(x:view(0, 3), { seed = 5, ids = ids_of { 10, 11, 12 } })
      local b = p:apply(x:view(3, 8), { seed = 5, ids = ids_of { 13, 40000, 15, 16, 17 } })
      assert.is_true(U.bits_equal(whole, rft.cat { a, b }))
    end)

    it(name .. ' gives bit-identical images on 1 and 2 threads', function()
      local x = U.batch({ 16, 3, 32, 32 }, 3)
      local old = rft.threads()
      rft.threads(1)
      local one = p:apply(x, { seed = 9 })
      rft.threads(2)
      local two = p:apply(x, { seed = 9 })
      rft.threads(old)
      assert.is_true(U.bits_equal(one, two))
    end)

    it(name .. ' changes with the seed, the epoch and the image id, and stays in [0,1]', function()
      local x = U.batch({ 4, 3, 16, 16 }, 8)
      local a = p:apply(x, { seed = 1 })
      assert.is_true(U.in_unit(a))
      assert.is_false(U.bits_equal(a, p:apply(x, { seed = 2 })))
      assert.is_false(U.bits_equal(a, p:apply(x, { seed = 1, epoch = 2 })))
      assert.is_false(U.bits_equal(a, p:apply(x, { seed = 1, ids = ids_of { 4, 5, 6, 7 } })))
      assert.is_true(U.bits_equal(a, p:apply(x, { seed = 1, ids = ids_of { 0, 1, 2, 3 } })))
    end)
  end

  it('keeps every kernel within [0,1] at extreme strengths', function()
    local x = U.batch({ 4, 3, 8, 8 }, 2)
    for _, p in ipairs {
      aug.brightness { delta = 5 }, aug.brightness { delta = -5 }, aug.contrast { gamma = 50 },
      aug.saturation { alpha = 1e9 }, aug.gaussian_noise { sigma = 10 }, aug.gaussian_blur { sigma = 100 },
      aug.salt_pepper { p = 1, rho = 7 }, aug.affine { rotation = 45, zoom_x = 3 }, aug.hflip { p = 1 },
      aug.crop { pad = 9 }, aug.contrast { gamma = -3 },
    } do
      assert.is_true(U.in_unit(p:apply(x, { seed = 3 })), tostring(p))
    end
  end)

  it('takes a tensor of one value per image', function()
    local x = U.batch({ 3, 3, 4, 4 }, 4)
    local y = aug.saturation { alpha = U.vals { 0, 2, 6 } }:apply(x)
    for i, a in ipairs { 0, 2, 6 } do
      local one = aug.saturation { alpha = a }:apply(x:view(i - 1, i))
      assert.is_true(U.bits_equal(one, y:view(i - 1, i)))
    end
  end)

  it('draws distribution parameters per image, by id, from the parameter\'s own stream', function()
    local x = rft.tensor { shape = { 6, 3, 2, 2 } }:fill(0.5)
    local p = aug.brightness { delta = aug.uniform(-0.25, 0.25) }
    local y = p:apply(x, { seed = 4, ids = ids_of { 0, 1, 2, 3, 4, 5 } }):to_table()
    local per = {}
    for i = 0, 5 do
      per[i] = y[i * 12 + 1] - 0.5
      for k = 2, 12 do assert.near(per[i], y[i * 12 + k] - 0.5, 1e-6) end
      assert.is_true(per[i] > -0.25 - 1e-6 and per[i] <= 0.25 + 1e-6)
    end
    assert.are_not.equal(per[0], per[1])
    -- image 3 alone, with its id, draws the same delta
    local alone = p:apply(x:view(3, 4), { seed = 4, ids = ids_of { 3 } }):to_table()
    assert.near(per[3], alone[1] - 0.5, 1e-7)
  end)

  it('chains steps in order with clipping after each: B then B is not B(sum) near the bounds', function()
    local x = rft.tensor { shape = { 1, 3, 2, 2 } }:fill(0.5)
    local y = aug.chain { aug.brightness { delta = 0.8 }, aug.brightness { delta = -0.5 } }:apply(x)
    U.close(y:to_table(), (function() local t = {} for i = 1, 12 do t[i] = 0.5 end return t end)(), 1e-6)
  end)

  it('runs chains of steps that cannot work in place, nested chains and empty chains', function()
    local x = U.batch({ 2, 3, 6, 6 }, 1)
    local inner = aug.chain { aug.crop { dx = 1, dy = 0 }, aug.affine { rotation = 0 } }
    local p = aug.chain { aug.brightness { delta = 0.1 }, inner, aug.crop { dx = -1, dy = 0 }, aug.hflip { p = 0 } }
    local step = aug.brightness { delta = 0.1 }:apply(x)
    step = aug.crop { dx = 1, dy = 0 }:apply(step)
    step = aug.crop { dx = -1, dy = 0 }:apply(step)
    assert.is_true(U.bits_equal(step, p:apply(x)))
    assert.is_true(U.bits_equal(x, aug.chain {}:apply(x)))
    local out = rft.tensor { shape = { 1 } }
    assert.equal(out, p:apply(x, { out = out }))
    assert.same({ 2, 3, 6, 6 }, out:shape())
  end)

  it('prints the order and the parameters (Combined: B, S, GB, GN, SAP)', function()
    local s = tostring(aug.paper.cifar10.combined_plus)
    local last = 0
    for _, part in ipairs { 'Combined%+ = chain{', '1 B%+ brightness{delta=0.39}', '2 S%+ saturation{alpha=6}',
                            '3 GB gaussian_blur{size=3, sigma=0.675, border=reflect101}',
                            '4 GN gaussian_noise{mean=0, sigma=0.075}',
                            '5 SAP salt_pepper{p=0.025, q=0.5, rho=0.5, per=value}' } do
      local at = s:find(part)
      assert.is_truthy(at, part .. ' not in ' .. s)
      assert.is_true(at > last)
      last = at
    end
    assert.matches('S%- saturation{alpha=0}', tostring(aug.paper.cifar10.combined_minus))
  end)

  it('has the paper presets for CIFAR-10 and ImageNet', function()
    local c, i = aug.paper.cifar10, aug.paper.imagenet
    assert.equal(0.39, c.B_plus.params.delta); assert.equal(-0.36, c['B-'].params.delta)
    assert.equal(6, c.S_plus.params.alpha); assert.equal(0, c.S_minus.params.alpha)
    assert.equal(0.075, c.GN.params.sigma); assert.equal(0.675, c.GB.params.sigma)
    assert.same({ 0.025, 0.5, 0.5 }, { c.SAP.params.p, c.SAP.params.q, c.SAP.params.rho })
    assert.equal(0.43, i.B_plus.params.delta); assert.equal(0.2, i.S_minus.params.alpha)
    assert.equal(1.175, i.GB.params.sigma); assert.same({ 0.01, 0.7, 0.7 }, { i.SAP.params.p, i.SAP.params.q, i.SAP.params.rho })
  end)
end)

describe('the heavier scheme', function()
  local ranges = {
    rotation = { -22.5, 22.5 }, tx = { -0.1, 0.1 }, ty = { -0.1, 0.1 }, shear = { -0.15, 0.15 },
    zoom_x = { 0.85, 1.15 }, zoom_y = { 0.85, 1.15 },
  }
  local function params(p)
    local s = p.steps
    local t = {}
    for k, v in pairs(s[1].params) do t[k] = v end
    t.flip, t.brightness, t.contrast = s[2].params.flip, s[3].params.delta, s[4].params.gamma
    return t, { s[1].kind, s[2].kind, s[3].kind, s[4].kind }
  end

  it('goes affine, flip, brightness, contrast with truncated normals over the paper\'s ranges', function()
    local t, order = params(aug.heavier())
    assert.same({ 'affine', 'hflip', 'brightness', 'contrast' }, order)
    assert.equal('replicate', aug.heavier().steps[1].opts.border)
    ranges.brightness, ranges.contrast = { -0.25, 0.25 }, { 0.5, 1.5 }
    for name, r in pairs(ranges) do
      assert.equal('truncnormal', t[name].name, name)
      local lo, hi = t[name]:range()
      assert.near(r[1], lo, 1e-12); assert.near(r[2], hi, 1e-12)
      local d = t[name]:draw(3, 77, nil, 4000):to_table()
      local s, s2 = 0, 0
      for _, v in ipairs(d) do
        assert.is_true(v >= r[1] - 1e-6 and v <= r[2] + 1e-6, name .. ' drew ' .. v)
        s = s + v; s2 = s2 + v * v
      end
      local mean, sd = s / #d, math.sqrt(s2 / #d - (s / #d) ^ 2)
      local sigma = (r[2] - r[1]) / 4
      assert.near((r[1] + r[2]) / 2, mean, 5 * sigma / math.sqrt(#d))
      assert.near(0.88 * sigma, sd, 0.05 * sigma)     -- a normal cut at ±2 sigma keeps 0.88 of its sd
    end
    assert.equal('bernoulli(0.5)', tostring(t.flip))
  end)

  it('G takes exactly the ends of every halved range, each about half the time', function()
    local t = params(aug.G())
    local ends = {
      rotation = { -11.25, 11.25 }, tx = { -0.05, 0.05 }, ty = { -0.05, 0.05 }, shear = { -0.075, 0.075 },
      zoom_x = { 0.925, 1.075 }, zoom_y = { 0.925, 1.075 }, brightness = { -0.125, 0.125 }, contrast = { 0.75, 1.25 },
    }
    for name, e in pairs(ends) do
      local d = t[name]:draw(5, 9, nil, 1000):to_table()
      local low = 0
      for _, v in ipairs(d) do
        local f = rft.from_table({ e[1], e[2] }, { 2 }):to_table()   -- the ends as f32
        assert.is_true(v == f[1] or v == f[2], name .. ' drew ' .. v)
        if v == f[1] then low = low + 1 end
      end
      assert.near(500, low, 5 * math.sqrt(250), name)
    end
    assert.equal('G', aug.G().label)
    assert.matches('^G = chain{1 affine{rotation=choice{%-11.25, 11.25}', tostring(aug.G()))
  end)
end)

describe('aug.copies', function()
  it('turns K images into K·M copies with their seed-image groups, each copy distorted its own way', function()
    local x = U.batch({ 3, 3, 8, 8 }, 6)
    local c = aug.copies(aug.G(), 4)
    local out, groups, ids = c:apply(x, { seed = 2, ids = ids_of { 5, 6, 7 } })
    assert.same({ 12, 3, 8, 8 }, out:shape())
    assert.same({ 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2 }, groups:to_table())
    assert.same({ 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31 }, ids:to_table())
    local distinct = 0
    for j = 1, 3 do
      if not U.bits_equal(out:view(0, 1):copy(), out:view(j, j + 1):copy()) then distinct = distinct + 1 end
    end
    assert.equal(3, distinct)
    local again = c:apply(x, { seed = 2, ids = ids_of { 5, 6, 7 } })
    assert.is_true(U.bits_equal(out, again))
    assert.error_matches(function() aug.copies(aug.G(), 0) end, 'aug.copies: M must be a whole number >= 1')
  end)

  it('gathers copy j of image i into row i·M + j, bit for bit, before distorting it', function()
    local x = U.batch({ 3, 2, 4, 4 }, 7)
    local out, groups = aug.copies(aug.identity(), 3):apply(x)
    assert.same({ 0, 0, 0, 1, 1, 1, 2, 2, 2 }, groups:to_table())
    for r = 0, 8 do
      local i = math.floor(r / 3)
      assert.is_true(U.bits_equal(x:view(i, i + 1):copy(), out:view(r, r + 1):copy()), 'row ' .. r)
    end
  end)
end)

describe('bad input', function()
  it('is refused with messages that name the argument', function()
    local x = U.batch { 4, 3, 4, 4 }
    assert.error_matches(function() aug.brightness { delta = U.vals { 1, 2 } }:apply(x) end,
                         'aug_brightness: delta must hold 1 value or 4 %(one per image of x %[4,3,4,4%]%), got %[2%]')
    assert.error_matches(function() aug.brightness {} end, 'aug.brightness: delta is required')
    assert.error_matches(function() aug.brightness { delta = 'a lot' } end,
                         'aug.brightness: delta must be a number, a distribution')
    assert.error_matches(function() aug.brightness { delta = 1, sigma = 2 } end,
                         "aug.brightness: unknown option 'sigma' %(expected delta%)")
    assert.error_matches(function() aug.gaussian_noise { sigma = -1 }:apply(x) end,
                         'aug_gaussian_noise: sigma = %-1 %(value 1%), expected 0 <= sigma <= inf')
    assert.error_matches(function() aug.paper.cifar10.GN:apply(x, { ids = ids_of { 1, 2 } }) end,
                         'ids must be i32 %[4%]')
    assert.error_matches(function() aug.paper.cifar10.GN:apply(x, { seed = -1 }) end, 'seed must be a whole number >= 0')
    assert.error_matches(function() aug.paper.cifar10.GN:apply(rft.tensor { shape = { 4, 3 } }) end,
                         'x must be f32 %[N,C,H,W%], got f32 %[4,3%]')
    assert.error_matches(function() aug.uniform(2, 1) end, 'aug.uniform: empty range %[2, 1%]')
    assert.error_matches(function() aug.choice {} end, 'aug.choice: expected a list of numbers')
    assert.error_matches(function() aug.chain { aug.G(), 3 } end, 'aug.chain: step 2 is not a pipeline')
  end)
end)
