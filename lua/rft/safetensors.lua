-- rft.safetensors: checkpoints in the safetensors format (8-byte little-endian header length, a JSON
-- header {name: {dtype, shape, data_offsets}, __metadata__: {string: string}}, then raw little-endian
-- data), so PyTorch users can read rft weights and rft can read theirs. Saving is atomic (a
-- temporary file, then rename). Loading is strict, as the format's own validation is: the header is
-- UTF-8 JSON with unique keys; every entry has a known dtype, a shape of whole non-negative sizes and
-- whole data_offsets; the entries, in offset order, cover the data section exactly, without gaps or
-- overlaps; `__metadata__` maps strings to strings. Every message names the file and the entry.
-- A file is hostile input: nothing in it may crash the process (fuzzed by tools/fuzz/).
local ffi = require 'ffi'
local cjson = require 'cjson'
local json = require 'rft.json_strict'
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local C = F.C

local M = {}

local to_st = { f32 = 'F32', i32 = 'I32', u8 = 'U8' }
local from_st = { F32 = { 'f32', 4 }, I32 = { 'i32', 4 }, U8 = { 'u8', 1 }, I64 = { 'i32', 8 } }
-- Every dtype the format defines, with its size in bytes (rft reads the four above).
local st_sizes = { BOOL = 1, U8 = 1, I8 = 1, F8_E5M2 = 1, F8_E4M3 = 1, I16 = 2, U16 = 2, F16 = 2, BF16 = 2,
                   I32 = 4, U32 = 4, F32 = 4, F64 = 8, I64 = 8, U64 = 8 }
local MAX_HEADER = 100000000          -- the format's own limit on the header's length
local MAX_SIZE = 2 ^ 53               -- sizes and offsets beyond this are not whole Lua numbers

local function u64le(n)
  local b = {}
  for i = 1, 8 do b[i] = string.char(n % 256); n = math.floor(n / 256) end
  return table.concat(b)
end

-- A name as it appears in a message: quoted, control bytes escaped, long names cut.
local function q(name)
  local s = tostring(name)
  if #s > 80 then s = s:sub(1, 77) .. '...' end
  return "'" .. s:gsub('[%c\128-\255\'\\]', function(c) return string.format('\\%03d', c:byte()) end) .. "'"
end
M.quote = q

