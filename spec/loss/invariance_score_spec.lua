-- The invariance score (second paper, eq. 2) and the layer weights of the invariance loss.
local rft = require 'rft'
local ffi = require 'ffi'
local C = rft.C

-- Brute force: the N x N mean of distances.
local function brute(f, g)
  local n = #f
  local d = f:numel() / n
  local a, b = f:to_table(), g:to_table()
  local function dist(x, i, y, j)
    local s = 0
    for k = 1, d do local t = x[(i - 1) * d + k] - y[(j - 1) * d + k]; s = s + t * t end
    return s / d
  end
  local out = {}
  for i = 1, n do
    local den = 0
    for j = 1, n do den = den + dist(a, i, a, j) end
    out[i] = 1 - dist(a, i, b, i) / (den / n)
  end
  return out
end

-- Tolerance: the engine keeps the running mean and S = mean |f_j - mean|^2 in float and sums each
-- row's squares in double, so the denominator carries a relative error of a few u = 2^-24 times
-- kappa^2 = (max|f| / rms(f - mean))^2 (<= 10 for these features) and the score 1 - num/den an error
-- <= (num/den) * 10 * 4u ~ 3e-6 for num/den <= 1: 1e-5 is above it.
local TOL = 1e-5

describe('the invariance score', function()
  local function features()
    local f = rft.rand.normal(rft.tensor { shape = { 9, 2, 3 } }, { seed = 1 })
    local noise = rft.rand.normal(rft.tensor { shape = { 9, 2, 3 } }, { seed = 2, std = 0.3 })
    local a, b, o = f:to_table(), noise:to_table(), {}
    for i = 1, #a do o[i] = a[i] + b[i] end
    return f, rft.from_table(o, { 9, 2, 3 })
  end

  it('equals the brute-force N x N computation', function()
    local f, g = features()
    local got, want = rft.invariance.score(f, g):to_table(), brute(f, g)
    for i = 1, 9 do assert.near(want[i], got[i], TOL) end
  end)

  it('is 1 when G is the identity and about 0 when G gives an unrelated image', function()
    local f = rft.rand.uniform(rft.tensor { shape = { 50, 20 } }, { seed = 3 })
    for _, v in ipairs(rft.invariance.score(f, f:copy()):to_table()) do assert.near(1, v, 1e-6) end
    local other = rft.rand.uniform(rft.tensor { shape = { 50, 20 } }, { seed = 4 })
    local mean = rft.invariance.score(f, other):mean()
    assert.near(0, mean, 0.15)
  end)

  it('folds batches into the same running statistics as the whole set (Chan\'s update)', function()
    local f = rft.rand.uniform(rft.tensor { shape = { 23, 7 } }, { seed = 5, lo = -1, hi = 3 })
    local whole, parts = rft.tensor { shape = { 0 } }, rft.tensor { shape = { 0 } }
    assert.equal(0, C.rft_invariance_stats(f, whole), ffi.string(C.rft_last_error()))
    for _, r in ipairs { { 0, 1 }, { 1, 9 }, { 9, 10 }, { 10, 23 } } do
      assert.equal(0, C.rft_invariance_stats(f:view(r[1], r[2]), parts), ffi.string(C.rft_last_error()))
    end
    -- float64 reference: mean, count, mean squared distance to the mean
    local x, mean, s = f:to_table(), {}, 0
    for k = 1, 7 do mean[k] = 0; for i = 0, 22 do mean[k] = mean[k] + x[i * 7 + k] / 23 end end
    for i = 0, 22 do for k = 1, 7 do s = s + (x[i * 7 + k] - mean[k]) ^ 2 / 23 end end
    local a, b = whole:to_table(), parts:to_table()
    for k = 1, 7 do
      assert.near(mean[k], a[k], 1e-6)                     -- float storage: 2^-24 of values <= 3
      assert.near(mean[k], b[k], 1e-6)
    end
    assert.equal(23, a[8]); assert.equal(23, b[8])
    assert.near(s, a[9], 1e-6 * s); assert.near(s, b[9], 1e-6 * s)
  end)

  it('writes scores at an offset with a stride, and refuses what does not fit', function()
    local f, g = features()
    local stats, out = rft.tensor { shape = { 0 } }, rft.tensor { shape = { 20 } }:fill(-5)
    assert.equal(0, C.rft_invariance_stats(f, stats))
    assert.equal(0, C.rft_invariance_score(f, g, stats, out, 1, 2), ffi.string(C.rft_last_error()))
    local o, want = out:to_table(), rft.invariance.score(f, g):to_table()
    for i = 1, 9 do assert.equal(want[i], o[2 * i]); assert.equal(-5, o[2 * i - 1]) end
    assert.equal(C.RFT_ESHAPE, C.rft_invariance_score(f, g, stats, out, 4, 2))
    assert.matches('out %[20%] is too small for 9 scores at offset 4, stride 2', ffi.string(C.rft_last_error()))
    assert.equal(C.RFT_ESHAPE, C.rft_invariance_score(f, g:view(0, 8), stats, out, 0, 1))
    assert.matches('^invariance score: g has shape', ffi.string(C.rft_last_error()))
    assert.equal(C.RFT_ESHAPE, C.rft_invariance_stats(rft.tensor { shape = { 3, 5 } }, stats))
    assert.matches('stats %[8%] must hold 7 values', ffi.string(C.rft_last_error()))
  end)
end)

