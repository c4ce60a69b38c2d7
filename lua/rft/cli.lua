-- rft.cli: typed command-line flags for recipes, on top of lua-argparse. Every value is checked when
-- the command line is parsed, before a recipe reads data or writes a file: integers and numbers
-- with ranges (NaN and infinities refused), booleans spelled true or false, names checked against
-- their registry. A failure is one line on stderr naming the flag and what it accepts, exit code 2.
--
--   local cli = require 'rft.cli'
--   local p = cli.parser('baseline_cifar', 'Train a baseline CIFAR-10 model.')
--   p:integer('--epochs', 'training epochs', 15, { min = 1 })
--   p:number('--lr', 'peak learning rate', 0.1, { above = 0 })
--   p:boolean('--bn', 'batch norm', true)
--   p:choice('--model', 'architecture', 'fast', cli.models())
--   local o = p:parse(arg)          -- o.epochs (a whole number), o.lr, o.bn (true/false), o.model
--   if o.batch > o.train_images then p:fail('--batch must be at most --train-images') end
--
-- Values may follow their flag (--lr -1e-3: negative numbers are values, not flags) or be joined to
-- it (--lr=-1e-3). Keys of the result use underscores (--train-images -> o.train_images).
local argparse = require 'argparse'

local M = {}

local Parser = {}
Parser.__index = Parser

local function key(flag) return (flag:gsub('^%-%-', ''):gsub('-', '_')) end

--- A parser for the recipe `name` (the first word of every message).
function M.parser(name, description)
  local p = setmetatable({ name = name, ap = argparse(name, description), typed = {}, takes_value = {} }, Parser)
  p.ap:add_help('-h --help')
  -- every recipe that trains takes it (unused in one process): rft.train.fit reads rft.train.sync_bn
  p.ap:flag('--sync-bn', 'under mpirun: batch-norm statistics over the global batch, not each rank\'s')
  return p
end

