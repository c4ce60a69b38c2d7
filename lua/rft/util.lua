-- rft.util: small file helpers shared by recipes and reports: folders, atomic text writes, JSON.
local M = {}

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- mkdir -p; errors name the folder.
function M.mkdir_p(dir)
  local ok = os.execute('mkdir -p ' .. shell_quote(dir))
  if ok ~= 0 and ok ~= true then error('cannot create folder ' .. dir, 2) end
  return dir
end

--- Write text to path atomically: a temporary file beside it, then rename. In a data-parallel run
--- rank 0 writes and every rank waits for it (rft.dist.on_root).
local function write_atomic(path, text)
  local tmp = path .. '.tmp'
  local f, err = io.open(tmp, 'wb')
  if not f then error('cannot write ' .. tostring(err), 2) end
  local ok, werr = f:write(text)
  f:close()
  if not ok then os.remove(tmp); error('cannot write ' .. tmp .. ': ' .. tostring(werr), 2) end
  local rok, rerr = os.rename(tmp, path)
  if not rok then os.remove(tmp); error('cannot rename ' .. tmp .. ' to ' .. path .. ': ' .. tostring(rerr), 2) end
end

function M.write_atomic(path, text) require('rft.dist').on_root(write_atomic, path, text) end

--- Whether a file can be opened for reading.
function M.exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

--- A canonical text of a value (table keys sorted): equal configurations give equal text.
function M.canonical(v)
  if type(v) ~= 'table' then return type(v) == 'string' and string.format('%q', v) or tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. '=' .. M.canonical(v[k]) end
  return '{' .. table.concat(parts, ',') .. '}'
end

--- The folder part of a path ('.' for a bare name).
function M.dirname(path) return path:match('^(.*)/[^/]*$') or '.' end

return M
