-- rft.invariance: the invariance score of the second paper (eq. 2),
--   sigma_i = 1 - d(f(x_i), f(G(x_i))) / (1/N sum_j d(f(x_i), f(x_j))),   d = mean squared difference,
-- per layer, with the denominator in O(N D) from ||f_i||^2/D - 2 f_i.fbar/D + mean_j ||f_j||^2/D.
-- score(f, g) works on whole feature matrices; Scorer streams a test set through a network batch
-- by batch (two passes: statistics, then scores), so feature maps never sit in memory all at once.
local ffi = require 'ffi'
local rft = require 'rft'

local M = {}

--- f, g: f32 [N, D...] features of x_i and of G(x_i) -> f32 [N] scores.
function M.score(f, g)
  local n = #f
  local d = f:numel() / n
  if g:numel() ~= f:numel() then
    error(string.format('rft.invariance.score: g has %d values, f has %d', g:numel(), f:numel()), 2)
  end
  f, g = f:host(), g:host()
  local fp, gp = f:data(), g:data()
  local mean = ffi.new('double[?]', d)
  local sq = ffi.new('double[?]', n)
  local msq = 0
  for i = 0, n - 1 do
    local s, row = 0, fp + i * d
    for k = 0, d - 1 do local v = row[k]; s = s + v * v; mean[k] = mean[k] + v end
    sq[i] = s; msq = msq + s
  end
  for k = 0, d - 1 do mean[k] = mean[k] / n end
  msq = msq / n
  local out = rft.tensor { shape = { n }, device = 'cpu' }
  local op = out:data()
  for i = 0, n - 1 do
    local dot, num, row, grow = 0, 0, fp + i * d, gp + i * d
    for k = 0, d - 1 do
      dot = dot + row[k] * mean[k]
      local t = row[k] - grow[k]; num = num + t * t
    end
    local den = (sq[i] - 2 * dot + msq) / d
    op[i] = den > 0 and 1 - (num / d) / den or 0
  end
  return out
end

local function snapshot(taps, keep)
  for i, t in ipairs(taps) do
    keep[i] = keep[i] or rft.tensor { shape = { 0 }, device = 'cpu' }
    keep[i]:resize(t.tensor:shape()):copy_from(t.tensor)
  end
  return keep
end

--- Per-layer scores of a network over a dataset, streamed batch by batch: for every tapped layer,
--- f32 [N * draws] scores (image-major: image i's draws are rows i*draws .. i*draws+draws-1).
--- G: an rft.aug pipeline (default the second paper's G: rft.aug.G()); o.draws (5), o.batch (250),
--- o.seed (0), o.images (default all). Returns scores {name = tensor}, names (forward order).
function M.layer_scores(net, d, G, o)
  o = o or {}
  G = G or rft.aug.G()
  local draws, bs = o.draws or 5, o.batch or 250
  local n = math.min(o.images or d.n, d.n)
  local data = rft.data
  local sub = n < d.n and require('rft.experiment').head(d, n) or d
  net:evaluate()
  -- pass 1: per layer, the mean feature vector and the mean squared norm
  local means, msq, names, dims, hbuf = {}, {}, {}, {}, {}
  for x in data.batches(sub, { batch = bs, device = net:device() }) do
    net:forward(x)
    for li, t in ipairs(net:taps()) do
      local b = #t.tensor
      local dd = t.tensor:numel() / b
      if not means[li] then means[li], msq[li], names[li], dims[li] = ffi.new('double[?]', dd), 0, t.name, dd end
      hbuf[li] = t.tensor:host(hbuf[li])
      local p, m, s = hbuf[li]:data(), means[li], 0
      for i = 0, b * dd - 1 do local v = p[i]; m[i % dd] = m[i % dd] + v; s = s + v * v end
      msq[li] = msq[li] + s
    end
  end
  for li = 1, #names do
    for k = 0, dims[li] - 1 do means[li][k] = means[li][k] / n end
    msq[li] = msq[li] / n
  end
  -- pass 2: each image against its G draws
  local scores, keep, row = {}, {}, 0
  for _, name in ipairs(names) do scores[name] = rft.tensor { shape = { n * draws }, device = 'cpu' } end
  for x, _, ids in data.batches(sub, { batch = bs, device = net:device() }) do
    net:forward(x)
    snapshot(net:taps(), keep)
    local b = #x
    for r = 1, draws do
      local xg = G:apply(x, { seed = (o.seed or 0) * 1000 + r, ids = ids })
      net:forward(xg)
      for li, t in ipairs(net:taps()) do
        local dd, m = dims[li], means[li]
        hbuf[li] = t.tensor:host(hbuf[li])
        local fp, gp, out = keep[li]:data(), hbuf[li]:data(), scores[names[li]]:data()
        for i = 0, b - 1 do
          local sq, dot, num = 0, 0, 0
          for k = 0, dd - 1 do
            local f = fp[i * dd + k]
            sq = sq + f * f; dot = dot + f * m[k]
            local t2 = f - gp[i * dd + k]; num = num + t2 * t2
          end
          local den = (sq - 2 * dot + msq[li]) / dd
          out[(row + i) * draws + r - 1] = den > 0 and 1 - (num / dd) / den or 0
        end
      end
    end
    row = row + b
  end
  return scores, names
end

--- Median and quartiles of each layer's scores: {name = {q1=, median=, q3=, mean=}}.
function M.summary(scores, names)
  local out = {}
  for _, name in ipairs(names) do
    local v = scores[name]:to_table()
    table.sort(v)
    local function q(f) return v[math.max(1, math.min(#v, math.floor(f * (#v - 1) + 1.5)))] end
    local mean = 0
    for _, x in ipairs(v) do mean = mean + x / #v end
    out[name] = { q1 = q(0.25), median = q(0.5), q3 = q(0.75), mean = mean, min = v[1], max = v[#v] }
  end
  return out
end

return M