local function range_text(r)
  local parts = {}
  if r.min then parts[#parts + 1] = '>= ' .. tostring(r.min) end
  if r.above then parts[#parts + 1] = '> ' .. tostring(r.above) end
  if r.max then parts[#parts + 1] = '<= ' .. tostring(r.max) end
  if r.below then parts[#parts + 1] = '< ' .. tostring(r.below) end
  return table.concat(parts, ' and ')
end

local function in_range(v, r)
  return not ((r.min and v < r.min) or (r.above and v <= r.above) or (r.max and v > r.max)
              or (r.below and v >= r.below))
end

-- Register a flag that takes a value; check(s) -> value or nil, what-it-accepts.
function Parser:_value(flag, help, default, accepts, check, hide_accepts)
  local d = type(default) == 'table' and table.concat(default, ',') or default
  local shown = d ~= nil and string.format('%s (default: %s)', help, tostring(d)) or help
  self.ap:option(flag, shown .. (hide_accepts and '' or '; ' .. accepts))
  self.takes_value[flag] = true
  self.typed[#self.typed + 1] = { flag = flag, key = key(flag), default = default, accepts = accepts, check = check }
  return self
end

local function number_check(whole, r)
  return function(s)
    local v = tonumber(s)
    if not v or v ~= v or v == math.huge or v == -math.huge then return nil end
    if whole and v ~= math.floor(v) then return nil end
    if not in_range(v, r) then return nil end
    return v
  end
end

--- An integer flag; r: {min=, max=, above=, below=} (inclusive min/max, exclusive above/below).
function Parser:integer(flag, help, default, r)
  r = r or {}
  local rt = range_text(r)
  return self:_value(flag, help, default, 'a whole number' .. (rt ~= '' and ' ' .. rt or ''), number_check(true, r))
end

--- A finite number flag (NaN and infinities refused); r as for integer.
function Parser:number(flag, help, default, r)
  r = r or {}
  local rt = range_text(r)
  return self:_value(flag, help, default, 'a finite number' .. (rt ~= '' and ' ' .. rt or ''), number_check(false, r))
end

--- A boolean flag taking the value true or false (nothing else).
function Parser:boolean(flag, help, default)
  return self:_value(flag, help, default, 'true or false', function(s)
    if s == 'true' then return true elseif s == 'false' then return false end
  end)
end

--- A name from a list (a registry's names).
function Parser:choice(flag, help, default, names)
  local set = {}
  for _, n in ipairs(names) do set[n] = true end
  return self:_value(flag, help, default, 'one of ' .. table.concat(names, ', '), function(s)
    if set[s] then return s end
  end)
end

--- A comma-separated list of names from a list; the value is a Lua list (default: a list too).
function Parser:list(flag, help, default, names)
  local set = {}
  for _, n in ipairs(names) do set[n] = true end
  return self:_value(flag, help, default, 'comma-separated names from ' .. table.concat(names, ','), function(s)
    local out = {}
    for n in (s .. ','):gmatch('([^,]*),') do
      if not set[n] then return nil end
      out[#out + 1] = n
    end
    if #out == 0 then return nil end
    return out
  end)
end

--- A comma-separated list of finite numbers within r (at least one).
function Parser:numbers(flag, help, default, r)
  r = r or {}
  local rt = range_text(r)
  local one = number_check(false, r)
  return self:_value(flag, help, default, 'comma-separated finite numbers' .. (rt ~= '' and ' ' .. rt or ''),
    function(s)
      local out = {}
      for v in (s .. ','):gmatch('([^,]*),') do
        local x = one(v)
        if x == nil then return nil end
        out[#out + 1] = x
      end
      if #out == 0 then return nil end
      return out
    end)
end

--- A text flag (a path, a folder); an empty value is refused.
function Parser:string(flag, help, default)
  return self:_value(flag, help, default, 'a non-empty text', function(s) if s ~= '' then return s end end, true)
end

--- A text flag that may be given several times; the value is a Lua list (empty when not given).
function Parser:repeated(flag, help)
  self.ap:option(flag, help):count('*')
  self.takes_value[flag] = true
  self.typed[#self.typed + 1] = { flag = flag, key = key(flag), default = {}, accepts = 'a non-empty text',
    check = function(list)
      for _, v in ipairs(list) do if v == '' then return nil end end
      return list
    end }
  return self
end

--- A flag without a value: true when given.
function Parser:flag(flag, help)
  self.ap:flag(flag, help)
  return self
end

--- --device: 'cpu' or 'cuda'; the value becomes rft.device() when parsed (default: $RFT_DEVICE,
--- then cpu). A device that cannot be used is a usage error saying why.
function Parser:device()
  self:_value('--device', "'cpu' or 'cuda' (default: $RFT_DEVICE, then cpu)", nil, "'cpu' or 'cuda'", function(s)
    if s ~= 'cpu' and s ~= 'cuda' then return nil end
    local ok, err = pcall(require('rft').device, s)
    if not ok then return nil, (tostring(err):gsub('^[^:]*:%d+: ', '')) end
    return s
  end, true)
  return self
end

--- Print one line, "<name>: <message>", on stderr and exit with status 2 (nothing is written).
function Parser:fail(msg)
  io.stderr:write(self.name, ': ', msg, '\n')
  io.stderr:flush()
  os.exit(2)
end

--- Parse args (default: the global arg): a table of checked values, or one line and exit 2.
function Parser:parse(args)
  args = args or _G.arg or {}
  local joined = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if self.takes_value[a] and args[i + 1] ~= nil then
      joined[#joined + 1] = a .. '=' .. args[i + 1]
      i = i + 2
    else
      joined[#joined + 1] = a
      i = i + 1
    end
  end
  local ok, res = self.ap:pparse(joined)
  if not ok then self:fail(res .. ' (--help lists the flags)') end
  if res.sync_bn then require('rft.train').sync_bn = true end
  for _, t in ipairs(self.typed) do
    local s = res[t.key]
    if s == nil then
      res[t.key] = t.default
    else
      local v, why = t.check(s)
      if v == nil then
        if type(s) == 'table' then s = table.concat(s, "', '") end
        self:fail(string.format("%s must be %s, got '%s'%s", t.flag, t.accepts, s, why and ' (' .. why .. ')' or ''))
      end
      res[t.key] = v
    end
  end
  return res
end

--- The model names rft.models.build accepts.
function M.models()
  local names = {}
  for k, v in pairs(require('rft.models')) do
    if type(v) == 'function' and k ~= 'build' and not k:match('^_') and k:match('^[%l][%w_]*$') then
      names[#names + 1] = k
    end
  end
  table.sort(names)
  return names
end

return M
