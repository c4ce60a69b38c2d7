-- rft.data_c: CIFAR-10-C in its published layout (Hendrycks & Dietterich, 2019): one NumPy file per
-- corruption, NAME.npy, uint8 [50000,32,32,3] (the 10,000 test images at severity 1, then 2, ... 5)
-- and labels.npy (uint8 [50000], the same labels five times). Reads one severity of one corruption
-- as a dataset like rft.data.cifar10{split='test'}, and writes files in that layout (so rft's own
-- generated set can be read by any framework). Loaded into rft.data by data.lua.
local T = require 'rft.tensor'
local util = require 'rft.util'
local ffi = require 'ffi'

local M = {}

local CLASSES = { 'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck' }
local DTYPES = { ['|u1'] = 1, ['<u1'] = 1, ['u1'] = 1, ['<i4'] = 4, ['<i8'] = 8 }

--- Reads a .npy header: returns {descr=, fortran=, shape={...}, offset=bytes before the data,
--- size=file size}. Errors name the file and what was wrong.
function M.npy_header(path)
  local f, err = io.open(path, 'rb')
  if not f then error('cifar10c: cannot open ' .. tostring(err), 0) end
  local size = f:seek('end')
  f:seek('set', 0)
  local pre = f:read(10) or ''
  if #pre < 10 or pre:sub(1, 6) ~= '\147NUMPY' then
    f:close()
    error('cifar10c: ' .. path .. ' is not a NumPy .npy file (no \\x93NUMPY magic)', 0)
  end
  local major = pre:byte(7)
  local hlen, start
  if major == 1 then
    hlen, start = pre:byte(9) + 256 * pre:byte(10), 10
  elseif major == 2 or major == 3 then
    local more = f:read(2) or ''
    if #more < 2 then f:close() error('cifar10c: ' .. path .. ': truncated .npy header', 0) end
    hlen, start = pre:byte(9) + 256 * pre:byte(10) + 65536 * more:byte(1) + 16777216 * more:byte(2), 12
  else
    f:close()
    error(string.format('cifar10c: %s: .npy format version %d is not known (1, 2 or 3)', path, major), 0)
  end
  local h = f:read(hlen) or ''
  f:close()
  if #h < hlen then error('cifar10c: ' .. path .. ': truncated .npy header', 0) end
  local descr = h:match("'descr'%s*:%s*'([^']*)'")
  local fortran = h:match("'fortran_order'%s*:%s*(%a+)")
  local shape_s = h:match("'shape'%s*:%s*%(([^%)]*)%)")
  if not (descr and fortran and shape_s) then
    error('cifar10c: ' .. path .. ': .npy header lacks descr, fortran_order or shape: ' .. h, 0)
  end
  local shape = {}
  for d in shape_s:gmatch('%d+') do shape[#shape + 1] = tonumber(d) end
  return { descr = descr, fortran = fortran == 'True', shape = shape, offset = start + hlen, size = size }
end

local function check_file(path, h, want_shape_desc, ok_shape, dtypes)
  if h.fortran then error('cifar10c: ' .. path .. ': fortran_order is True, expected C order', 0) end
  if not dtypes[h.descr] then
    error(string.format("cifar10c: %s holds dtype '%s', expected %s", path, h.descr, dtypes.desc), 0)
  end
  if not ok_shape(h.shape) then
    error(string.format('cifar10c: %s has shape (%s), expected %s', path, table.concat(h.shape, ','), want_shape_desc), 0)
  end
  local n = DTYPES[h.descr]
  for _, d in ipairs(h.shape) do n = n * d end
  if h.size < h.offset + n then
    error(string.format('cifar10c: %s is truncated: %d bytes of data, its header announces %d', path,
                        h.size - h.offset, n), 0)
  end
end

local function read_bytes(path, offset, n)
  local f = assert(io.open(path, 'rb'))
  f:seek('set', offset)
  local s = f:read(n)
  f:close()
  return s
end

--- rft.data.cifar10c{dir=DIR, corruption=NAME, severity=S} --> {images=u8 [n,3,32,32], labels=i32
--- [n], classes=, n=, dir=, corruption=, severity=, split='test'}: severity S (1..5) of DIR/NAME.npy
--- with DIR/labels.npy. n = rows/5 (10,000 for the published files).
function M.cifar10c(o)
  o = o or {}
  local dir, name, sev = o.dir, o.corruption, o.severity or 1
  if type(dir) ~= 'string' then error('rft.data.cifar10c: dir= (the CIFAR-10-C folder) is required', 2) end
  if type(name) ~= 'string' then error('rft.data.cifar10c: corruption= (e.g. gaussian_noise) is required', 2) end
  if sev ~= 1 and sev ~= 2 and sev ~= 3 and sev ~= 4 and sev ~= 5 then
    error('rft.data.cifar10c: severity must be 1..5, got ' .. tostring(sev), 2)
  end
  local ipath, lpath = dir .. '/' .. name .. '.npy', dir .. '/labels.npy'
  local h = M.npy_header(ipath)
  check_file(ipath, h, '(N,32,32,3) with N a multiple of 5', function(s)
    return #s == 4 and s[1] % 5 == 0 and s[1] > 0 and s[2] == 32 and s[3] == 32 and s[4] == 3
  end, { ['|u1'] = true, ['<u1'] = true, ['u1'] = true, desc = "'|u1' (uint8)" })
  local rows = h.shape[1]
  local lh = M.npy_header(lpath)
  check_file(lpath, lh, '(' .. rows .. ',), one label per image of ' .. name .. '.npy', function(s)
    return #s == 1 and s[1] == rows
  end, { ['|u1'] = true, ['<u1'] = true, ['u1'] = true, ['<i4'] = true, ['<i8'] = true,
         desc = "'|u1', '<i4' or '<i8'" })
  local n = rows / 5
  local raw = read_bytes(ipath, h.offset + (sev - 1) * n * 3072, n * 3072)
  local images = T.new { shape = { n, 3, 32, 32 }, dtype = 'u8', device = 'cpu' }
  local src, dst = ffi.cast('const uint8_t *', raw), images:data()
  for i = 0, n - 1 do                      -- (h, w, c) -> (c, h, w)
    local s, d = src + i * 3072, dst + i * 3072
    for p = 0, 1023 do
      d[p], d[1024 + p], d[2048 + p] = s[3 * p], s[3 * p + 1], s[3 * p + 2]
    end
  end
  local lsize = DTYPES[lh.descr]
  local lraw = read_bytes(lpath, lh.offset + (sev - 1) * n * lsize, n * lsize)
  local labels = T.new { shape = { n }, dtype = 'i32', device = 'cpu' }
  local lp = labels:data()
  local ct = ({ [1] = 'const uint8_t *', [4] = 'const int32_t *', [8] = 'const int64_t *' })[lsize]
  local ls = ffi.cast(ct, lraw)
  for i = 0, n - 1 do
    local v = tonumber(ls[i])
    if v < 0 or v > 9 then
      error(string.format('cifar10c: %s: label %d of severity %d is %d, expected 0..9', lpath, i, sev, v), 2)
    end
    lp[i] = v
  end
  return { images = images, labels = labels, classes = CLASSES, n = n, dir = dir, corruption = name,
           severity = sev, split = 'test' }
end

local function npy_header_bytes(descr, shape)
  local dims = table.concat(shape, ', ') .. (#shape == 1 and ',' or '')
  local h = string.format("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims)
  local pad = 64 - (10 + #h + 1) % 64
  if pad == 64 then pad = 0 end
  h = h .. string.rep(' ', pad) .. '\n'
  return '\147NUMPY\1\0' .. string.char(#h % 256, math.floor(#h / 256)) .. h
end

--- A writer of a uint8 .npy file of `rows` images in the published (N,32,32,3) layout, written
--- batch by batch: w:write(x) takes f32 [B,3,32,32] on the 1/255 grid or u8 [B,3,32,32];
--- w:close() checks the count and renames the temporary file into place (atomic).
function M.npy_image_writer(path, rows)
  local tmp = path .. '.tmp'
  local f, err = io.open(tmp, 'wb')
  if not f then error('cannot write ' .. tostring(err), 2) end
  f:write(npy_header_bytes('|u1', { rows, 32, 32, 3 }))
  local w, done, buf = {}, 0, nil
  function w.write(_, x)
    local b = x:size(1)
    buf = buf or ffi.new('uint8_t[?]', 3072 * 512)
    if b > 512 then buf = ffi.new('uint8_t[?]', 3072 * b) end
    local xh = x:host()
    local p = xh:data()
    local is_f32 = xh:dtype() == 'f32'
    for i = 0, b - 1 do
      local s, d = p + i * 3072, buf + i * 3072
      for q = 0, 1023 do
        for c = 0, 2 do
          local v = s[c * 1024 + q]
          if is_f32 then v = math.floor(v * 255 + 0.5) end
          d[3 * q + c] = v
        end
      end
    end
    f:write(ffi.string(buf, 3072 * b))
    done = done + b
  end
  function w.close()
    f:close()
    if done ~= rows then
      os.remove(tmp)
      error(string.format('npy writer: %s got %d images, announced %d', path, done, rows), 2)
    end
    local ok, rerr = os.rename(tmp, path)
    if not ok then error('cannot rename ' .. tmp .. ': ' .. tostring(rerr), 2) end
  end
  return w
end

--- Writes labels (i32 [n]) `times` times over as DIR/labels.npy (uint8), atomically.
function M.write_npy_labels(path, labels, times)
  local n, p = #labels, labels:host():data()
  local parts = { npy_header_bytes('|u1', { n * times }) }
  local buf = ffi.new('uint8_t[?]', n)
  for i = 0, n - 1 do buf[i] = p[i] end
  local s = ffi.string(buf, n)
  for _ = 1, times do parts[#parts + 1] = s end
  util.write_atomic(path, table.concat(parts))
end

return M
