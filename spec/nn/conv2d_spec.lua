-- conv2d: rft's 2-D convolution against PyTorch (spec/fixtures/conv2d.bin from tools/fixtures/conv2d.py),
-- against a float64 reference for every algorithm the CPU has, accumulating parameter gradients, and naming what is wrong with bad input.
-- The C functions are called directly through the FFI; the Lua module has its own spec.
local ffi = require 'ffi'
local rft = require 'rft'
local fx = require 'support.fixture'
local C = rft.C
-- RFT_CONV_ALGO / RFT_CPU_ISA / RFT_WINO_CHUNK_TILES are read per call, so the spec sets them in-process.
pcall(ffi.cdef, [[ int setenv(const char *name, const char *value, int overwrite); int unsetenv(const char *name); ]])

local call = require('support.opcheck').run

local function args_of(t)
  local v = t:to_table()
  return ffi.new('rft_conv2d_args', { v[1], v[2], v[3], v[4], v[5], v[6] })
end

local assert_close = fx.assert_close

local function zeros(shape) return rft.tensor { shape = shape } end

local function dot(a, b)
  local s = 0
  for i = 1, #a do s = s + a[i] * b[i] end
  return s
end

-- The CPU backend runs `wide` with Winograd (3x3, stride 1, 16+ channels), `tiny*` (maps smaller
-- than the kernel) as one dense GEMM, and the others with direct convolution.
local cases = { 'same3x3', 'stride2', 'point1x1', 'valid3x3', 'odd', 'wide', 'tiny', 'tiny_odd' }

