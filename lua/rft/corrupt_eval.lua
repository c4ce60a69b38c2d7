-- rft.corrupt_eval: a model's accuracy on the CIFAR-10-C corruptions (DESIGN.md §5), generated on the
-- fly batch by batch by rft.corrupt (or read from the published .npy files), and the figures the
-- field reports: per-cell and per-corruption accuracy, the mean over the 15 x 5 cells (RobustBench),
-- mean error (CIFAR's unnormalised mCE), relative mCE, and against a reference model ImageNet-C's
-- CE_c = sum_s E_sc / sum_s E^ref_sc. The recipe recipes/corruption_eval.lua drives it.
local rft = require 'rft'
local util = require 'rft.util'
local report = require 'rft.report'

local M = {}
local now = rft.train.now

--- Evaluates net on clean test images and every corruption x severity of `names`.
--- o: seed (draws), cifar10c (a folder of published files: read instead of generated), images (the
--- first N test images), write_npy (a folder: write the generated set there in the published
--- layout), frost_dir, label (for progress lines), batch.
--- Returns {clean=, cells={name={acc s1..s5}}, corrupt_seconds=, seconds=}.
function M.evaluate(net, test, names, o)
  o = o or {}
  local t0 = now()
  local r = { cells = {}, corrupt_seconds = 0 }
  r.clean = rft.train.evaluate(net, test, { batch = o.batch })
  rft.train.progress(string.format('%s: clean %.2f %%', o.label or 'model', r.clean), true)
  if o.write_npy then
    util.mkdir_p(o.write_npy)
    rft.data.write_npy_labels(o.write_npy .. '/labels.npy', test.labels, 5)
  end
  local buf = rft.tensor { shape = { 0 }, dtype = 'f32', device = 'cpu' }
  for _, name in ipairs(names) do
    local t1, accs = now(), {}
    local writer = o.write_npy and rft.data.npy_image_writer(o.write_npy .. '/' .. name .. '.npy', 5 * test.n)
    for s = 1, 5 do
      local d, transform = test, nil
      if o.cifar10c then
        d = rft.data.cifar10c { dir = o.cifar10c, corruption = name, severity = s }
        if o.images and o.images < d.n then d = require('rft.experiment').head(d, o.images) end
      else
        transform = function(x, ids)
          local tc = now()
          local y = rft.corrupt.apply(x, name, s, { seed = o.seed or 0, ids = ids, out = buf, frost_dir = o.frost_dir })
          if writer then writer:write(y) end
          r.corrupt_seconds = r.corrupt_seconds + now() - tc
          return y
        end
      end
      accs[s] = rft.train.evaluate(net, d, { batch = o.batch, transform = transform })
      rft.train.progress(string.format('%s: %-17s %s', o.label or 'model', name,
        table.concat((function() local t = {} for i, a in ipairs(accs) do t[i] = string.format('%6.2f', a) end return t end)(), ' ')))
    end
    if writer then writer:close() end
    r.cells[name] = accs
    rft.train.progress(string.format('%s: %-17s %6.2f %6.2f %6.2f %6.2f %6.2f  (%.1f s)', o.label or 'model', name,
      accs[1], accs[2], accs[3], accs[4], accs[5], now() - t1), true)
  end
  r.seconds = now() - t0
  return r
end

-- nil (JSON: absent) where a figure is undefined: no values, or a zero denominator
local function mean(t) local s = 0 for _, v in ipairs(t) do s = s + v end return #t > 0 and s / #t or nil end
local function ratio(a, b) return b ~= 0 and 100 * a / b or nil end

--- The summary figures of one model's result r (from evaluate), with an optional reference result.
--- Errors are in percent (100 - accuracy). Adds to r: per_corruption (mean accuracy), mca (mean
--- corruption accuracy over the benchmark's cells present), mce (mean error), relative_mce (mean of
--- the error above clean), related / unrelated (mean accuracy, DESIGN.md §5), and with ref:
--- ce (per corruption, %), mce_normalized, relative_ce, relative_mce_normalized.
function M.summarize(r, ref)
  r.per_corruption, r.ce, r.relative_ce = {}, ref and {} or nil, ref and {} or nil
  local bench, err, rel, related, unrelated, ces, rces = {}, {}, {}, {}, {}, {}, {}
  local in_bench = {}
  for _, n in ipairs(rft.corrupt.names()) do in_bench[n] = true end
  for name, accs in pairs(r.cells) do
    local m = mean(accs)
    r.per_corruption[name] = m
    if in_bench[name] then
      bench[#bench + 1] = m
      err[#err + 1] = 100 - m
      rel[#rel + 1] = (100 - m) - (100 - r.clean)
      if ref and ref.cells[name] then
        local e, er, de, der = 0, 0, 0, 0
        for s = 1, 5 do
          e, er = e + 100 - accs[s], er + 100 - ref.cells[name][s]
          de, der = de + (r.clean - accs[s]), der + (ref.clean - ref.cells[name][s])
        end
        r.ce[name], r.relative_ce[name] = ratio(e, er), ratio(de, der)
        ces[#ces + 1], rces[#rces + 1] = r.ce[name], r.relative_ce[name]
      end
    end
    if rft.corrupt.related[name] then related[#related + 1] = m
    elseif in_bench[name] then unrelated[#unrelated + 1] = m end
  end
  r.mca, r.mce, r.relative_mce = mean(bench), mean(err), mean(rel)
  r.related, r.unrelated = mean(related), mean(unrelated)
  if ref then r.mce_normalized, r.relative_mce_normalized = mean(ces), mean(rces) end
  return r
end

--- results.json, corruption_eval.csv (model, corruption, severity, accuracy), heatmap.png (corruption
--- x severity, one panel per model) and bars.png (mean accuracy per corruption, a bar per model).
function M.write(out, models, names, config)
  util.mkdir_p(out)
  local lines = { 'model,corruption,severity,accuracy' }
  for _, m in ipairs(models) do
    lines[#lines + 1] = string.format('%s,clean,0,%.4f', m.label, m.result.clean)
    for _, n in ipairs(names) do
      for s = 1, 5 do lines[#lines + 1] = string.format('%s,%s,%d,%.4f', m.label, n, s, m.result.cells[n][s]) end
    end
  end
  util.write_atomic(out .. '/corruption_eval.csv', table.concat(lines, '\n') .. '\n')
  -- the plots read matrices written beside them
  local heat, bars = {}, { 'corruption ' .. table.concat((function()
    local t = {} for i, m in ipairs(models) do t[i] = m.label end return t end)(), ' ') }
  for i, m in ipairs(models) do            -- one data block a model (gnuplot's index), x fastest
    if i > 1 then heat[#heat + 1] = '\n' end
    for j, n in ipairs(names) do
      for s = 1, 5 do heat[#heat + 1] = string.format('%d %d %.3f', s, j - 1, m.result.cells[n][s]) end
    end
  end
  for _, n in ipairs(names) do
    local row = { n }
    for _, m in ipairs(models) do row[#row + 1] = string.format('%.3f', m.result.per_corruption[n]) end
    bars[#bars + 1] = table.concat(row, ' ')
  end
  util.write_atomic(out .. '/heatmap.dat', table.concat(heat, '\n') .. '\n')
  util.write_atomic(out .. '/bars.dat', table.concat(bars, '\n') .. '\n')
  local ytics = {}
  for j, n in ipairs(names) do ytics[j] = string.format('"%s" %d', n, j - 1) end
  local panels = {}
  for i, m in ipairs(models) do
    panels[#panels + 1] = string.format("set title '%s (clean %.1f %%, mean corruption %s)'\n"
      .. "plot '%s/heatmap.dat' index %d using 1:2:3 with image notitle, "
      .. "'' index %d using 1:2:(sprintf('%%.0f',$3)) with labels font ',7' notitle",
      (m.label:gsub("'", '')), m.result.clean, m.result.mca and string.format('%.1f %%', m.result.mca) or '-', out,
      i - 1, i - 1)
  end
  report.gnuplot_script(out .. '/heatmap.png', table.concat({
    'set terminal pngcairo size ' .. (420 * #models + 120) .. ',620 font ",9"',
    "set output '" .. out .. "/heatmap.png.tmp'",
    'set termoption noenhanced', 'set multiplot layout 1,' .. #models,
    'set xlabel "severity"', 'set xtics 1', 'set xrange [0.5:5.5]', 'set yrange [' .. (#names - 0.5) .. ':-0.5]',   -- the first corruption on top
    'set ytics (' .. table.concat(ytics, ', ') .. ')', 'set cbrange [0:100]', 'set palette rgb 33,13,10',
    'set cblabel "accuracy (%)"',
    table.concat(panels, '\n'), 'unset multiplot' }, '\n'))
  local cols = {}
  for i = 1, #models do cols[i] = string.format("'%s/bars.dat' using %d:xtic(1) title columnheader(%d)", out, i + 1, i + 1) end
  report.gnuplot_script(out .. '/bars.png', table.concat({
    'set termoption noenhanced', 'set style data histograms', 'set style histogram clustered gap 1', 'set style fill solid 0.8 border -1',
    'set key outside right', 'set xtics rotate by -45', 'set ylabel "mean accuracy over severities (%)"',
    'set yrange [0:100]', 'set grid ytics', 'set title "CIFAR-10-C: accuracy per corruption"',
    'plot ' .. table.concat(cols, ', ') }, '\n'))
  local json = { config = config, corruptions = names, models = {} }
  for _, m in ipairs(models) do
    local r = m.result
    json.models[#json.models + 1] = { label = m.label, checkpoint = m.checkpoint, clean_accuracy = r.clean,
      cells = r.cells, per_corruption = r.per_corruption, mean_corruption_accuracy = r.mca, mce = r.mce,
      relative_mce = r.relative_mce, related_accuracy = r.related, unrelated_accuracy = r.unrelated,
      ce = r.ce, relative_ce = r.relative_ce, mce_normalized = r.mce_normalized,
      relative_mce_normalized = r.relative_mce_normalized, seconds = r.seconds,
      corrupt_seconds = r.corrupt_seconds }
  end
  json.seconds = config.seconds
  json.provenance = report.provenance()
  report.write_json(out .. '/results.json', json)
end

return M
