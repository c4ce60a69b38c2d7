-- The invariance score (second paper, eq. 2) and the layer weights of the invariance loss.
local rft = require 'rft'

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

describe('the invariance score', function()
  it('equals the brute-force N x N computation', function()
    local f = rft.rand.normal(rft.tensor { shape = { 9, 2, 3 } }, { seed = 1 })
    local g = rft.rand.normal(rft.tensor { shape = { 9, 2, 3 } }, { seed = 2, std = 0.3 })
    g = rft.from_table((function()
      local a, b, o = f:to_table(), g:to_table(), {}
      for i = 1, #a do o[i] = a[i] + b[i] end
      return o
    end)(), { 9, 2, 3 })
    local got, want = rft.invariance.score(f, g):to_table(), brute(f, g)
    for i = 1, 9 do assert.near(want[i], got[i], 1e-5) end
  end)

  it('is 1 when G is the identity and about 0 when G gives an unrelated image', function()
    local f = rft.rand.uniform(rft.tensor { shape = { 50, 20 } }, { seed = 3 })
    for _, v in ipairs(rft.invariance.score(f, f:copy()):to_table()) do assert.near(1, v, 1e-6) end
    local other = rft.rand.uniform(rft.tensor { shape = { 50, 20 } }, { seed = 4 })
    local mean = rft.invariance.score(f, other):mean()
    assert.near(0, mean, 0.15)
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
    local s1, names = rft.invariance.layer_scores(net, d, G, { draws = 2, batch = 7 })
    local s2 = rft.invariance.layer_scores(net, d, G, { draws = 2, batch = 24 })
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
    local ident = rft.invariance.layer_scores(net, d, rft.aug.identity(), { draws = 1 })
    for _, v in ipairs(ident[names[3]]:to_table()) do assert.near(1, v, 1e-5) end
    local summary = rft.invariance.summary(ident, names)
    assert.near(1, summary[names[3]].median, 1e-5)
  end)
end)
