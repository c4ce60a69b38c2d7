-- rft.tensor: the tensor metatype on the engine's opaque `rft_tensor *`, and the constructors.
-- Rows and elements are counted from 0 where the engine counts them (t:view(i, j) is rows i..j-1,
-- as in DESIGN.md), while to_table returns an ordinary 1-based Lua array.
local ffi = require 'ffi'
local F = require 'rft.ffi'
local C, check = F.C, F.check

local M = {}
local dtype_names = { [C.RFT_F32] = 'f32', [C.RFT_U8] = 'u8', [C.RFT_I32] = 'i32' }
local ctypes = { f32 = 'float', u8 = 'uint8_t', i32 = 'int32_t' }
local int_range = { u8 = { 0, 255 }, i32 = { -2147483648, 2147483647 } }
local default_device = 'cpu'

local function dtype_code(name, what)
  local code = F.dtypes[name or 'f32']
  if not code then error(string.format("%s: dtype '%s' is not one of f32, u8, i32", what, tostring(name)), 3) end
  return code
end

local function device_code(name, what)
  local code = F.devices[name]
  if not code then error(string.format("%s: device '%s' is not one of cpu, cuda", what, tostring(name)), 3) end
  return code
end

local function shape_array(shape, what)
  if type(shape) ~= 'table' or #shape < 1 or #shape > 4 then
    error(what .. ': shape must be a table of 1 to 4 sizes, e.g. {2,3}', 3)
  end
  local a = ffi.new('int64_t[?]', #shape)
  for i, n in ipairs(shape) do
    if type(n) ~= 'number' or n < 0 or n % 1 ~= 0 then
      error(string.format('%s: shape[%d] = %s is not a size (an integer >= 0)', what, i, tostring(n)), 3)
    end
    a[i - 1] = n
  end
  return a, #shape
end

--- The default device for new tensors; RFT_DEVICE sets it at start. Asking for an unusable device is
--- an error that says why, in one line without a position (the reason is the machine's, not the
--- script's).
function M.set_default_device(name)
  check(C.rft_device_check(device_code(name, 'rft.device')), 0)
  default_device = name
end
function M.default_device() return default_device end

--- rft.tensor{shape={2,3}, dtype='f32', device='cpu'}: a new zero-filled tensor.
function M.new(opts)
  opts = opts or {}
  local shape, n = shape_array(opts.shape, 'rft.tensor')
  return F.call_new(2, C.rft_tensor_new, dtype_code(opts.dtype, 'rft.tensor'),
                    device_code(opts.device or default_device, 'rft.tensor'), n, shape)
end

--- rft.from_table({1,2,3,4,5,6}, {2,3}, 'f32'): a tensor holding the values, row-major.
--- Every value must be a number; for u8 and i32 a whole one within the dtype's range (no silent
--- truncation or wrap-around).
function M.from_table(values, shape, dtype, device)
  if type(values) ~= 'table' then
    error('rft.from_table: values must be a table of numbers, got ' .. type(values), 2)
  end
  dtype = dtype or 'f32'
  shape = shape or { #values }
  local t = M.new { shape = shape, dtype = dtype, device = device }
  local n = tonumber(C.rft_tensor_numel(t))
  if #values ~= n then
    error(string.format('rft.from_table: %d values given for shape %s (%d elements)', #values,
                        '{' .. table.concat(shape, ',') .. '}', n), 2)
  end
  local range = int_range[dtype]
  for i = 1, n do
    local v = values[i]
    if type(v) ~= 'number' then
      error(string.format('rft.from_table: values[%d] is a %s (%s), expected a number', i, type(v),
                          tostring(v)), 2)
    end
    if range and not (v % 1 == 0 and v >= range[1] and v <= range[2]) then
      error(string.format('rft.from_table: values[%d] = %s is not a whole number in %d..%d (dtype %s)', i,
                          tostring(v), range[1], range[2], dtype), 2)
    end
  end
  local buf = ffi.new(ctypes[dtype] .. '[?]', math.max(n, 1))
  for i = 1, n do buf[i - 1] = values[i] end
  check(C.rft_tensor_copy_from_host(t, buf, n * ffi.sizeof(ctypes[dtype])), 2)
  return t
end

local Tensor = {}
Tensor.__index = Tensor

function Tensor:dtype() return dtype_names[C.rft_tensor_dtype(self)] end
function Tensor:device() return ffi.string(C.rft_device_name(C.rft_tensor_device(self))) end
function Tensor:numel() return tonumber(C.rft_tensor_numel(self)) end
function Tensor:dim() return C.rft_tensor_ndim(self) end
function Tensor:size(i) return tonumber(C.rft_tensor_dim(self, i - 1)) end
function Tensor:is_view() return C.rft_tensor_is_view(self) ~= 0 end

--- {N, C, H, W}
function Tensor:shape()
  local s = {}
  for i = 0, C.rft_tensor_ndim(self) - 1 do s[i + 1] = tonumber(C.rft_tensor_dim(self, i)) end
  return s
end

--- Rows i..j-1 along the first dimension (0-based, half-open), sharing memory: no copy.
function Tensor:view(i, j)
  if type(i) ~= 'number' or i % 1 ~= 0 or math.abs(i) > 2 ^ 53 then
    error('view: i = ' .. tostring(i) .. ' is not a whole row index', 2)
  end
  if j ~= nil and (type(j) ~= 'number' or j % 1 ~= 0 or math.abs(j) > 2 ^ 53) then
    error('view: j = ' .. tostring(j) .. ' is not a whole row index', 2)
  end
  return F.call_new(2, C.rft_tensor_view, self, i, j or i + 1)
end

--- The same memory under another shape with as many elements.
function Tensor:reshape(shape)
  local a, n = shape_array(shape, 'reshape')
  return F.call_new(2, C.rft_tensor_reshape, self, n, a)
end

--- Give the tensor a new shape (reallocating only when it owns too little memory); contents unspecified.
function Tensor:resize(shape)
  local a, n = shape_array(shape, 'resize')
  check(C.rft_tensor_resize(self, n, a), 2)
  return self
end

--- A deep copy, on `device` (default: the same device).
function Tensor:copy(device)
  local dev = device and device_code(device, 'copy') or C.rft_tensor_device(self)
  return F.call_new(2, C.rft_tensor_clone, self, dev)
end

--- Copy src's elements into this tensor (same dtype and element count, any device).
function Tensor:copy_from(src)
  check(C.rft_tensor_copy(self, src), 2)
  return self
end

--- Rows of this tensor picked by idx (i32 [K], on this tensor's device) into out (resized to
--- [K, ...]; made when nil, same dtype and device): out[k] = self[idx[k]].
function Tensor:gather(idx, out)
  out = out or M.new { shape = { 0 }, dtype = self:dtype(), device = self:device() }
  check(C.rft_tensor_gather(self, idx, out), 2)
  return out
end

--- This tensor's values on the CPU: itself if it is there, else copied into buf (a CPU tensor of
--- the same dtype, resized to fit; made when nil). Reuse buf to avoid an allocation per call.
function Tensor:host(buf)
  if C.rft_tensor_device(self) == C.RFT_CPU then return self end
  buf = buf or M.new { shape = { 0 }, dtype = self:dtype(), device = 'cpu' }
  return buf:resize(self:shape()):copy_from(self)
end

function Tensor:fill(v)
  if type(v) ~= 'number' then error('fill: value is a ' .. type(v) .. ', expected a number', 2) end
  check(C.rft_tensor_fill(self, v), 2)
  return self
end

--- The u8 -> f32 conversion scaled to [0,1] (scale 1/255 unless given).
function Tensor:float(scale)
  local y = M.new { shape = self:shape(), dtype = 'f32', device = self:device() }
  check(C.rft_tensor_u8_to_f32(self, scale or 1 / 255, y), 2)
  return y
end

--- A host copy of the elements as a flat, row-major, 1-based Lua array (for small tensors).
function Tensor:to_table()
  local n, dt = self:numel(), self:dtype()
  local buf = ffi.new(ctypes[dt] .. '[?]', math.max(n, 1))
  check(C.rft_tensor_copy_to_host(self, buf, n * ffi.sizeof(ctypes[dt])), 2)
  if dt == 'f32' then C.rft_host_f32_canonicalize(buf, n) end      -- see Tensor:data
  local out = {}
  for i = 1, n do out[i] = tonumber(buf[i - 1]) end
  return out
end

local stats_buf = ffi.new('double[3]')
--- min, max, mean over all elements
function Tensor:stats()
  check(C.rft_tensor_stats(self, stats_buf), 2)
  return stats_buf[0], stats_buf[1], stats_buf[2]
end
function Tensor:min() return (self:stats()) end
function Tensor:max() return select(2, self:stats()) end
function Tensor:mean() return select(3, self:stats()) end

--- The host address of element 0 as a typed pointer (CPU tensors only), for fast reads from Lua.
--- An f32 tensor's NaNs are first made the one quiet NaN, in place: LuaJIT NaN-tags its values, so a
--- NaN with a payload (from a file, or a kernel) read through the pointer could be taken for a value
--- of another type. Take the pointer again after an op has written the tensor.
function Tensor:data()
  local p = C.rft_tensor_data(self)
  if p == nil then error('data: the tensor is on ' .. self:device() .. ', not the cpu', 2) end
  local dt = self:dtype()
  if dt == 'f32' then C.rft_host_f32_canonicalize(p, C.rft_tensor_numel(self)) end
  return ffi.cast(ctypes[dt] .. '*', p)
end

local nonfinite_at = ffi.new('int64_t[1]')
--- The first element that is NaN or +-Inf: its flat 0-based index and value, or nil when every
--- element is finite (any device; i32 and u8 tensors are always finite).
function Tensor:nonfinite()
  if self:dtype() ~= 'f32' or self:numel() == 0 then return nil end
  local h = self:host()
  check(C.rft_tensor_find_nonfinite(h, nonfinite_at), 2)
  local i = tonumber(nonfinite_at[0])
  if i < 0 then return nil end
  local bits = ffi.cast('const uint32_t *', C.rft_tensor_data(h))[i]     -- never read as a float
  if bits == 0x7f800000 then return i, math.huge end
  if bits == 0xff800000 then return i, -math.huge end
  return i, 0 / 0
end

local function fmt(v)
  if v ~= v then return 'nan' end
  if v == math.floor(v) and math.abs(v) < 1e15 then return string.format('%d', v) end
  return string.format('%.4g', v)
end

--- "rft.Tensor f32 cpu [128,3,32,32] min=0 max=1 mean=0.4734"
function Tensor:__tostring()
  local head = string.format('rft.Tensor %s %s [%s]', self:dtype(), self:device(), table.concat(self:shape(), ','))
  if self:numel() == 0 then return head .. ' (empty)' end
  local lo, hi, mean = self:stats()
  return string.format('%s min=%s max=%s mean=%s', head, fmt(lo), fmt(hi), fmt(mean))
end

--- #t: the size of the first dimension (the number of rows, images or labels).
function Tensor:__len() return tonumber(C.rft_tensor_dim(self, 0)) end

M.Tensor = Tensor
M.ctype = ffi.metatype('struct rft_tensor', Tensor)

--- Concatenate tensors along the first dimension into a new tensor.
function M.cat(parts)
  if #parts == 0 then error('rft.cat: needs at least one tensor', 2) end
  local arr = ffi.new('const rft_tensor*[?]', #parts, parts)
  local out = M.new { shape = { 0 }, dtype = parts[1]:dtype(), device = parts[1]:device() }
  check(C.rft_tensor_cat(#parts, arr, out), 2)
  return out
end

function M.is_tensor(x) return type(x) == 'cdata' and ffi.istype('rft_tensor*', x) end

return M
