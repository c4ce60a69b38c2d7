-- rft.experiment.protocol: the evaluation protocol of DESIGN.md §5. CIFAR-10 split 45,000 / 5,000
-- (seed 0) with the test set for reported numbers, the ten rows of the robustness tables (clean, the
-- seven distortions of rft.aug.distortions, Combined+ and Combined-) and their evaluation under one
-- fixed draw of the test-time distortions.
local rft = require 'rft'
local distortions = require 'rft.aug.distortions'

local M = {}

M.families = distortions.names          -- B+, B-, GB, GN, SAP, S+, S- (paper Table 3's order)
M.rows = { 'clean' }                    -- the ten rows of Table 3
for _, f in ipairs(M.families) do M.rows[#M.rows + 1] = f end
M.rows[#M.rows + 1] = 'Combined+'
M.rows[#M.rows + 1] = 'Combined-'
M.eval_seed = 20240601                  -- test-time distortions: one fixed draw for every model
M.train_images = 45000                  -- the training split's size
M.val_images = 5000

--- CIFAR-10 under the protocol: {train=, val=, test=, dir=}; each set's `part` names it.
function M.cifar(dir)
  local full = rft.data.cifar10 { dir = dir, split = 'train' }
  local test = rft.data.cifar10 { dir = full.dir, split = 'test' }
  local tr, va = rft.data.split(full, M.val_images)
  local train, val = rft.data.subset(full, tr), rft.data.subset(full, va)
  train.part, val.part, test.part = 'train', 'validation', 'test'
  return { train = train, val = val, test = test, dir = full.dir }
end

--- The first n images of a dataset (evaluation subsets for per-epoch curves and calibration).
function M.head(d, n)
  if not n or n >= d.n then return d end
  local idx = rft.tensor { shape = { n }, dtype = 'i32', device = 'cpu' }
  local p = idx:data()
  for i = 0, n - 1 do p[i] = i end
  local s = rft.data.subset(rft.data.with_ids(d), idx)
  s.classes, s.part = d.classes, d.part
  return s
end

--- Accuracy (%) of net on each of the ten rows over dataset d: {clean=, ['B+']=, ...}. With a
--- label, each row prints a line as it is done ("<label>  B+  83.10 %  (2/10)").
function M.evaluate_rows(net, d, presets, label)
  local out = {}
  for i, row in ipairs(M.rows) do
    local p = row ~= 'clean' and presets[row]
    out[row] = rft.train.evaluate(net, d, {
      transform = p and function(x, ids) return p:apply(x, { seed = M.eval_seed, ids = ids }) end,
    })
    if label then
      print(string.format('%s  %-10s %6.2f %%  (%d/%d, %d images)', label, row, out[row], i, #M.rows, d.n))
      io.stdout:flush()
    end
  end
  return out
end

return M