describe('conv2d', function()
  local F = fx.load('conv2d')

  describe('matches PyTorch', function()
    for _, name in ipairs(cases) do
      local function get(k) return F[name .. '.' .. k] end

      it('forward: ' .. name, function()
        local y = zeros { 1 }
        call(C.rft_conv2d_forward, args_of(get 'args'), get 'x', get 'w', get 'b', y)
        assert_close(y, get 'y', 1e-4, 1e-4, name .. ' y')
      end)

      it('backward_input: ' .. name, function()
        local dx = zeros { 1 }
        call(C.rft_conv2d_backward_input, args_of(get 'args'), get 'x', get 'w', get 'dy', dx)
        assert_close(dx, get 'dx', 1e-4, 1e-4, name .. ' dx')
      end)

      it('backward_params: ' .. name, function()
        local dw, db = zeros(get('w'):shape()), zeros(get('b'):shape())
        call(C.rft_conv2d_backward_params, args_of(get 'args'), get 'x', get 'dy', 1, dw, db)
        assert_close(dw, get 'dw', 1e-4, 1e-4, name .. ' dw')
        assert_close(db, get 'db', 1e-4, 1e-4, name .. ' db')
      end)
    end

    it('without a bias', function()
      local a, x, w = args_of(F['odd.args']), F['odd.x'], F['odd.w']
      local y, yb = zeros { 1 }, zeros { 1 }
      call(C.rft_conv2d_forward, a, x, w, nil, y)
      call(C.rft_conv2d_forward, a, x, w, F['odd.b'], yb)
      local got, with_bias, b = y:to_table(), yb:to_table(), F['odd.b']:to_table()
      local shape = y:shape()
      local plane = shape[3] * shape[4]
      for i = 1, #got do
        local c = math.floor((i - 1) / plane) % shape[2]
        assert.near(with_bias[i] - b[c + 1], got[i], 1e-5)
      end
      local dw = zeros(w:shape())
      call(C.rft_conv2d_backward_params, a, x, F['odd.dy'], 1, dw, nil)
      assert_close(dw, F['odd.dw'], 1e-4, 1e-4, 'dw without db')
    end)

    it('on a view of one image of the batch', function()
      local a, x = args_of(F['same3x3.args']), F['same3x3.x']
      local y = zeros { 1 }
      call(C.rft_conv2d_forward, a, x:view(1, 2), F['same3x3.w'], F['same3x3.b'], y)
      assert_close(y, F['same3x3.y']:view(1, 2), 1e-4, 1e-4, 'second image')
    end)
  end)

  describe('parameter gradients', function()
    local name = 'stride2'
    local a, x, dy = args_of(F[name .. '.args']), F[name .. '.x'], F[name .. '.dy']
    local w, b = F[name .. '.w'], F[name .. '.b']

    it('accumulate, scaled', function()
      local dw, db = zeros(w:shape()), zeros(b:shape())
      call(C.rft_conv2d_backward_params, a, x, dy, 0.5, dw, db)
      call(C.rft_conv2d_backward_params, a, x, dy, 2.5, dw, db)
      local want_w, want_b = F[name .. '.dw']:to_table(), F[name .. '.db']:to_table()
      for i = 1, #want_w do want_w[i] = 3 * want_w[i] end
      for i = 1, #want_b do want_b[i] = 3 * want_b[i] end
      assert_close(dw, rft.from_table(want_w, w:shape()), 3e-4, 1e-4, 'dw after 0.5 + 2.5')
      assert_close(db, rft.from_table(want_b, b:shape()), 3e-4, 1e-4, 'db after 0.5 + 2.5')
    end)

    it('add nothing for an empty batch', function()
      local dw, db = zeros(w:shape()), zeros(b:shape())
      local shape = x:shape()
      shape[1] = 0
      local dshape = dy:shape()
      dshape[1] = 0
      call(C.rft_conv2d_backward_params, a, zeros(shape), zeros(dshape), 1, dw, db)
      assert.equal(0, dw:max())
      assert.equal(0, db:min())
    end)
  end)

  describe('agrees with a float64 reference, for every algorithm the CPU has', function()
    -- L = sum(y * r) is linear in each of x, w and b, so float32 central differences of L measure only
    -- rounding (they failed on AVX2 for that reason). Instead y, dx = dL/dx, dw and db are computed here
    -- in Lua doubles by direct convolution and each element is checked against its own rounding bound.
    -- The inputs are float32 values, exact in double; the reference's own error (~1e-16 relative) is
    -- negligible, so all the difference is the engine's float32 rounding, u = 2^-24:
    --
    -- Direct convolution and GEMM (oneDNN's direct, "dense"): each element is a sum of K products in
    -- some order, |fl(s) - s| <= gamma_K * S, gamma_K = K u / (1 - K u), S = sum of |terms| (Higham,
    -- Accuracy and Stability, 3.1). K = Cin*kh*kw (+1 for the bias) for y, Cout*max(kh*kw, Ho*Wo) for
    -- dx (the dense GEMM's rows run over Cout*Ho*Wo), N*Ho*Wo for dw and db.
    --
    -- Winograd F(m x m, 3x3) on tiles of m x m outputs (anchored at output (0,0), inputs n = m+2 wide):
    -- y_tile = A^T [sum_c (G g_c G^T) .* (B^T d_c B)] A. Each stage rounds: filter transform (two passes of
    -- 3 terms, plus G's entries rounded to float: 8 roundings), input transform (2n), the channel sum
    -- with its product (Cin + 1), output transform (2n), bias (1). To first order in u,
    --   |fl(y) - y| <= gamma_d * |A^T| [sum_c (|G| |g_c| |G^T|) .* (|B^T| |d_c| |B|)] |A|,
    --   d = Cin + 4n + 10,
    -- the bound computed here with absolute values of every matrix and datum (S_wino >= S: the
    -- transforms mix terms that cancel in exact arithmetic, which is where Winograd loses accuracy).
    -- dx is the same form on dy with the kernel turned 180 degrees (Cout channels, padding 2 - pad).
    -- dw = sum over images and tiles of G^T [(A dy_t A^T) .* (B^T x_t B)] G, so
    --   |fl(dw) - dw| <= gamma_d * |G^T| [sum (|A| |dy_t| |A^T|) .* (|B^T| |x_t| |B|)] |G|,
    --   d = N*T + 1 + 2m + 4n + 2 (T tiles an image).
    -- oneDNN's Winograd (AVX-512 only) is F(4x4,3x3); its bound is modelled with Lavin and Gray's
    -- matrices (the same interpolation points 0, +-1, +-2).
    local u = 2 ^ -24
    local function gamma(k) return k * u / (1 - k * u) end

    local F2 = { -- F(2x2,3x3)
      m = 2,
      BT = { { 1, 0, -1, 0 }, { 0, 1, 1, 0 }, { 0, -1, 1, 0 }, { 0, 1, 0, -1 } },
      G = { { 1, 0, 0 }, { .5, .5, .5 }, { .5, -.5, .5 }, { 0, 0, 1 } },
      AT = { { 1, 1, 1, 0 }, { 0, 1, -1, -1 } },
    }
    local F4 = { -- F(4x4,3x3)
      m = 4,
      BT = { { 4, 0, -5, 0, 1, 0 }, { 0, -4, -4, 1, 1, 0 }, { 0, 4, -4, -1, 1, 0 }, { 0, -2, -1, 2, 1, 0 },
        { 0, 2, -1, -2, 1, 0 }, { 0, 4, 0, -5, 0, 1 } },
      G = { { 1 / 4, 0, 0 }, { -1 / 6, -1 / 6, -1 / 6 }, { -1 / 6, 1 / 6, -1 / 6 }, { 1 / 24, 1 / 12, 1 / 6 },
        { 1 / 24, -1 / 12, 1 / 6 }, { 0, 0, 1 } },
      AT = { { 1, 1, 1, 1, 1, 0 }, { 0, 1, -1, 2, -2, 0 }, { 0, 1, 1, 4, 4, 0 }, { 0, 1, -1, 8, -8, 1 } },
    }

    -- |P| X |Q|^T for small dense matrices (tables of rows); X is rows x cols.
    local function sandwich(P, X, Q)
      local t = {}
      for i = 1, #P do
        t[i] = {}
        for j = 1, #X[1] do
          local s = 0
          for k = 1, #X do s = s + math.abs(P[i][k]) * X[k][j] end
          t[i][j] = s
        end
      end
      local out = {}
      for i = 1, #t do
        out[i] = {}
        for j = 1, #Q do
          local s = 0
          for k = 1, #t[1] do s = s + t[i][k] * math.abs(Q[j][k]) end
          out[i][j] = s
        end
      end
      return out
    end
    local function transpose(M)
      local t = {}
      for i = 1, #M[1] do
        t[i] = {}
        for j = 1, #M do t[i][j] = M[j][i] end
      end
      return t
    end

    -- A tensor of shape (a,b,h,w) as a flat Lua array with an accessor that reads 0 outside the map.
    local function grid(t)
      local s, v = t:shape(), t:to_table()
      local g = { v = v, s = s }
      function g.at(a, b, i, j)
        if i < 0 or j < 0 or i >= s[3] or j >= s[4] then return 0 end
        return v[((a * s[2] + b) * s[3] + i) * s[4] + j + 1]
      end
      return g
    end

    -- The window of an n x n tile of g(a,b,.,.) at (i0,j0), in absolute values.
    local function tile_abs(g, a, b, i0, j0, n)
      local t = {}
      for i = 1, n do
        t[i] = {}
        for j = 1, n do t[i][j] = math.abs(g.at(a, b, i0 + i - 1, j0 + j - 1)) end
      end
      return t
    end

    -- Forward-form Winograd bound: S[(a*O + o)*Ho*Wo + p] for input X (Na,C,H,W), kernels K(o,c) 3x3
    -- (a function giving the 3x3 table), padding pad, stride 1.
    local function wino_forward_abs(W, X, O, kern, pad, Ho, Wo)
      local m, n = W.m, W.m + 2
      local BT, GT = W.BT, transpose(W.G)
      local S = {}
      local Na, C = X.s[1], X.s[2]
      local U = {}
      for o = 0, O - 1 do
        U[o] = {}
        for c = 0, C - 1 do U[o][c] = sandwich(W.G, kern(o, c), W.G) end
      end
      for a = 0, Na - 1 do
        for ty = 0, math.ceil(Ho / m) - 1 do
          for tx = 0, math.ceil(Wo / m) - 1 do
            local V = {}
            for c = 0, C - 1 do
              V[c] = sandwich(BT, tile_abs(X, a, c, ty * m - pad, tx * m - pad, n), BT)
            end
            for o = 0, O - 1 do
              local M = {}
              for i = 1, n do
                M[i] = {}
                for j = 1, n do
                  local s = 0
                  for c = 0, C - 1 do s = s + U[o][c][i][j] * V[c][i][j] end
                  M[i][j] = s
                end
              end
              local Y = sandwich(W.AT, M, W.AT)
              for i = 1, m do
                for j = 1, m do
                  local oy, ox = ty * m + i - 1, tx * m + j - 1
                  if oy < Ho and ox < Wo then S[((a * O + o) * Ho + oy) * Wo + ox + 1] = Y[i][j] end
                end
              end
            end
          end
        end
      end
      return S, GT
    end

    -- Backward-weights Winograd bound: S[(o*C + c)*9 + t].
    local function wino_weights_abs(W, X, DY, pad)
      local m, n = W.m, W.m + 2
      local A = transpose(W.AT)
      local Na, C, O, Ho, Wo = X.s[1], X.s[2], DY.s[2], DY.s[3], DY.s[4]
      local S = {}
      local M = {}
      for o = 0, O - 1 do
        M[o] = {}
        for c = 0, C - 1 do
          M[o][c] = {}
          for i = 1, n do
            M[o][c][i] = {}
            for j = 1, n do M[o][c][i][j] = 0 end
          end
        end
      end
      for a = 0, Na - 1 do
        for ty = 0, math.ceil(Ho / m) - 1 do
          for tx = 0, math.ceil(Wo / m) - 1 do
            local V, P = {}, {}
            for c = 0, C - 1 do V[c] = sandwich(W.BT, tile_abs(X, a, c, ty * m - pad, tx * m - pad, n), W.BT) end
            for o = 0, O - 1 do P[o] = sandwich(A, tile_abs(DY, a, o, ty * m, tx * m, m), A) end
            for o = 0, O - 1 do
              for c = 0, C - 1 do
                local Mo = M[o][c]
                for i = 1, n do
                  for j = 1, n do Mo[i][j] = Mo[i][j] + P[o][i][j] * V[c][i][j] end
                end
              end
            end
          end
        end
      end
      local GT = transpose(W.G)
      for o = 0, O - 1 do
        for c = 0, C - 1 do
          local R = sandwich(GT, M[o][c], GT)
          for i = 1, 3 do
            for j = 1, 3 do S[(o * C + c) * 9 + (i - 1) * 3 + j] = R[i][j] end
          end
        end
      end
      return S
    end

    -- Direct convolution in doubles: y, dx, dw, db and the sums of |terms| of each element.
    local function reference(a, x, w, b, r)
      local X, Wt, R = grid(x), grid(w), grid(r)
      local N, C, H, Wd = x:shape()[1], x:shape()[2], x:shape()[3], x:shape()[4]
      local O, kh, kw, st, pad = w:shape()[1], a.kh, a.kw, a.stride_h, a.pad_h
      local Ho, Wo = r:shape()[3], r:shape()[4]
      local bv = b:to_table()
      local ref = { y = {}, ya = {}, dx = {}, dxa = {}, dw = {}, dwa = {}, db = {}, dba = {} }
      for i = 1, N * C * H * Wd do ref.dx[i], ref.dxa[i] = 0, 0 end
      for i = 1, O * C * kh * kw do ref.dw[i], ref.dwa[i] = 0, 0 end
      for o = 1, O do ref.db[o], ref.dba[o] = 0, 0 end
      for n = 0, N - 1 do
        for o = 0, O - 1 do
          for oy = 0, Ho - 1 do
            for ox = 0, Wo - 1 do
              local yi = ((n * O + o) * Ho + oy) * Wo + ox + 1
              local rv = R.v[yi]
              local s, sa = bv[o + 1], math.abs(bv[o + 1])
              for c = 0, C - 1 do
                for ky = 0, kh - 1 do
                  for kx = 0, kw - 1 do
                    local iy, ix = oy * st + ky - pad, ox * st + kx - pad
                    if iy >= 0 and ix >= 0 and iy < H and ix < Wd then
                      local xi = ((n * C + c) * H + iy) * Wd + ix + 1
                      local wi = ((o * C + c) * kh + ky) * kw + kx + 1
                      local xv, wv = X.v[xi], Wt.v[wi]
                      s, sa = s + xv * wv, sa + math.abs(xv * wv)
                      ref.dx[xi], ref.dxa[xi] = ref.dx[xi] + rv * wv, ref.dxa[xi] + math.abs(rv * wv)
                      ref.dw[wi], ref.dwa[wi] = ref.dw[wi] + rv * xv, ref.dwa[wi] + math.abs(rv * xv)
                    end
                  end
                end
              end
              ref.y[yi], ref.ya[yi] = s, sa
              ref.db[o + 1], ref.dba[o + 1] = ref.db[o + 1] + rv, ref.dba[o + 1] + math.abs(rv)
            end
          end
        end
      end
      return ref
    end

    -- Per-algorithm bounds: for each output, the scale S of its sum and the depth d of gamma_d.
    local function bounds(algo, a, x, w, r)
      local N, C = x:shape()[1], x:shape()[2]
      local O, kk = w:shape()[1], a.kh * a.kw
      local Ho, Wo = r:shape()[3], r:shape()[4]
      local W = ({ winograd_dnnl = F4, winograd = F4 })[algo]
      if not W then -- direct convolution or GEMM
        return { y = C * kk + 1, dx = O * math.max(kk, Ho * Wo), dw = N * Ho * Wo, db = N * Ho * Wo }
      end
      local n, m = W.m + 2, W.m
      local X, Wg, R = grid(x), grid(w), grid(r)
      local pad = a.pad_h
      local fwd = wino_forward_abs(W, X, O, function(o, c)
        return tile_abs(Wg, o, c, 0, 0, 3)
      end, pad, Ho, Wo)
      local bwd = wino_forward_abs(W, R, C, function(c, o) -- kernel turned 180 degrees, o and c swapped
        local k = tile_abs(Wg, o, c, 0, 0, 3)
        return { { k[3][3], k[3][2], k[3][1] }, { k[2][3], k[2][2], k[2][1] }, { k[1][3], k[1][2], k[1][1] } }
      end, 2 - pad, x:shape()[3], x:shape()[4])
      local wts = wino_weights_abs(W, X, R, pad)
      local tiles = math.ceil(Ho / m) * math.ceil(Wo / m)
      return { y = C + 4 * n + 10, dx = O + 4 * n + 10, dw = N * tiles + 1 + 2 * m + 4 * n + 2, db = N * Ho * Wo,
        scale = { y = fwd, dx = bwd, dw = wts } }
    end

    local function compare(label, what, got, want, abs, depth, scale)
      local g = got:to_table()
      assert(#g == #want, label .. ': ' .. what .. ' has ' .. #g .. ' elements, expected ' .. #want)
      local gd = gamma(depth)
      for i = 1, #want do
        local bound = gd * (scale and scale[i] or abs[i])
        -- the float32 result is also rounded once more when stored: half an ulp of the value
        bound = bound + u * math.abs(want[i])
        if math.abs(g[i] - want[i]) > bound then
          error(string.format('%s: %s[%d] is %.9g, float64 reference %.9g, bound %.3g (gamma_%d times %.4g)',
            label, what, i, g[i], want[i], bound, depth, scale and scale[i] or abs[i]), 0)
        end
      end
    end

    local ALGOS = { 'direct', 'winograd', 'winograd_dnnl', 'dense' }
    local function randn(shape, seed) return rft.rand.normal(zeros(shape), { seed = seed }) end

    -- Which algorithms a layer's shape allows (the CPU may still lack one: then the spec is pending).
    local function applies(algo, kh, stride, hw)
      if algo == 'dense' then return hw[1] * hw[2] < kh * kh end
      if algo == 'direct' then return true end
      return kh == 3 and stride == 1 -- the Winograds (padding 0 to 2 here)
    end

    local function check(label, kh, stride, pad, cin, cout, hw, nimg)
      for _, algo in ipairs(ALGOS) do
        if applies(algo, kh, stride, hw or { 7, 6 }) then it(label .. ' [' .. algo .. ']', function()
          local a = ffi.new('rft_conv2d_args', { kh, kh, stride, stride, pad, pad })
          hw = hw or { 7, 6 }
          local x, w, b = randn({ nimg or 2, cin, hw[1], hw[2] }, 1), randn({ cout, cin, kh, kh }, 2), randn({ cout }, 3)
          local y, dx, dw, db = zeros { 1 }, zeros { 1 }, zeros(w:shape()), zeros(b:shape())
          ffi.C.setenv('RFT_CONV_ALGO', algo, 1)
          local ok, err = pcall(function() call(C.rft_conv2d_forward, a, x, w, b, y) end)
          if not ok then
            ffi.C.unsetenv('RFT_CONV_ALGO')
            if tostring(err):find('cannot run this layer', 1, true) then return pending(algo .. ': ' .. err) end
            error(err, 0)
          end
          local r = randn(y:shape(), 4)
          local ok2, err2 = pcall(function()
            call(C.rft_conv2d_backward_input, a, x, w, r, dx)
            call(C.rft_conv2d_backward_params, a, x, r, 1, dw, db)
          end)
          ffi.C.unsetenv('RFT_CONV_ALGO')
          if not ok2 then error(err2, 0) end
          local ref = reference(a, x, w, b, r)
          local d = bounds(algo, a, x, w, r)
          local sc = d.scale or {}
          local lab = label .. ' [' .. algo .. ']'
          compare(lab, 'y', y, ref.y, ref.ya, d.y, sc.y)
          compare(lab, 'dx', dx, ref.dx, ref.dxa, d.dx, sc.dx)
          compare(lab, 'dw', dw, ref.dw, ref.dwa, d.dw, sc.dw)
          compare(lab, 'db', db, ref.db, ref.dba, d.db, nil)
        end) end
      end
    end
    check('3x3, stride 1, padding 1', 3, 1, 1, 3, 4)
    check('3x3, stride 2, padding 1', 3, 2, 1, 3, 4)
    check('1x1, no padding', 1, 1, 0, 3, 4)
    check('3x3, stride 1, 16 channels in and out', 3, 1, 1, 16, 16)
    check('3x3, stride 1, 24 in, 32 out, 9x10 maps, 3 images', 3, 1, 1, 24, 32, { 9, 10 }, 3)
    check('3x3, valid, 16 channels', 3, 1, 0, 16, 16, { 8, 8 })
    describe('with Winograd tiles in chunks of 8 (RFT_WINO_CHUNK_TILES)', function()
      setup(function() ffi.C.setenv('RFT_WINO_CHUNK_TILES', '8', 1) end)
      teardown(function() ffi.C.unsetenv('RFT_WINO_CHUNK_TILES') end)
      check('3x3, stride 1, 24 in, 32 out, 9x10 maps, 3 images', 3, 1, 1, 24, 32, { 9, 10 }, 3)
    end)
    check('3x3 on 2x2 maps', 3, 1, 1, 3, 4, { 2, 2 })
    check('3x3, stride 2 on 1x3 maps', 3, 2, 1, 3, 4, { 1, 3 })
  end)

  describe('rejects bad input, saying what is wrong', function()
    local a = ffi.new('rft_conv2d_args', { 3, 3, 1, 1, 1, 1 })
    local w = zeros { 6, 3, 3, 3 }
    local y = zeros { 1 }

    it('wrong channel count', function()
      assert.error_matches(function() call(C.rft_conv2d_forward, a, zeros { 2, 4, 8, 8 }, w, nil, y) end,
        'conv2d: input has 4 channels, weight expects 3 (input [2,4,8,8])', 1, true)
    end)
    it('wrong dtype', function()
      assert.error_matches(function()
        call(C.rft_conv2d_forward, a, rft.tensor { shape = { 2, 3, 8, 8 }, dtype = 'i32' }, w, nil, y)
      end, 'conv2d: input must be f32, got i32', 1, true)
    end)
    it('wrong number of dimensions', function()
      assert.error_matches(function() call(C.rft_conv2d_forward, a, zeros { 3, 8, 8 }, w, nil, y) end,
        'conv2d: input must have 4 dimensions, got [3,8,8]', 1, true)
    end)
    it('a kernel larger than the padded input', function()
      local valid = ffi.new('rft_conv2d_args', { 3, 3, 1, 1, 0, 0 })
      assert.error_matches(function() call(C.rft_conv2d_forward, valid, zeros { 1, 3, 2, 2 }, w, nil, y) end,
        'conv2d: kernel 3x3 is larger than the padded input 2x2', 1, true)
    end)
    it('a weight whose kernel is not the one in args', function()
      local five = ffi.new('rft_conv2d_args', { 5, 5, 1, 1, 2, 2 })
      assert.error_matches(function() call(C.rft_conv2d_forward, five, zeros { 1, 3, 8, 8 }, w, nil, y) end,
        'conv2d: weight [6,3,3,3] has a 3x3 kernel, args say 5x5', 1, true)
    end)
    it('a bias of the wrong size', function()
      assert.error_matches(function() call(C.rft_conv2d_forward, a, zeros { 1, 3, 8, 8 }, w, zeros { 5 }, y) end,
        'conv2d: bias is [5], expected [6]', 1, true)
    end)
    it('a grad_output of the wrong shape', function()
      assert.error_matches(function()
        call(C.rft_conv2d_backward_input, a, zeros { 1, 3, 8, 8 }, w, zeros { 1, 6, 4, 4 }, zeros { 1 })
      end, 'conv2d: grad_output is [1,6,4,4], expected [1,6,8,8]', 1, true)
    end)
    it('a grad_weight that does not fit the input', function()
      assert.error_matches(function()
        call(C.rft_conv2d_backward_params, a, zeros { 1, 4, 8, 8 }, zeros { 1, 6, 8, 8 }, 1, w, nil)
      end, 'conv2d: input has 4 channels, grad_weight expects 3', 1, true)
    end)
    it('an output that is also the input', function()
      local x = zeros { 1, 3, 8, 8 }
      assert.error_matches(function() call(C.rft_conv2d_forward, a, x, zeros { 3, 3, 3, 3 }, nil, x) end,
        'conv2d: output shares memory with an input', 1, true)
    end)
    it('missing args or tensors', function()
      assert.error_matches(function() call(C.rft_conv2d_forward, nil, zeros { 1, 3, 8, 8 }, w, nil, y) end,
        'conv2d: args is missing', 1, true)
      assert.error_matches(function() call(C.rft_conv2d_forward, a, zeros { 1, 3, 8, 8 }, nil, nil, y) end,
        'conv2d: weight is missing', 1, true)
    end)
    it('an unknown RFT_CONV_ALGO or RFT_CPU_ISA', function()
      local x = zeros { 1, 3, 8, 8 }
      ffi.C.setenv('RFT_CONV_ALGO', 'fft', 1)
      local ok, err = pcall(call, C.rft_conv2d_forward, a, x, w, nil, y)
      ffi.C.unsetenv('RFT_CONV_ALGO')
      assert.is_false(ok)
      assert.matches("conv2d: RFT_CONV_ALGO is 'fft', expected auto, direct, winograd, winograd_dnnl or dense", err, 1, true)
      ffi.C.setenv('RFT_CPU_ISA', 'sse2', 1)
      ok, err = pcall(call, C.rft_conv2d_forward, a, zeros { 1, 16, 8, 8 }, zeros { 16, 16, 3, 3 }, nil, y)
      ffi.C.unsetenv('RFT_CPU_ISA')
      assert.is_false(ok)
      assert.matches("conv2d: RFT_CPU_ISA is 'sse2', expected avx2 or avx512", err, 1, true)
    end)
    it('a forced algorithm that cannot run the layer', function()
      ffi.C.setenv('RFT_CONV_ALGO', 'winograd', 1)
      local bad = ffi.new('rft_conv2d_args', { 3, 3, 2, 2, 1, 1 })
      local ok, err = pcall(call, C.rft_conv2d_forward, bad, zeros { 1, 3, 8, 8 }, w, nil, y)
      ffi.C.unsetenv('RFT_CONV_ALGO')
      assert.is_false(ok)
      assert.matches('conv2d: algorithm winograd (RFT_CONV_ALGO) cannot run this layer: it is not a 3x3 stride-1', err, 1,
        true)
    end)
    it('a zero stride', function()
      local bad = ffi.new('rft_conv2d_args', { 3, 3, 0, 1, 1, 1 })
      assert.error_matches(function() call(C.rft_conv2d_forward, bad, zeros { 1, 3, 8, 8 }, w, nil, y) end,
        'conv2d: stride is 0,1, expected at least 1', 1, true)
    end)
  end)
end)
