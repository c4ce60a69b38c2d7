-- rft.json_strict: a strict JSON reader for file headers that may be hostile (safetensors). Unlike
-- lua-cjson it refuses duplicate keys, keeps arrays and objects apart (an empty [] is not {}),
-- checks UTF-8, accepts only RFC 8259 numbers (no NaN, Infinity or hex) and limits nesting.
-- Objects decode to tables with the metatable M.object (keys in M.keys(obj), in file order), arrays
-- to tables with M.array. Errors are values: decode returns nil and a message with the byte offset.
-- Not a writer, and not for large documents (it is plain Lua).
local M = {}

M.object = { __name = 'json object' }
M.array = { __name = 'json array' }
M.null = setmetatable({}, { __name = 'json null', __tostring = function() return 'null' end })

local byte, sub, char, find = string.byte, string.sub, string.char, string.find
local MAX_DEPTH = 32
local order = setmetatable({}, { __mode = 'k' })   -- object -> its keys in file order

local function utf8_ok(s)
  local i, n = 1, #s
  while i <= n do
    local c = byte(s, i)
    local len, lo
    if c < 0x80 then len = 1
    elseif c >= 0xC2 and c <= 0xDF then len, lo = 2, 0x80
    elseif c >= 0xE0 and c <= 0xEF then len, lo = 3, (c == 0xE0 and 0xA0 or 0x80)
    elseif c >= 0xF0 and c <= 0xF4 then len, lo = 4, (c == 0xF0 and 0x90 or 0x80)
    else return false, i end
    for k = 1, len - 1 do
      local d = byte(s, i + k)
      if not d then return false, i end
      local hi = 0xBF
      if k == 1 then
        if c == 0xED then hi = 0x9F elseif c == 0xF4 then hi = 0x8F end
        if d < lo or d > hi then return false, i end
      elseif d < 0x80 or d > 0xBF then return false, i end
    end
    i = i + len
  end
  return true
end
M.utf8_ok = utf8_ok

local function utf8_char(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
              0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local escapes = { [34] = '"', [92] = '\\', [47] = '/', [98] = '\b', [102] = '\f', [110] = '\n',
                  [114] = '\r', [116] = '\t' }

--- Decodes text s (one JSON value, surrounding whitespace allowed) -> value, or nil, message.
function M.decode(s)
  if type(s) ~= 'string' then return nil, 'not a string' end
  local ok, at = utf8_ok(s)
  if not ok then return nil, 'invalid UTF-8 at byte ' .. (at - 1) end
  local pos = 1
  local function fail(msg) error({ msg = msg .. ' at byte ' .. (pos - 1) }, 0) end
  local function skip()
    pos = find(s, '[^ \t\r\n]', pos) or #s + 1
  end
  local value
  local function str()
    pos = pos + 1                                 -- the opening quote
    local parts = {}
    while true do
      local q = find(s, '["\\%z\1-\31]', pos)
      if not q then fail('unterminated string') end
      parts[#parts + 1] = sub(s, pos, q - 1)
      local c = byte(s, q)
      pos = q
      if c == 34 then pos = q + 1; break end
      if c < 32 then fail('control character in a string') end
      local e = byte(s, q + 1)                     -- a backslash
      if e == 117 then                             -- \uXXXX
        local hex = sub(s, q + 2, q + 5)
        if not hex:match('^%x%x%x%x$') then fail('bad \\u escape') end
        local cp = tonumber(hex, 16)
        pos = q + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local hex2 = sub(s, pos, pos + 5)
          local lo = hex2:match('^\\u(%x%x%x%x)$')
          lo = lo and tonumber(lo, 16)
          if not lo or lo < 0xDC00 or lo > 0xDFFF then fail('unpaired surrogate') end
          cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
          pos = pos + 6
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          fail('unpaired surrogate')
        end
        parts[#parts + 1] = utf8_char(cp)
      else
        local r = e and escapes[e]
        if not r then fail('bad escape') end
        parts[#parts + 1] = r
        pos = q + 2
      end
    end
    return table.concat(parts)
  end
  local function digits()
    local a, b = find(s, '^%d+', pos)
    if not a then fail('bad number') end
    pos = b + 1
  end
  -- RFC 8259: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
  local function num()
    local start = pos
    if byte(s, pos) == 45 then pos = pos + 1 end
    if byte(s, pos) == 48 then pos = pos + 1 else digits() end
    if byte(s, pos) == 46 then pos = pos + 1; digits() end
    local e = byte(s, pos)
    if e == 101 or e == 69 then
      pos = pos + 1
      local sign = byte(s, pos)
      if sign == 43 or sign == 45 then pos = pos + 1 end
      digits()
    end
    local v = tonumber(sub(s, start, pos - 1))
    if not v then fail('bad number') end
    return v
  end
  local function obj(depth)
    pos = pos + 1
    local t, keys = setmetatable({}, M.object), {}
    order[t] = keys
    skip()
    if byte(s, pos) == 125 then pos = pos + 1; return t end
    while true do
      skip()
      if byte(s, pos) ~= 34 then fail('expected a key') end
      local k = str()
      if keys[k] then
        local shown = (#k > 80 and k:sub(1, 77) .. '...' or k):gsub('[%c\128-\255"\\]', function(ch)
          return string.format('\\%03d', ch:byte())
        end)
        fail('duplicate key "' .. shown .. '"')
      end
      skip()
      if byte(s, pos) ~= 58 then fail('expected ":"') end
      pos = pos + 1
      local v = value(depth + 1)
      keys[k] = true
      keys[#keys + 1] = k
      t[k] = v
      skip()
      local c = byte(s, pos)
      pos = pos + 1
      if c == 125 then break end
      if c ~= 44 then pos = pos - 1; fail('expected "," or "}"') end
    end
    return t
  end
  local function arr(depth)
    pos = pos + 1
    local t, n = setmetatable({}, M.array), 0
    skip()
    if byte(s, pos) == 93 then pos = pos + 1; return t end
    while true do
      n = n + 1
      t[n] = value(depth + 1)
      skip()
      local c = byte(s, pos)
      pos = pos + 1
      if c == 93 then break end
      if c ~= 44 then pos = pos - 1; fail('expected "," or "]"') end
    end
    return t
  end
  value = function(depth)
    if depth > MAX_DEPTH then fail('nested deeper than ' .. MAX_DEPTH) end
    skip()
    local c = byte(s, pos)
    if c == 123 then return obj(depth) end
    if c == 91 then return arr(depth) end
    if c == 34 then return str() end
    if c == 45 or (c and c >= 48 and c <= 57) then return num() end
    if sub(s, pos, pos + 3) == 'true' then pos = pos + 4; return true end
    if sub(s, pos, pos + 4) == 'false' then pos = pos + 5; return false end
    if sub(s, pos, pos + 3) == 'null' then pos = pos + 4; return M.null end
    fail(c and 'unexpected character' or 'unexpected end')
  end
  local okp, v = pcall(function()
    local r = value(1)
    skip()
    if pos <= #s then fail('text after the value') end
    return r
  end)
  if not okp then
    if type(v) == 'table' then return nil, v.msg end
    error(v, 0)
  end
  return v
end

--- The keys of a decoded object in file order (nil for anything else).
function M.keys(obj) return order[obj] end

function M.is_object(v) return type(v) == 'table' and getmetatable(v) == M.object end
function M.is_array(v) return type(v) == 'table' and getmetatable(v) == M.array end

return M
