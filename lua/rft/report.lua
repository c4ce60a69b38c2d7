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
local function gnuplot_script(png, script)
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

--- In a data-parallel run rank 0 draws and every rank waits for it (rft.dist.on_root).
function M.gnuplot_script(png, script) return require('rft.dist').on_root(gnuplot_script, png, script) end

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

--- Spacing of whole-number tics for an axis of n steps: 1, 2, 5, 10, 20, 50 ... so that at most about
--- 20 tics are labelled (a 200-epoch curve labelled every epoch is unreadable).
function M.tic_step(n)
  local decade = 1
  while true do
    for _, m in ipairs({ 1, 2, 5 }) do
      if n <= 20 * m * decade then return m * decade end
    end
    decade = decade * 10
  end
end

--- Line plot of CSV columns against column o.x: o.ys (names), o.title, o.ylabel; each curve its own
--- colour and marker (curve_style); o.dashed: names of columns drawn dashed (the Combined rows of a
--- Figure 4, so that ten curves read apart even in grey), o.thick: names drawn with a heavier line.
--- With x = 'epoch' the tics fall on whole epochs (tic_step); long runs mark every few epochs (pi).
--- Returns what gnuplot_script returns, or false when nothing to plot.
function M.plot_csv(csv, png, o)
  local f = io.open(csv)
  if not f then return false end
  local header = f:read('*l')
  local rows = 0
  for _ in f:lines() do rows = rows + 1 end
  f:close()
  local index = {}
  local i = 0
  for name in (header .. ','):gmatch('([^,]*),') do i = i + 1; index[name] = i end
  local plots, dashed, thick = {}, {}, {}
  for _, y in ipairs(o.dashed or {}) do dashed[y] = true end
  for _, y in ipairs(o.thick or {}) do thick[y] = true end
  for _, y in ipairs(o.ys) do
    if index[y] then
      plots[#plots + 1] = string.format('%s using %d:%d with linespoints %s pi %d dt %d lw %g title %s', quote(csv),
        index[o.x], index[y], M.curve_style(#plots + 1), math.ceil(rows / 40), dashed[y] and 2 or 1,
        thick[y] and 2.5 or 1.2, quote(y))
    end
  end
  if #plots == 0 then return false end
  return M.gnuplot_script(png, table.concat({
    'set datafile separator ","', 'set termoption noenhanced', 'set key outside right', 'set grid',
    o.x == 'epoch' and 'set xtics ' .. M.tic_step(rows) or '',
    'set title ' .. quote(o.title or ''), 'set xlabel ' .. quote(o.x), 'set ylabel ' .. quote(o.ylabel or ''),
    'plot ' .. table.concat(plots, ', '),
  }, '\n'))
end

--- The machine a result was made on, as tools/bench/machine.py names it: CPU model (/proc/cpuinfo),
--- the vector path the kernels take (`isa`: 'AVX-512', 'AVX2+FMA', or 'AVX2+FMA (forced on an AVX-512
--- CPU)' under RFT_CPU_ISA=avx2 or a oneDNN ISA limit below AVX-512, the engine's own rule), the
--- threads and the default device.
function M.machine()
  local model, flags = 'unknown CPU', ''
  local f = io.open('/proc/cpuinfo')
  if f then
    for line in f:lines() do
      local k, v = line:match('^([^:]-)%s*:%s*(.*)$')
      if k == 'model name' and model == 'unknown CPU' then model = v
      elseif k == 'flags' and flags == '' then flags = ' ' .. v .. ' ' end
    end
    f:close()
  end
  local has512, has2 = flags:find(' avx512f ', 1, true) ~= nil, flags:find(' avx2 ', 1, true) and flags:find(' fma ', 1, true)
  local lim = os.getenv('ONEDNN_MAX_CPU_ISA') or os.getenv('DNNL_MAX_CPU_ISA') or ''
  local forced = has512 and ((os.getenv('RFT_CPU_ISA') or ''):lower() == 'avx2'
    or (lim ~= '' and not lim:upper():match('^AVX512') and lim:upper() ~= 'ALL'))
  local isa = (has512 and not forced) and 'AVX-512' or has2 and ('AVX2+FMA' .. (forced and ' (forced on an AVX-512 CPU)' or ''))
    or 'SSE'
  local rft = require 'rft'
  return { cpu = model, isa = isa, avx512_cpu = has512, threads = rft.threads(), device = rft.device() }
end

local function shell_word(s)
  s = tostring(s)
  if s:match('^[%w%-%._/=:,+@%%]+$') then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- The command line that ran this script, as a shell would take it back: 'rftlua recipes/x.lua
--- --flag value' from the `arg` table (arg[0] the script, arg[1..] its arguments); nil without one.
function M.command(args)
  args = args or rawget(_G, 'arg')
  if type(args) ~= 'table' or not args[0] then return nil end
  local words = { 'rftlua', shell_word(args[0]) }
  for i = 1, #args do words[#words + 1] = shell_word(args[i]) end
  return table.concat(words, ' ')
end

-- A shell command's output without trailing white space; nil when it printed nothing.
local function sh(cmd)
  local p = io.popen(cmd .. ' 2>/dev/null')
  if not p then return nil end
  local out = p:read('*a'); p:close()
  out = out and out:gsub('%s+$', '')
  return out ~= '' and out or nil
end

-- HEAD's commit of the working directory: read from .git/ where it is a folder, from git otherwise
-- (a worktree, a subfolder of a checkout); nil outside a checkout.
local function head_commit()
  local f = io.open('.git/HEAD')
  if not f then return sh('git rev-parse HEAD') end
  local head = f:read('*l') or ''; f:close()
  local ref = head:match('^ref: (%S+)$')
  if not ref then return head:match('^%x+$') end
  f = io.open('.git/' .. ref)
  if f then local c = f:read('*l'); f:close(); return c and c:match('^%x+$') end
  f = io.open('.git/packed-refs')
  if not f then return nil end
  for line in f:lines() do
    local c, r = line:match('^(%x+) (%S+)$')
    if r == ref then f:close(); return c end
  end
  f:close()
end

-- The commit a run started on: HEAD when this process loaded rft (require 'rft' loads this module),
-- or for a run resumed from a checkpoint, the one that checkpoint says its first epoch ran on.
local started_commit = head_commit()

--- The commit this run started on, for a checkpoint to carry across a resume.
function M.started_commit() return started_commit end

--- A resumed run: `commit` (from its checkpoint) is where it started; nil or '' changes nothing.
function M.resumed_from(commit)
  if commit and commit ~= '' then started_commit = commit end
end

--- What made a result, for its results.json: command (M.command), commit (`git rev-parse HEAD` of
--- the working directory; dirty when tracked files differ from it), started_commit (where that is
--- not the commit the run started on: a long run that outlived later commits, or resumed after
--- them), machine (M.machine), when (UTC).
function M.provenance(args)
  local commit = sh('git rev-parse HEAD')
  return { command = M.command(args), commit = commit,
           dirty = commit and sh('git status --porcelain --untracked-files=no') ~= nil or nil,
           started_commit = commit and started_commit ~= commit and started_commit or nil,
           machine = M.machine(), date = os.date('!%Y-%m-%dT%H:%M:%SZ') }
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
