-- rft.models.whiten: the Jacobi eigensolver, and the patch-whitening filters checked against the
-- patch covariance computed here in float64: the + filters map it to diag(lambda / (lambda + eps)).
local rft = require 'rft'
local ffi = require 'ffi'
local whiten = require 'rft.models.whiten'

describe('rft.models.whiten', function()
  it('eigen_sym: A v = lambda v and orthonormal vectors for a symmetric matrix', function()
    local n = 7
    local a, A = ffi.new('double[?]', n * n), {}
    for i = 0, n - 1 do
      for j = i, n - 1 do
        local v = math.sin(3 * i + 5 * j + 1) + (i == j and 2 or 0)
        a[i * n + j], a[j * n + i] = v, v
      end
    end
    for i = 0, n * n - 1 do A[i] = a[i] end
    local vals, v = whiten.eigen_sym(a, n)
    for e = 0, n - 1 do
      for i = 0, n - 1 do
        local s = 0
        for j = 0, n - 1 do s = s + A[i * n + j] * v[e * n + j] end
        assert.is_true(math.abs(s - vals[e + 1] * v[e * n + i]) < 1e-12)
      end
      for f = 0, n - 1 do
        local dot = 0
        for j = 0, n - 1 do dot = dot + v[e * n + j] * v[f * n + j] end
        assert.is_true(math.abs(dot - (e == f and 1 or 0)) < 1e-12)
      end
    end
  end)

  it("apply: +/- pairs that whiten the images' 3x3 patches, in order of variance; the rest untouched", function()
    -- 12 images 3x9x9 whose channels are correlated (a shared term) and whose pixels are not
    local N, C, H, W = 12, 3, 9, 9
    local px, state = {}, 7
    local function rnd() state = (1103515245 * state + 12345) % 2147483648; return state / 2147483648 end
    for i = 0, N - 1 do
      for y = 0, H - 1 do
        for x = 0, W - 1 do
          local shared = rnd()
          for c = 0, C - 1 do px[((i * C + c) * H + y) * W + x + 1] = math.floor(255 * (0.6 * shared + 0.4 * rnd())) end
        end
      end
    end
    local images = rft.from_table(px, { N, C, H, W }, 'u8')
    local net = rft.models.fast { width = 2 }             -- 64 first-layer filters: 54 whitening, 10 kept
    local before = net.modules[1].weight:to_table()
    local eps = 1e-2
    local lambda = whiten.apply(net, images, { eps = eps })
    local wt = net.modules[1].weight:to_table()
    local D = C * 9
    -- the patch covariance, here in float64 from its definition
    local patches = {}
    for i = 0, N - 1 do
      for y = 0, H - 3 do
        for x = 0, W - 3 do
          local p = {}
          for c = 0, C - 1 do
            for dy = 0, 2 do for dx = 0, 2 do p[#p + 1] = px[((i * C + c) * H + y + dy) * W + x + dx + 1] / 255 end end
          end
          patches[#patches + 1] = p
        end
      end
    end
    local mean = {}
    for j = 1, D do
      local s = 0
      for _, p in ipairs(patches) do s = s + p[j] end
      mean[j] = s / #patches
    end
    local function filter(f, j) return wt[f * D + j] end
    local function var_of(f, g)                           -- filter f's and g's outputs: covariance
      local s = 0
      for _, p in ipairs(patches) do
        local a, b = 0, 0
        for j = 1, D do a = a + filter(f, j) * (p[j] - mean[j]); b = b + filter(g, j) * (p[j] - mean[j]) end
        s = s + a * b
      end
      return s / #patches
    end
    for k = 1, D - 1 do assert.is_true(lambda[k] >= lambda[k + 1]) end
    for a = 0, 8 do                                         -- the first nine components and their pairs
      for b = 0, 8 do
        local want = a == b and lambda[a + 1] / (lambda[a + 1] + eps) or 0
        assert.is_true(math.abs(var_of(2 * a, 2 * b) - want) < 2e-4, string.format('filters %d, %d', 2 * a, 2 * b))
      end
      for j = 1, D do assert.equal(-filter(2 * a, j), filter(2 * a + 1, j)) end
    end
    for i = 2 * D * D + 1, #wt do assert.equal(before[i], wt[i]) end
  end)

  it('names the images it was given when they are not u8 [N,C,H,W]', function()
    local net = rft.models.fast { width = 0.25 }
    assert.has_error(function() whiten.apply(net, rft.tensor { shape = { 2, 3, 8, 8 } }) end,
      'rft.models.whiten.apply: images must be u8 [N,3,H,W], got rft.Tensor f32 cpu [2,3,8,8] min=0 max=0 mean=0')
  end)
end)