-- JSON text of a string (the writer's half; the reader is rft.json_strict).
local function jstr(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format('\\u%04x', c:byte())
  end) .. '"'
end

local function whole(n) return string.format('%.0f', n) end

--- Save {name = tensor} with optional metadata {key = value} (values become strings; tables JSON).
--- Names are strings (UTF-8); `__metadata__` is the format's own key and cannot name a tensor.
function M.save(path, tensors, metadata)
  if type(path) ~= 'string' then error('safetensors.save: path must be a string, got ' .. type(path), 2) end
  if type(tensors) ~= 'table' then
    error('safetensors.save: ' .. path .. ': tensors must be a table {name = tensor}, got ' .. type(tensors), 2)
  end
  local names = {}
  for name, t in pairs(tensors) do
    if type(name) ~= 'string' then
      error(string.format('safetensors.save: %s: tensor names must be strings, got the %s key %s (a list '
        .. 'or a table with mixed keys?)', path, type(name), tostring(name)), 2)
    end
    if name == '__metadata__' then
      error('safetensors.save: ' .. path .. ": '__metadata__' is the format's metadata key, not a tensor "
        .. 'name; pass metadata as the third argument', 2)
    end
    if not json.utf8_ok(name) then error('safetensors.save: ' .. path .. ': tensor name ' .. q(name)
      .. ' is not valid UTF-8', 2) end
    if not T.is_tensor(t) then
      error('safetensors.save: ' .. path .. ': ' .. q(name) .. ' is a ' .. type(t) .. ', not a tensor', 2)
    end
    names[#names + 1] = name
  end
  table.sort(names)
  local parts, ends, off = {}, {}, 0
  if metadata ~= nil then
    if type(metadata) ~= 'table' then
      error('safetensors.save: ' .. path .. ': metadata must be a table {key = value}, got ' .. type(metadata), 2)
    end
    local md = {}
    for k, v in pairs(metadata) do
      local ks, vs = tostring(k), type(v) == 'table' and cjson.encode(v) or tostring(v)
      if not json.utf8_ok(ks) or not json.utf8_ok(vs) then
        error('safetensors.save: ' .. path .. ': metadata ' .. q(ks) .. ' is not valid UTF-8', 2)
      end
      md[#md + 1] = jstr(ks) .. ':' .. jstr(vs)
    end
    table.sort(md)
    parts[1] = '"__metadata__":{' .. table.concat(md, ',') .. '}'
  end
  for _, name in ipairs(names) do
    local t = tensors[name]
    local n = t:numel() * (t:dtype() == 'u8' and 1 or 4)
    local shape = t:shape()
    for i = 1, #shape do shape[i] = whole(shape[i]) end
    parts[#parts + 1] = string.format('%s:{"dtype":"%s","shape":[%s],"data_offsets":[%s,%s]}', jstr(name),
      to_st[t:dtype()], table.concat(shape, ','), whole(off), whole(off + n))
    ends[name] = { off, n }
    off = off + n
  end
  local header = '{' .. table.concat(parts, ',') .. '}'
  header = header .. string.rep(' ', (8 - #header % 8) % 8)     -- data starts 8-byte aligned
  local tmp = path .. '.tmp'
  local f, err = io.open(tmp, 'wb')
  if not f then error('safetensors.save: cannot write ' .. tostring(err), 2) end
  local ok, werr = f:write(u64le(#header), header)
  for _, name in ipairs(names) do
    if not ok then break end
    local n = ends[name][2]
    local buf = ffi.new('uint8_t[?]', math.max(n, 1))
    F.check(C.rft_tensor_copy_to_host(tensors[name], buf, n), 2)
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

-- The header length: 8 little-endian bytes, an unsigned 64-bit number (kept exact as uint64_t).
local function header_length(s)
  local h = ffi.new('uint64_t', 0)
  for i = 8, 1, -1 do h = h * 256 + s:byte(i) end
  return h
end
local function u64str(h) return (tostring(h):gsub('ULL$', '')) end

local function is_whole(v, hi) return type(v) == 'number' and v >= 0 and v <= hi and v % 1 == 0 end
local function show(v)
  if json.is_array(v) then return 'an array' end
  if json.is_object(v) then return 'an object' end
  if v == json.null then return 'null' end
  if type(v) == 'string' then return 'the string ' .. q(v) end
  return tostring(v)
end

--- Load a file: returns {name = tensor}, metadata. I64 tensors (PyTorch's counters) load as i32 when
--- their values fit; 0-d tensors load as shape {1}. Non-finite values are legal and load as they
--- are (M.nonfinite finds them).
function M.load(path, device)
  if type(path) ~= 'string' then error('safetensors: path must be a string, got ' .. type(path), 2) end
  local function fail(msg) error('safetensors: ' .. path .. ': ' .. msg, 3) end
  local f, err = io.open(path, 'rb')
  if not f then error('safetensors: cannot open ' .. tostring(err), 2) end
  local s, rerr = f:read('*a')
  f:close()
  if not s then fail('cannot read: ' .. tostring(rerr) .. ' (expected a file)') end
  if #s < 8 then fail('file is ' .. #s .. ' bytes, too short for a header length') end
  local hlen = header_length(s)
  if hlen > #s - 8 then
    fail(string.format('header length %s does not fit the file of %d bytes (truncated or not safetensors)',
      u64str(hlen), #s))
  end
  if hlen > MAX_HEADER then fail('header length ' .. u64str(hlen) .. ' is over the format\'s limit of '
    .. MAX_HEADER .. ' bytes') end
  hlen = tonumber(hlen)
  if hlen < 2 or s:byte(9) ~= 123 then fail('the header does not start with "{" (not safetensors)') end
  local header, jerr = json.decode(s:sub(9, 8 + hlen))
  if not header then fail('header is not valid JSON: ' .. jerr) end
  if not json.is_object(header) then fail('header is not a JSON object') end
  local data_len = #s - 8 - hlen
  local base = ffi.cast('const uint8_t *', s) + 8 + hlen

  local meta, entries = {}, {}
  for _, name in ipairs(json.keys(header)) do
    local e = header[name]
    if name == '__metadata__' then
      if not json.is_object(e) then fail('__metadata__ is ' .. show(e) .. ', expected an object of strings') end
      for _, k in ipairs(json.keys(e)) do
        if type(e[k]) ~= 'string' then
          fail('__metadata__ ' .. q(k) .. ' is ' .. show(e[k]) .. ', expected a string')
        end
        meta[k] = e[k]
      end
    else
      local function bad(msg) error('safetensors: ' .. path .. ': entry ' .. q(name) .. ': ' .. msg, 3) end
      if not json.is_object(e) then bad('is ' .. show(e) .. ', expected {dtype, shape, data_offsets}') end
      for _, k in ipairs(json.keys(e)) do
        if k ~= 'dtype' and k ~= 'shape' and k ~= 'data_offsets' then
          bad('has the unknown field ' .. q(k) .. ' (expected dtype, shape, data_offsets)')
        end
      end
      if e.dtype == nil or e.shape == nil or e.data_offsets == nil then bad('lacks dtype, shape or data_offsets') end
      if type(e.dtype) ~= 'string' then bad('dtype is ' .. show(e.dtype) .. ', expected a string') end
      local size = st_sizes[e.dtype]
      if not size then bad('dtype ' .. q(e.dtype) .. ' is not a safetensors dtype') end
      local dt = from_st[e.dtype]
      if not dt then bad('has dtype ' .. e.dtype .. ', rft reads F32, I32, U8 and I64') end
      if not json.is_array(e.shape) then bad('shape is ' .. show(e.shape) .. ', expected an array of sizes') end
      local shape, numel = {}, 1
      for i = 1, #e.shape do
        local n = e.shape[i]
        if not is_whole(n, MAX_SIZE) then
          bad(string.format('shape[%d] is %s, expected a whole number from 0 to 2^53', i, show(n)))
        end
        shape[i] = n
        if n > 0 and numel > MAX_SIZE / n then bad('shape [' .. table.concat(e.shape, ',') .. ']: the product of its sizes passes 2^53') end
        numel = numel * n
      end
      if #shape > 4 then bad('has ' .. #shape .. ' dimensions, rft tensors have at most 4') end
      if #shape == 0 then shape = { 1 } end
      local o = e.data_offsets
      if not json.is_array(o) or #o ~= 2 then bad('data_offsets is ' .. show(o) .. ', expected [begin, end]') end
      local b, en = o[1], o[2]
      if not is_whole(b, MAX_SIZE) or not is_whole(en, MAX_SIZE) then
        bad(string.format('data_offsets [%s, %s] are not whole byte offsets >= 0', show(b), show(en)))
      end
      if en < b then bad(string.format('data_offsets [%s, %s] end before they begin', whole(b), whole(en))) end
      if en > data_len then
        bad(string.format('data_offsets [%s, %s] reach past the %d data bytes (truncated file?)', whole(b),
          whole(en), data_len))
      end
      if en - b ~= numel * size then
        bad(string.format('shape [%s] of %s needs %s bytes, data_offsets [%s, %s] give %s',
          table.concat(e.shape, ','), e.dtype, whole(numel * size), whole(b), whole(en), whole(en - b)))
      end
      entries[#entries + 1] = { name = name, dt = dt, shape = shape, numel = numel, b = b, e = en }
    end
  end

  -- In offset order the entries must tile the data section: no gap, no overlap, nothing after.
  table.sort(entries, function(x, y)
    if x.b ~= y.b then return x.b < y.b end
    if x.e ~= y.e then return x.e < y.e end
    return x.name < y.name
  end)
  local at, prev = 0, nil
  for _, x in ipairs(entries) do
    if x.b < at then
      fail(string.format('entry %s (data_offsets [%s, %s]) overlaps entry %s (data_offsets [%s, %s])', q(x.name),
        whole(x.b), whole(x.e), q(prev.name), whole(prev.b), whole(prev.e)))
    elseif x.b > at then
      fail(string.format('entry %s begins at data byte %s, but the entries before it end at %s (a gap)',
        q(x.name), whole(x.b), whole(at)))
    end
    at, prev = x.e, x
  end
  if at ~= data_len then
    fail(string.format('the entries cover %s data bytes, the file holds %d after the header (extra bytes)',
      whole(at), data_len))
  end

  local out = {}
  for _, x in ipairs(entries) do
    local t
    if x.dt[2] == 8 then                     -- I64
      local src, vals = ffi.cast('const int64_t *', base + x.b), {}
      for i = 0, x.numel - 1 do
        local v = src[i]
        if v > 2147483647 or v < -2147483648 then
          fail(string.format('entry %s: element %d is %s, beyond i32', q(x.name), i, (tostring(v):gsub('LL$', ''))))
        end
        vals[i + 1] = tonumber(v)
      end
      t = T.from_table(vals, x.shape, 'i32', device)
    else
      t = T.new { shape = x.shape, dtype = x.dt[1], device = device or 'cpu' }
      F.check(C.rft_tensor_copy_from_host(t, base + x.b, x.e - x.b), 2)
    end
    out[x.name] = t
  end
  return out, meta
end

--- The first tensor (in name order) holding a NaN or an infinity: name, flat 0-based index, value;
--- nil when every value is finite. Checkpoints may hold them (the format allows it): a caller that
--- loads weights reports them (nn.Sequential:load_state_dict does).
function M.nonfinite(tensors)
  local names = {}
  for name, t in pairs(tensors) do
    if T.is_tensor(t) then names[#names + 1] = name end
  end
  table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
  for _, name in ipairs(names) do
    local i, v = tensors[name]:nonfinite()
    if i then return name, i, v end
  end
  return nil
end

return M
