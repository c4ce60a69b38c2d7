-- rft.safetensors: checkpoints in the safetensors format (8-byte little-endian header length, a JSON
-- header {name: {dtype, shape, data_offsets}, __metadata__: {string: string}}, then raw little-endian
-- data), so PyTorch users can read rft weights and rft can read theirs. Saving is atomic (a
-- temporary file, then rename); loading checks every header entry against the file and names the
-- file and the entry at fault.
local ffi = require 'ffi'
local cjson = require 'cjson'
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local C = F.C

local M = {}

local to_st = { f32 = 'F32', i32 = 'I32', u8 = 'U8' }
local from_st = { F32 = { 'f32', 4 }, I32 = { 'i32', 4 }, U8 = { 'u8', 1 }, I64 = { 'i32', 8 } }

local function u64le(n)
  local b = {}
  for i = 1, 8 do b[i] = string.char(n % 256); n = math.floor(n / 256) end
  return table.concat(b)
end

--- Save {name = tensor} with optional metadata {key = value} (values become strings; tables JSON).
function M.save(path, tensors, metadata)
  local names = {}
  for name, t in pairs(tensors) do
    if not T.is_tensor(t) then error('safetensors.save: ' .. tostring(name) .. ' is not a tensor', 2) end
    names[#names + 1] = name
  end
  table.sort(names)
  local header, off = {}, 0
  for _, name in ipairs(names) do
    local t = tensors[name]
    local n = t:numel() * (t:dtype() == 'u8' and 1 or 4)
    header[name] = { dtype = to_st[t:dtype()], shape = t:shape(), data_offsets = { off, off + n } }
    off = off + n
  end
  if metadata then
    local md = {}
    for k, v in pairs(metadata) do md[tostring(k)] = type(v) == 'table' and cjson.encode(v) or tostring(v) end
    header.__metadata__ = md
  end
  local json = cjson.encode(header)
  json = json .. string.rep(' ', (8 - #json % 8) % 8)     -- data starts 8-byte aligned
  local tmp = path .. '.tmp'
  local f, err = io.open(tmp, 'wb')
  if not f then error('safetensors.save: cannot write ' .. tostring(err), 2) end
  local ok, werr = f:write(u64le(#json), json)
  for _, name in ipairs(names) do
    if not ok then break end
    local t = tensors[name]
    local n = header[name].data_offsets[2] - header[name].data_offsets[1]
    local buf = ffi.new('uint8_t[?]', math.max(n, 1))
    F.check(C.rft_tensor_copy_to_host(t, buf, n), 2)
    ok, werr = f:write(ffi.string(buf, n))
  end
  local cok = f:close()
  if not ok or not cok then
    os.remove(tmp)
    error('safetensors.save: writing ' .. tmp .. ' failed: ' .. tostring(werr or 'close failed'), 2)
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then os.remove(tmp); error('safetensors.save: ' .. tostring(rerr), 2) end
end

--- Load a file: returns {name = tensor}, metadata. I64 tensors (PyTorch's counters) load as i32 when
--- their values fit; 0-d tensors load as shape {1}.
function M.load(path, device)
  local function fail(msg) error('safetensors: ' .. path .. ': ' .. msg, 3) end
  local f, err = io.open(path, 'rb')
  if not f then error('safetensors: cannot open ' .. tostring(err), 2) end
  local s = f:read('*a')
  f:close()
  if #s < 8 then fail('file is ' .. #s .. ' bytes, too short for a header length') end
  local hlen = 0
  for i = 8, 1, -1 do hlen = hlen * 256 + s:byte(i) end
  if hlen < 2 or 8 + hlen > #s then
    fail(string.format('header length %d does not fit the file of %d bytes (truncated or not safetensors)', hlen, #s))
  end
  local ok, header = pcall(cjson.decode, s:sub(9, 8 + hlen))
  if not ok or type(header) ~= 'table' then fail('header is not valid JSON (' .. tostring(header) .. ')') end
  local data_start, data_len = 8 + hlen, #s - 8 - hlen
  local base = ffi.cast('const uint8_t *', s) + data_start
  local out = {}
  for name, e in pairs(header) do
    if name ~= '__metadata__' then
      if type(e) ~= 'table' or type(e.shape) ~= 'table' or type(e.data_offsets) ~= 'table' then
        fail('entry ' .. name .. ' lacks dtype, shape or data_offsets')
      end
      local dt = from_st[e.dtype]
      if not dt then fail('entry ' .. name .. ' has dtype ' .. tostring(e.dtype) .. ', rft reads F32, I32, U8 and I64') end
      local shape, numel = {}, 1
      for i, n in ipairs(e.shape) do shape[i] = n; numel = numel * n end
      if #shape == 0 then shape = { 1 } end
      if #shape > 4 then fail('entry ' .. name .. ' has ' .. #shape .. ' dimensions, rft tensors have at most 4') end
      local b, en = e.data_offsets[1], e.data_offsets[2]
      if type(b) ~= 'number' or type(en) ~= 'number' or b < 0 or en < b or en > data_len then
        fail(string.format('entry %s has data_offsets [%s, %s] outside the %d data bytes (truncated file?)', name,
          tostring(b), tostring(en), data_len))
      end
      if en - b ~= numel * dt[2] then
        fail(string.format('entry %s: shape [%s] of %s needs %d bytes, data_offsets give %d', name,
          table.concat(e.shape, ','), e.dtype, numel * dt[2], en - b))
      end
      local t = T.new { shape = shape, dtype = dt[1], device = device or 'cpu' }
      if e.dtype == 'I64' then
        local src, vals = ffi.cast('const int64_t *', base + b), {}
        for i = 0, numel - 1 do
          local v = src[i]
          if v > 2147483647 or v < -2147483648 then fail('entry ' .. name .. ' has an I64 value beyond i32') end
          vals[i + 1] = tonumber(v)
        end
        t = T.from_table(vals, shape, 'i32', device)
      else
        F.check(C.rft_tensor_copy_from_host(t, base + b, en - b), 2)
      end
      out[name] = t
    end
  end
  return out, header.__metadata__ or {}
end

return M
