-- rft.methods: fine-tuning methods as values. A method says what its step puts through the network
-- (inputs: {'x'}, {'xt'} or {'x', 'xt'}, the clean and the distorted batch side by side), which loss
-- primitives read the logits and taps of that pass, its options with their flags and defaults, what
-- results.json records of them, and the name it reports under (`<name>/CA` in the tables).
-- Every file in this folder but this one defines one method and is found here by itself: a new
-- method is one new file, e.g. lua/rft/methods/my_method.lua:
--
--   local loss = require 'rft.loss'
--   return require('rft.methods').define {
--     name = 'CE-x2', about = 'cross-entropy on both views, the distorted one weighted by beta',
--     inputs = { 'x', 'xt' },
--     flags = { { '--beta', 'number', 0.5, 'weight of the distorted view', min = 0 } },
--     loss = function(out, o)             -- out: logits, taps(), y, labels() ([y ; y]), rows
--       local j0, g = loss.cross_entropy(out.logits, out.labels(), {scale = ...}) ...
--       return total, grad_logits, tap_grads_or_nil, { j0 = j0, extra = total - j0 }
--     end,
--   }
--
-- rft.robust.step runs any method's step; rft.experiment fine-tunes with one; rft.cli's recipes take
-- a method's flags from here. Nothing elsewhere names a method.
local M = {}

local by_name, names = {}, {}

local KINDS = { number = true, integer = true, boolean = true, flag = true, string = true }
local INPUTS = { ['x'] = true, ['xt'] = true, ['x,xt'] = true }

--- Check a method table and return it as a method value. Fields: name (reported as name/CA),
--- about (one line), inputs ({'x'} | {'xt'} | {'x', 'xt'}), loss(out, o) -> total, grad_logits,
--- tap_grads | nil, parts ({j0=, extra=, ...}), flags (list of {flag, kind, default, help, min=, max=,
--- above=, below=, key=}; kind: number, integer, boolean, flag, string), options(args) -> the
--- method's options from parsed flags (default: each flag's key), config(o) -> what results.json
--- records (default: the options), pair_sums (true: the forward over [x ; x~] makes FMA's per-pair
--- sums at the taps, tap.pair_sums, for rft.loss.fma).
function M.define(t)
  local where = 'rft.methods.define'
  if type(t) ~= 'table' then error(where .. ': expected a table', 2) end
  if type(t.name) ~= 'string' or not t.name:match('^[%w][%w%-_+]*$') then
    error(where .. ': name must be a word (letters, digits, - _ +), got ' .. tostring(t.name), 2)
  end
  if type(t.inputs) ~= 'table' or not INPUTS[table.concat(t.inputs, ',')] then
    error(where .. " (" .. t.name .. "): inputs must be {'x'}, {'xt'} or {'x', 'xt'}", 2)
  end
  if type(t.loss) ~= 'function' then error(where .. ' (' .. t.name .. '): loss must be a function', 2) end
  t.flags = t.flags or {}
  for i, f in ipairs(t.flags) do
    if type(f[1]) ~= 'string' or not f[1]:match('^%-%-[%l%d][%l%d%-]*$') or not KINDS[f[2]] then
      error(string.format("%s (%s): flag %d must be {'--name', kind, default, help} with kind one of "
        .. 'number, integer, boolean, flag, string', where, t.name, i), 2)
    end
    f.key = f.key or f[1]:sub(3):gsub('-', '_')
  end
  t.about = t.about or t.name
  t.distorted = false
  for _, v in ipairs(t.inputs) do if v == 'xt' then t.distorted = true end end
  return setmetatable(t, { __tostring = function(m) return 'method ' .. m.name .. ': ' .. m.about end })
end

--- A method's options from parsed flags (or any table using the flags' keys): the method's own
--- options(args) if it has one, else each flag's value under its key (defaults filled in).
function M.options(method, args)
  method = M.get(method)
  args = args or {}
  if method.options then return method.options(args) end
  local o = {}
  for _, f in ipairs(method.flags) do
    local v = args[f.key]
    if v == nil then v = f[3] end
    o[f.key] = v
  end
  return o
end

--- What results.json records of a method's options.
function M.config(method, o)
  method = M.get(method)
  local c = method.config and method.config(o) or o
  local out = { name = method.name, about = method.about, inputs = table.concat(method.inputs, ' ; ') }
  for k, v in pairs(c) do out[k] = v end
  return out
end

-- this file's folder: every other *.lua in it is a method
local function folder()
  local path = package.searchpath('rft.methods', package.path)
  return path and path:match('^(.*)/[^/]*$')
end

local function discover()
  local dir = folder()
  if not dir then error('rft.methods: cannot find the folder of rft.methods on package.path', 3) end
  local p = io.popen("ls -1 '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  local files = {}
  for line in p:lines() do
    local mod = line:match('^([%w_]+)%.lua$')
    if mod and mod ~= 'init' then files[#files + 1] = mod end
  end
  p:close()
  table.sort(files)
  for _, mod in ipairs(files) do
    local m = require('rft.methods.' .. mod)
    if type(m) ~= 'table' or getmetatable(m) == nil or not m.loss then
      error('rft.methods: lua/rft/methods/' .. mod .. '.lua must return require(\'rft.methods\').define{...}', 3)
    end
    if by_name[m.name] then
      error(string.format("rft.methods: two methods are named '%s' (%s.lua and another file)", m.name, mod), 3)
    end
    m.module = mod
    by_name[m.name] = m
    names[#names + 1] = m.name
  end
  table.sort(names)
end

local loaded = false
local function load()
  if not loaded then loaded = true; discover() end
end

--- The registered method names, sorted.
function M.names()
  load()
  local out = {}
  for i, n in ipairs(names) do out[i] = n end
  return out
end

--- A method by name (a method value passes through); an unknown name is an error listing them.
function M.get(name)
  if type(name) == 'table' and name.loss then return name end
  load()
  local m = by_name[name]
  if not m then
    error(string.format("rft.methods: unknown method '%s' (expected one of %s)", tostring(name),
      table.concat(names, ', ')), 3)
  end
  return m
end

--- Add the flags of the given methods (names or values; default: every method) to an rft.cli parser;
--- a flag two methods share is added once (the first method's default and help).
function M.add_flags(parser, list)
  list = list or M.names()
  local seen = {}
  for _, m in ipairs(list) do
    m = M.get(m)
    for _, f in ipairs(m.flags) do
      if not seen[f[1]] then
        seen[f[1]] = true
        local kind = f[2]
        local help = f[4] or ''
        if #list > 1 then help = help .. ' [' .. m.name .. ']' end
        if kind == 'flag' then parser:flag(f[1], help)
        elseif kind == 'boolean' then parser:boolean(f[1], help, f[3])
        elseif kind == 'string' then parser:string(f[1], help, f[3])
        else parser[kind](parser, f[1], help, f[3], { min = f.min, max = f.max, above = f.above, below = f.below }) end
      end
    end
  end
  return parser
end

return M
