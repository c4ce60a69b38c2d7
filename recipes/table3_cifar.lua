-- table3_cifar: the paper's Table 3, every method's CA column side by side with the baseline.
-- Collects runs/<method>_ca_cifar/results.json for each method (fma_ca_cifar.lua, st_ca_cifar.lua,
-- at_ca_cifar.lua, ca_cifar.lua --method ... write them), runs the missing ones with --run-missing
-- (same flags), then writes runs/table3_cifar/table3.json and table3.md.
--   rftlua recipes/table3_cifar.lua [--methods AT,ST,FMA,AT-distorted,clean] [--run-missing] [flags of fma_ca_cifar.lua]
local ex = require 'rft.experiment'
local methods = require 'rft.methods'
local report = require 'rft.report'
local util = require 'rft.util'
local cjson = require 'cjson'

local p = ex.parser('table3_cifar', 'Table 3: every method under CA against the baseline.')
p:list('--methods', 'methods, one column each', { 'AT', 'ST', 'FMA', 'AT-distorted', 'clean' }, methods.names())
p:flag('--run-missing', 'run the methods whose results.json is missing')
p:string('--runs', 'folder holding <method>_ca_cifar/', 'runs')
local args = p:parse(arg)

local columns, names, base = {}, { 'baseline' }, nil
for _, name in ipairs(args.methods) do
  local dir = string.format('%s/%s_ca_cifar', args.runs, ex.flags.slug(name))
  local col = ex.tables.column(name)
  local f = io.open(dir .. '/results.json')
  if not f and args.run_missing then
    local a = {}
    for k, v in pairs(args) do a[k] = v end
    a.method, a.out = name, dir
    ex.run_ca(ex.options(a))
    f = io.open(dir .. '/results.json')
  end
  if f then
    local r = cjson.decode(f:read('*a')); f:close()
    columns[col], base = {}, base or {}
    for row, v in pairs(r.table) do columns[col][row] = v[col]; base[row] = base[row] or v.baseline end
    names[#names + 1] = col
  else
    print(string.format('%s: no %s/results.json (run recipes/ca_cifar.lua --method %s, or pass --run-missing)',
      col, dir, name))
  end
end
if not base then error('no results to tabulate', 0) end
columns.baseline = base

local text = ex.table_text(columns, names)
print(text)
util.mkdir_p(args.out)
report.write_json(args.out .. '/table3.json', { columns = columns, methods = names, rows = ex.rows })
util.write_atomic(args.out .. '/table3.md', '```\n' .. text .. '\n```\n')
print('wrote ' .. args.out .. '/table3.json and table3.md')