describe('the invariance-loss layer weights', function()
  it('follow the exponential law, sum to alpha, the deepest 10x the first', function()
    local w = rft.loss.invariance_weights({ 'a', 'b', 'c', 'd' }, 0.1)
    assert.near(0.1, w.a + w.b + w.c + w.d, 1e-12)
    assert.near(10, w.d / w.a, 1e-9)
    assert.near(10 ^ (1 / 3), w.b / w.a, 1e-9)
  end)

  it('weights rft.loss.invariance per tap and reports each L_inv', function()
    local f = rft.rand.uniform(rft.tensor { shape = { 8, 5 } }, { seed = 5 })
    local groups = rft.from_table({ 0, 0, 1, 1, 2, 2, 3, 3 }, { 8 }, 'i32')
    local taps = { { name = 'relu1', tensor = f }, { name = 'relu2', tensor = f } }
    local loss, grads, per = rft.loss.invariance(taps, groups)
    local w = rft.loss.invariance_weights { 'relu1', 'relu2' }
    assert.near(w.relu1 * per.relu1 + w.relu2 * per.relu2, loss, 1e-7)   -- weights pass as f32
    assert.is_truthy(grads.relu1)
    assert.error_matches(function() rft.loss.invariance(taps, groups, { normalizer = 'same_class' }) end, 'needs labels')
  end)
end)

describe('layer scores streamed over a dataset', function()
  it('equal score() on the whole set, batch size aside, and are 1 for an identity G', function()
    local net = rft.models.allcnn_c { width = 0.05, seed = 2 }
    local n = 24
    local img = rft.rand.uniform(rft.tensor { shape = { n * 3072 } }, { seed = 7, hi = 255 })
    local u8 = rft.tensor { shape = { n, 3, 32, 32 }, dtype = 'u8' }
    local src, dst = img:data(), u8:data()
    for i = 0, n * 3072 - 1 do dst[i] = src[i] end
    local d = { images = u8, labels = rft.tensor { shape = { n }, dtype = 'i32' }, n = n, classes = {} }
    local G = rft.aug.brightness { delta = 0.2 }
    local lines = {}
    local s1, names = rft.invariance.layer_scores(net, d, G,
      { draws = 2, batch = 7, progress = function(line) lines[#lines + 1] = line end })
    -- a line per tenth of each pass (batches of 7 of 24 images: after 7, 14, 21 and 24)
    assert.equal(8, #lines)
    assert.matches('^invariance scores: statistics 7/24 images', lines[1])
    assert.matches('^invariance scores: scores 24/24 images', lines[8])
    local s2 = rft.invariance.layer_scores(net, d, G, { draws = 2, batch = 24, progress = false })
    for _, name in ipairs(names) do
      local a, b = s1[name]:to_table(), s2[name]:to_table()
      for i = 1, #a do assert.near(b[i], a[i], 1e-4) end
    end
    -- against score(f, g) on the whole set for the first layer, draw 1
    net:evaluate()
    local x = u8:float()
    net:forward(x); local f = net:taps()[1].tensor:copy()
    net:forward(G:apply(x, { seed = 1, ids = d.ids })); local g = net:taps()[1].tensor:copy()
    local want, got = rft.invariance.score(f, g):to_table(), s1[names[1]]:to_table()
    for i = 1, n do assert.near(want[i], got[(i - 1) * 2 + 1], 1e-4) end
    local ident = rft.invariance.layer_scores(net, d, rft.aug.identity(), { draws = 1, progress = false })
    for _, v in ipairs(ident[names[3]]:to_table()) do assert.near(1, v, 1e-5) end
    local summary = rft.invariance.summary(ident, names)
    assert.near(1, summary[names[3]].median, 1e-5)
  end)
end)

describe('choosing the invariance model (recipes/invariance_cifar.lua)', function()
  it('profiles the medians by depth: values, rising steps, mean', function()
    local s = { a = { median = 0.2 }, b = { median = 0.5 }, c = { median = 0.4 }, d = { median = 0.9 } }
    local m, rises, mean = rft.invariance.depth_profile(s, { 'a', 'b', 'c', 'd' })
    assert.same({ 0.2, 0.5, 0.4, 0.9 }, m)
    assert.equal(2, rises)
    assert.near(0.5, mean, 1e-12)
  end)
  it('takes the most invariant within the accuracy bound, else the most accurate', function()
    local base = { val_accuracy = 88.0 }
    local a = { val_accuracy = 87.6, val_mean_median = 0.60 }  -- within 0.5
    local b = { val_accuracy = 87.4, val_mean_median = 0.70 }  -- more invariant, 0.6 under
    local c = { val_accuracy = 88.3, val_mean_median = 0.55 }
    local m, kept = rft.invariance.select({ a, b, c }, base, 0.5)
    assert.equal(a, m); assert.is_true(kept)
    m, kept = rft.invariance.select({ a, b, c }, base, 1)
    assert.equal(b, m); assert.is_true(kept)
    m, kept = rft.invariance.select({ a, b }, { val_accuracy = 90 }, 0.5)
    assert.equal(a, m); assert.is_false(kept)
  end)
end)
