-- rft.models.whiten: patch-whitening initialisation of a network's first convolution (the
-- input-whitening layer of fast CIFAR-10 training recipes), from the covariance of image patches.
local ffi = require 'ffi'
local T = require 'rft.tensor'

local M = {}

-- Eigenvalues and eigenvectors of the symmetric n x n matrix a (0-based doubles, overwritten) by
-- cyclic Jacobi rotations: returns the values (Lua list) and v (v[i*n + j]: component j of vector i).
local function eigen_sym(a, n)
  local v = ffi.new('double[?]', n * n)
  for i = 0, n - 1 do v[i * n + i] = 1 end
  for _ = 1, 100 do
    local off = 0
    for p = 0, n - 2 do for q = p + 1, n - 1 do off = off + a[p * n + q] ^ 2 end end
    if off < 1e-22 then break end
    for p = 0, n - 2 do
      for q = p + 1, n - 1 do
        local apq = a[p * n + q]
        if math.abs(apq) > 1e-300 then
          local theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
          local t = (theta >= 0 and 1 or -1) / (math.abs(theta) + math.sqrt(theta * theta + 1))
          local c = 1 / math.sqrt(t * t + 1)
          local sn = t * c
          for k = 0, n - 1 do             -- a <- a J (columns p, q)
            local akp, akq = a[k * n + p], a[k * n + q]
            a[k * n + p], a[k * n + q] = c * akp - sn * akq, sn * akp + c * akq
          end
          for k = 0, n - 1 do             -- a <- J^T a (rows p, q)
            local apk, aqk = a[p * n + k], a[q * n + k]
            a[p * n + k], a[q * n + k] = c * apk - sn * aqk, sn * apk + c * aqk
          end
          for k = 0, n - 1 do             -- vectors: v <- v J, stored as rows of the transpose
            local vpk, vqk = v[p * n + k], v[q * n + k]
            v[p * n + k], v[q * n + k] = c * vpk - sn * vqk, sn * vpk + c * vqk
          end
        end
      end
    end
  end
  local values = {}
  for i = 0, n - 1 do values[i + 1] = a[i * n + i] end
  return values, v
end
M.eigen_sym = eigen_sym

--- rft.models.whiten.apply(net, images, o): the filters of the network's first convolution become
--- the principal directions of the k x k patches of `images` (u8 [N,C,H,W], the first o.images of
--- them, default 2000; pixels / 255 as the network sees them), in order of variance, each twice, as
--- +v / sqrt(lambda + eps) and -v / sqrt(lambda + eps) (o.eps, default 1e-2), so the layer passes
--- decorrelated components of nearly equal variance to what follows. Filters beyond twice the patch
--- size keep their initialisation. Returns the eigenvalues, largest first.
function M.apply(net, images, o)
  o = o or {}
  local conv
  for _, m in ipairs(net.modules) do if m.__typename == 'nn.Conv2d' then conv = m; break end end
  assert(conv, 'rft.models.whiten.apply: the network has no convolution')
  local sh = images:shape()
  if images:dtype() ~= 'u8' or #sh ~= 4 or sh[2] ~= conv.cin then
    error(string.format('rft.models.whiten.apply: images must be u8 [N,%d,H,W], got %s', conv.cin, tostring(images)), 2)
  end
  local k, cin, cout = conv.k, conv.cin, conv.cout
  local n, h, w = math.min(o.images or 2000, sh[1]), sh[3], sh[4]
  local eps = o.eps or 1e-2
  local dim = cin * k * k
  local px = ffi.cast('const uint8_t *', images:data())
  local sum, outer, patch = ffi.new('double[?]', dim), ffi.new('double[?]', dim * dim), ffi.new('double[?]', dim)
  local count = 0
  for i = 0, n - 1 do
    for y = 0, h - k do
      for x = 0, w - k do
        local j = 0
        for c = 0, cin - 1 do
          local base = ((i * cin + c) * h + y) * w + x
          for dy = 0, k - 1 do
            for dx = 0, k - 1 do patch[j] = px[base + dy * w + dx] / 255; j = j + 1 end
          end
        end
        for a = 0, dim - 1 do
          local pa = patch[a]
          sum[a] = sum[a] + pa
          for b = a, dim - 1 do outer[a * dim + b] = outer[a * dim + b] + pa * patch[b] end
        end
        count = count + 1
      end
    end
  end
  for a = 0, dim - 1 do
    for b = a, dim - 1 do
      local cov = outer[a * dim + b] / count - sum[a] * sum[b] / (count * count)
      outer[a * dim + b], outer[b * dim + a] = cov, cov
    end
  end
  local values, vectors = eigen_sym(outer, dim)
  local order = {}
  for i = 1, dim do order[i] = i end
  table.sort(order, function(p, q) return values[p] > values[q] end)
  local wt = conv.weight:copy('cpu'):to_table()
  for f = 0, math.min(cout, 2 * dim) - 1 do
    local comp = order[math.floor(f / 2) + 1]
    local scale = (f % 2 == 0 and 1 or -1) / math.sqrt(math.max(values[comp], 0) + eps)
    for j = 0, dim - 1 do wt[f * dim + j + 1] = scale * vectors[(comp - 1) * dim + j] end
  end
  conv.weight:copy_from(T.from_table(wt, conv.weight:shape(), 'f32'))
  local sorted = {}
  for i, c in ipairs(order) do sorted[i] = values[c] end
  return sorted
end

return M
