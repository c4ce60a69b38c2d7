-- rft.experiment.calibration: the seven strengths a run distorts with. Either Table 1's presets, or
-- calibrated on (a subset of) the validation split so that each costs the baseline target_drop
-- points (paper 1, 3.3.2), cached as calibration_drop<D>_n<N>.json in the baseline's folder. The
-- bisections print a line per evaluation as they go.
local rft = require 'rft'
local aug = require 'rft.aug'
local report = require 'rft.report'
local cjson = require 'cjson'
local protocol = require 'rft.experiment.protocol'
local distortions = require 'rft.aug.distortions'

local M = {}

--- The cache file of a calibration for the baseline in `dir`.
function M.path(dir, o)
  return string.format('%s/calibration_drop%g_n%d.json', dir, o.target_drop, o.calib_images)
end

--- Presets (aug.paper.cifar10-like) and a table of rows: o.paper_params, o.target_drop,
--- o.calib_images, o.calib_tol; dir: the baseline's folder (the cache).
function M.strengths(net, d, o, dir)
  if o.paper_params then
    local rows = {}
    for _, f in ipairs(protocol.families) do
      rows[#rows + 1] = { family = f, strength = distortions.table1(f, 'cifar10'), source = 'Table 1' }
    end
    return aug.paper.cifar10, { source = 'paper Table 1', rows = rows }
  end
  local path = M.path(dir, o)
  local f = io.open(path)
  if f then
    local cal = cjson.decode(f:read('*a')); f:close()
    print('calibration: ' .. path)
    return aug.from_calibration(cal), cal
  end
  local val = protocol.head(d.val, o.calib_images)
  local cal = { source = path, target_drop = o.target_drop, images = val.n, rows = {} }
  net:evaluate()
  local base = rft.train.evaluate(net, val)
  print(string.format('calibrating %d distortions on %d validation images: baseline %.2f %%, target drop %g points',
    #protocol.families, val.n, base, o.target_drop))
  for i, fam in ipairs(protocol.families) do
    local d_entry = distortions.get(fam)
    local step = 0
    local r = aug.calibrate { family = fam, model = net, data = val, target_drop = o.target_drop, baseline = base,
      seed = protocol.eval_seed, tol = o.calib_tol,
      log = function(s, a)
        step = step + 1
        print(string.format('  %-4s step %2d  %s = %-9.5g accuracy %6.2f %%  (drop %.2f)', fam, step, d_entry.param,
          s, a, base - a))
        io.stdout:flush()
      end }
    print(string.format('calibrated %-4s (%d/%d) %s %-8.4g accuracy %.2f %% (baseline %.2f %%)%s', fam, i,
      #protocol.families, r.param, r.strength, r.accuracy, base,
      r.reached and '' or '  target not reachable: stopped at the bound'))
    cal.rows[#cal.rows + 1] = { family = fam, param = r.param, strength = r.strength, accuracy = r.accuracy,
                                baseline = base, reached = r.reached, evaluations = r.evaluations }
  end
  report.write_json(path, cal)
  return aug.from_calibration(cal), cal
end

return M
