-- rft.invariance: the invariance score of the second paper (eq. 2),
--   sigma_i = 1 - d(f(x_i), f(G(x_i))) / (1/N sum_j d(f(x_i), f(x_j))),   d = mean squared difference,
-- per layer. The engine computes it (rft_invariance_stats, rft_invariance_score: the formula lives
-- there, once): the denominator needs only the mean feature vector and the mean squared distance to
-- it, folded batch by batch. This module orchestrates: score(f, g) on whole feature matrices, and
-- layer_scores streaming a dataset through a network in two passes (statistics, then scores), so
-- feature maps never sit in memory all at once and nothing leaves the device until the end.
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local rft = require 'rft'
local C, check = F.C, F.check

local M = {}

local function empty(like) return T.new { shape = { 0 }, device = like:device() } end

--- f, g: f32 [N, D...] features of x_i and of G(x_i) (one device) -> f32 [N] scores on that device.
function M.score(f, g)
  if g:numel() ~= f:numel() then
    error(string.format('rft.invariance.score: g has %d values, f has %d', g:numel(), f:numel()), 2)
  end
  if table.concat(g:shape(), ',') ~= table.concat(f:shape(), ',') then g = g:reshape(f:shape()) end
  local stats, out = empty(f), empty(f)
  check(C.rft_invariance_stats(f, stats), 2)
  check(C.rft_invariance_score(f, g, stats, out, 0, 1), 2)
  return out
end

-- A progress reporter for one pass over n images: a line each time another tenth is done (p: true,
-- false, or a function(line)).
local function reporter(p, pass, n, t0)
  if p == false then return function() end end
  local say = type(p) == 'function' and p or function(line) io.stdout:write(line, '\n'); io.stdout:flush() end
  local step, next_at = math.max(1, math.ceil(n / 10)), 0
  return function(done)
    if done < next_at and done < n then return end
    while next_at <= done do next_at = next_at + step end
    say(string.format('invariance scores: %s %d/%d images (%.0f s)', pass, done, n, rft.train.now() - t0))
  end
end

--- Per-layer scores of a network over a dataset, streamed batch by batch: for every tapped layer,
--- f32 [N * draws] scores on the CPU (image-major: image i's draws are rows i*draws .. i*draws+draws-1).
--- G: an rft.aug pipeline (default the second paper's G: rft.aug.G()); o.draws (5), o.batch (250),
--- o.seed (0), o.images (default all), o.progress (true: a line per tenth of each pass; false; or a
--- function(line)). Returns scores {name = tensor}, names (forward order).
function M.layer_scores(net, d, G, o)
  o = o or {}
  G = G or rft.aug.G()
  local draws, bs = o.draws or 5, o.batch or 250
  local n = math.min(o.images or d.n, d.n)
  local sub = n < d.n and require('rft.experiment').head(d, n) or d
  local dev = net:device()
  local t0 = rft.train.now()
  net:evaluate()
  -- pass 1: per layer, the mean feature vector and the mean squared distance to it
  local stats, names, done = {}, {}, 0
  local progress = reporter(o.progress, 'statistics', n, t0)
  for x in rft.data.batches(sub, { batch = bs, device = dev }) do
    net:forward(x)
    for li, t in ipairs(net:taps()) do
      if not stats[li] then stats[li], names[li] = T.new { shape = { 0 }, device = dev }, t.name end
      check(C.rft_invariance_stats(t.tensor, stats[li]), 2)
    end
    done = done + #x
    progress(done)
  end
  -- pass 2: each image against its G draws
  local scores, keep, row = {}, {}, 0
  local xg = T.new { shape = { 0 }, device = dev }
  progress = reporter(o.progress, 'scores', n, t0)
  for li in ipairs(names) do scores[li] = T.new { shape = { n * draws }, device = dev } end
  for x, _, ids in rft.data.batches(sub, { batch = bs, device = dev }) do
    net:forward(x)
    for li, t in ipairs(net:taps()) do
      keep[li] = keep[li] or T.new { shape = { 0 }, device = dev }
      keep[li]:resize(t.tensor:shape()):copy_from(t.tensor)
    end
    for r = 1, draws do
      G:apply(x, { seed = (o.seed or 0) * 1000 + r, ids = ids, out = xg })
      net:forward(xg)
      for li, t in ipairs(net:taps()) do
        check(C.rft_invariance_score(keep[li], t.tensor, stats[li], scores[li], row * draws + r - 1, draws), 2)
      end
    end
    row = row + #x
    progress(row)
  end
  local out = {}
  for li, name in ipairs(names) do out[name] = dev == 'cpu' and scores[li] or scores[li]:copy('cpu') end
  return out, names
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

--- The per-layer medians of a summary in layer order, how many steps from one layer to the next raise
--- them (the second paper: invariance rises with depth), and their mean.
function M.depth_profile(summary, names)
  local m, rises, mean = {}, 0, 0
  for i, k in ipairs(names) do
    m[i] = summary[k].median
    mean = mean + m[i] / #names
    if i > 1 and m[i] > m[i - 1] then rises = rises + 1 end
  end
  return m, rises, mean
end

--- The invariance model among several trained with different weights: models is a list of
--- {val_accuracy=, val_mean_median=, ...}, base the baseline's. The most invariant on validation
--- (highest val_mean_median) among those at most max_drop points under the baseline's validation
--- accuracy; when none is, the most accurate. Returns the model and whether it kept the accuracy.
function M.select(models, base, max_drop)
  local chosen
  for _, m in ipairs(models) do
    if m.val_accuracy >= base.val_accuracy - max_drop and (not chosen or m.val_mean_median > chosen.val_mean_median) then
      chosen = m
    end
  end
  if chosen then return chosen, true end
  for _, m in ipairs(models) do
    if not chosen or m.val_accuracy > chosen.val_accuracy then chosen = m end
  end
  return chosen, false
end

return M
