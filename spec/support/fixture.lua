-- Reads the reference fixtures written by tools/fixtures/*.py (layout in tools/fixtures/fixture_io.py)
-- and compares tensors the way STYLE.md asks: |a - b| <= atol + rtol * |ref|, printing the first
-- mismatches on failure.
local ffi = require 'ffi'
local rft = require 'rft'
local assert = require 'luassert'   -- busted's assert lives in the spec's environment, not in _G

local M = {}

local function u32(s, pos) local v = ffi.new('uint32_t[1]'); ffi.copy(v, s:sub(pos, pos + 3), 4); return tonumber(v[0]) end
local function i64(s, pos) local v = ffi.new('int64_t[1]'); ffi.copy(v, s:sub(pos, pos + 7), 8); return tonumber(v[0]) end

--- spec/fixtures/NAME.bin -> { name = tensor, ... }
function M.load(name)
  local path = 'spec/fixtures/' .. name .. '.bin'
  local f = assert(io.open(path, 'rb'), 'missing fixture ' .. path .. ' (run tools/fixtures/' .. name .. '.py)')
  local s = f:read('*a')
  f:close()
  assert(s:sub(1, 8) == 'RFTFIX1\0', path .. ': not an rft fixture')
  local n, pos, out = u32(s, 9), 13, {}
  for _ = 1, n do
    local len = u32(s, pos); pos = pos + 4
    local key = s:sub(pos, pos + len - 1); pos = pos + len
    local dtype, ndim = u32(s, pos), u32(s, pos + 4); pos = pos + 8
    local shape, numel = {}, 1
    for d = 1, ndim do shape[d] = i64(s, pos); pos = pos + 8; numel = numel * shape[d] end
    if ndim == 0 then shape = { 1 } end
    local size = dtype == 1 and 1 or 4                      -- u8 (1) or f32 / i32
    local t = rft.tensor { shape = shape, dtype = ({ [0] = 'f32', [1] = 'u8', [2] = 'i32' })[dtype] }
    rft.C.rft_tensor_copy_from_host(t, ffi.cast('const char *', s) + pos - 1, numel * size)
    pos = pos + numel * size
    out[key] = t
  end
  return out
end

--- Asserts |got - want| <= atol + rtol * |want| element-wise; names the first mismatches.
function M.assert_close(got, want, atol, rtol, what)
  atol, rtol = atol or 1e-5, rtol or 1e-4
  assert.same(want:shape(), got:shape(), (what or 'tensor') .. ': shape')
  local a, b = got:to_table(), want:to_table()
  local bad = {}
  for i = 1, #b do
    if not (math.abs(a[i] - b[i]) <= atol + rtol * math.abs(b[i])) then
      bad[#bad + 1] = string.format('  [%d] expected %.7g, got %.7g', i - 1, b[i], a[i])
      if #bad == 5 then break end
    end
  end
  assert(#bad == 0, string.format('%s: mismatches beyond atol=%g rtol=%g:\n%s', what or 'tensor', atol, rtol,
    table.concat(bad, '\n')))
end

return M
