-- table3_cifar: the paper's Table 3 for the three CA methods side by side with the baseline.
-- Collects runs/{at,st,fma}_ca_cifar/results.json and runs the recipes that are missing (same
-- flags), then writes runs/table3_cifar/table3.json and table3.md.
--   rftlua recipes/table3_cifar.lua [--run-missing] [flags of fma_ca_cifar.lua]
local experiment = require 'rft.experiment'
local report = require 'rft.report'
local util = require 'rft.util'
local cjson = require 'cjson'

local args = experiment.parser('table3_cifar', 'Table 3: AT/CA, ST/CA and FMA/CA against the baseline.',
  function(p)
    p:option('--gamma', 'FMA weight (for a run that is missing)', '0.03', tonumber)
    p:option('--alpha', 'ST weight (for a run that is missing)', '0.1', tonumber)
    p:flag('--run-missing', 'run the methods whose results.json is missing')
    p:option('--runs', 'folder holding at_ca_cifar/, st_ca_cifar/, fma_ca_cifar/', 'runs')
  end):parse(arg)

local columns, names, base = {}, { 'baseline' }, nil
for _, method in ipairs { 'AT', 'ST', 'FMA' } do
  local dir = string.format('%s/%s_ca_cifar', args.runs, method:lower())
  local f = io.open(dir .. '/results.json')
  if not f and args.run_missing then
    local o = experiment.options(args)
    o.out = dir
    experiment.run_ca(method, o)
    f = io.open(dir .. '/results.json')
  end
  if f then
    local r = cjson.decode(f:read('*a')); f:close()
    local col = method .. '/CA'
    columns[col], base = {}, base or {}
    for row, v in pairs(r.table) do columns[col][row] = v[col]; base[row] = base[row] or v.baseline end
    names[#names + 1] = col
  else
    print(string.format('%s/CA: no %s/results.json (run recipes/%s_ca_cifar.lua or pass --run-missing)',
      method, dir, method:lower()))
  end
end
if not base then error('no results to tabulate', 0) end
columns.baseline = base

local text = experiment.table_text(columns, names)
print(text)
util.mkdir_p(args.out)
report.write_json(args.out .. '/table3.json', { columns = columns, methods = names, rows = experiment.rows })
util.write_atomic(args.out .. '/table3.md', '```\n' .. text .. '\n```\n')
print('wrote ' .. args.out .. '/table3.json and table3.md')
