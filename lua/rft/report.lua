-- rft.report: results on disk. JSON written atomically; PNG figures drawn by gnuplot beside the CSV
-- they come from (when gnuplot is missing the CSV still stands and one line says how to get the
-- figure).
local cjson = require 'cjson'
local util = require 'rft.util'

local M = {}

--- Write a Lua table as JSON, atomically.
function M.write_json(path, t)
  util.write_atomic(path, cjson.encode(t) .. '\n')
end

local function have_gnuplot()
  if M.gnuplot == nil then M.gnuplot = os.execute('command -v gnuplot >/dev/null 2>&1') == 0 end
  return M.gnuplot
end

local function quote(s) return "'" .. tostring(s):gsub("'", "''") .. "'" end

--- Run a gnuplot script that writes `png`; returns true, or false after a one-line note, and the
--- script's text either way.
function M.gnuplot_script(png, script)
  local text = 'set terminal pngcairo size 900,560 font ",10"\nset output ' .. quote(png .. '.tmp') .. '\n'
    .. script .. '\nunset output\n'
  if not have_gnuplot() then
    print('note: gnuplot not found, so ' .. png .. ' was not drawn (apt-get install gnuplot-nox); the CSV beside it has the numbers')
    return false, text
  end
  local tmp = png .. '.gp'
  util.write_atomic(tmp, text)
  local ok = os.execute('gnuplot ' .. tmp .. ' 2>/dev/null') == 0
  os.remove(tmp)
  if ok then os.rename(png .. '.tmp', png) else os.remove(png .. '.tmp'); print('note: gnuplot failed to draw ' .. png) end
  return ok, text
end

-- Ten colours told apart also by most colour-blind readers (Tableau 10), and markers in an order
-- whose length (13) shares no factor with 10: curve i gets colour i mod 10 and marker i mod 13, so
-- no two of the first 130 curves of a plot look alike, and the first ten differ in both.
local colours = { '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
                  '#bcbd22', '#17becf' }
local markers = { 7, 5, 9, 11, 13, 1, 2, 3, 4, 6, 8, 10, 12 }

--- gnuplot style of the i-th curve of a plot (1-based): 'lc rgb "#..." pt N'.
function M.curve_style(i)
  return string.format('lc rgb "%s" pt %d', colours[(i - 1) % #colours + 1], markers[(i - 1) % #markers + 1])
end

--- Line plot of CSV columns against column o.x: o.ys (names), o.title, o.ylabel; each curve its own
--- colour and marker (curve_style). Returns what gnuplot_script returns, or false when nothing to plot.
function M.plot_csv(csv, png, o)
  local f = io.open(csv)
  if not f then return false end
  local header = f:read('*l'); f:close()
  local index = {}
  local i = 0
  for name in (header .. ','):gmatch('([^,]*),') do i = i + 1; index[name] = i end
  local plots = {}
  for _, y in ipairs(o.ys) do
    if index[y] then
      plots[#plots + 1] = string.format('%s using %d:%d with linespoints %s title %s', quote(csv), index[o.x],
        index[y], M.curve_style(#plots + 1), quote(y))
    end
  end
  if #plots == 0 then return false end
  return M.gnuplot_script(png, table.concat({
    'set datafile separator ","', 'set key outside right', 'set grid', o.x == 'epoch' and 'set xtics 1' or '',
    'set title ' .. quote(o.title or ''), 'set xlabel ' .. quote(o.x), 'set ylabel ' .. quote(o.ylabel or ''),
    'plot ' .. table.concat(plots, ', '),
  }, '\n'))
end

--- Box plots of the same columns (one box group per column name in `columns`, in that order) from
--- several CSVs side by side, one colour per CSV: csvs and labels are lists of equal length; o.title,
--- o.ylabel. The paper's Figure 1 draws per-layer invariance scores this way.
function M.boxplot_csvs(png, csvs, labels, columns, o)
  o = o or {}
  local colours = { '#4060c0', '#c04040', '#40a040', '#a060c0', '#c08020' }
  local n, plots, xt = #csvs, {}, {}
  for i, k in ipairs(columns) do
    xt[i] = string.format('%s %d', quote(k), i)
    for j, csv in ipairs(csvs) do
      local dx = 0.36 * ((j - 1) / math.max(1, n - 1) - 0.5) * (n > 1 and 1 or 0)
      plots[#plots + 1] = string.format('%s using (%d%+.3f):%d with boxplot lc rgb %s title %s', quote(csv), i, dx, i,
        quote(colours[(j - 1) % #colours + 1]), quote(i == 1 and labels[j] or ''))
    end
  end
  return M.gnuplot_script(png, table.concat({
    'set datafile separator ","', 'set style data boxplot', 'set style boxplot nooutliers',
    string.format('set boxwidth %.3f', 0.6 / math.max(1, n)), 'set xtics (' .. table.concat(xt, ', ') .. ')',
    'set ylabel ' .. quote(o.ylabel or ''), 'set grid ytics', 'set title ' .. quote(o.title or ''), 'set key top left',
    'plot ' .. table.concat(plots, ', '),
  }, '\n'))
end

return M
