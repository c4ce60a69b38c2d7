-- rft.ffi: loads librft through the LuaJIT FFI, with the declarations read from engine/include/rft.h
-- (declared once, in C), and gives the helpers every other module uses to call it: `check` turns a
-- non-zero status into a Lua error carrying the engine's message, `new_tensor` wraps a fresh
-- reference so that the garbage collector releases it.
local ffi = require 'ffi'

local M = {}

local function dirname(p) return (p:gsub('/[^/]*$', '')) end
local function exists(p) local f = io.open(p, 'rb'); if f then f:close() end; return f ~= nil end

-- lua/rft/ffi.lua -> lua/
local here = debug.getinfo(1, 'S').source:sub(2)
if not here:find('/') then here = './' .. here end
M.lua_dir = dirname(dirname(here))
local root = M.lua_dir .. '/..'                -- the source tree, or <prefix>/share/rft in an install

local function first_existing(candidates)
  for i = 1, table.maxn(candidates) do       -- entries may be nil (an unset variable)
    local p = candidates[i]
    if p and exists(p) then return p end
  end
end

local header = first_existing {
  os.getenv('RFT_HEADER'),
  root .. '/engine/include/rft.h',
  root .. '/../../include/rft.h',
}
if not header then
  error('rft: cannot find rft.h (looked beside ' .. M.lua_dir .. '); set RFT_HEADER to its path', 0)
end
do
  local lines = {}
  for line in io.lines(header) do
    if not line:match('^%s*#') then lines[#lines + 1] = line end
  end
  ffi.cdef(table.concat(lines, '\n'))
end

-- rftlua links librft, so its symbols are already in the process; plain luajit loads the library.
local C
if pcall(function() return ffi.C.rft_abi_version end) then
  C = ffi.C
else
  local candidates = {
    os.getenv('RFT_LIB'),
    root .. '/build/librft.so',
    root .. '/../../lib/librft.so',
    root .. '/../../lib/x86_64-linux-gnu/librft.so',
  }
  local path = first_existing(candidates)
  local ok, lib = pcall(ffi.load, path or 'rft')
  if not ok then
    local looked = {}
    for i = 1, table.maxn(candidates) do looked[#looked + 1] = candidates[i] end
    error('rft: cannot load librft (' .. tostring(lib) .. '); looked at ' .. table.concat(looked, ', ')
      .. ' and the system paths: build it with cmake (see README) or set RFT_LIB', 0)
  end
  C = lib
end
M.C = C

local LUA_ABI = 1
local abi = C.rft_abi_version()
if abi ~= LUA_ABI or C.RFT_ABI_VERSION ~= LUA_ABI then
  error(string.format('rft: librft has ABI version %d, this Lua front end expects %d: rebuild librft or '
    .. 'update lua/', abi, LUA_ABI), 0)
end

-- One status checker; level 3 points at the caller of the function that called check.
function M.check(rc, level)
  if rc ~= 0 then error(ffi.string(C.rft_last_error()), level or 3) end
end

-- The few C library calls the front end makes (a monotonic clock, whether a stream is a terminal,
-- SIGKILL for the training loop's kill test), declared here so that no other module reaches ffi.C.
for _, decl in ipairs { 'int isatty(int fd);', 'int clock_gettime(int clk, void *ts);', 'int kill(int pid, int sig);',
                        'int getpid(void);' } do
  pcall(ffi.cdef, decl)
end
local timespec = ffi.new('struct { long s, ns; }')

--- Seconds on a monotonic clock.
function M.now()
  ffi.C.clock_gettime(1, timespec)     -- CLOCK_MONOTONIC
  return tonumber(timespec.s) + tonumber(timespec.ns) * 1e-9
end

--- Whether file descriptor fd (1: stdout) is a terminal.
function M.isatty(fd) return ffi.C.isatty(fd) == 1 end

--- Kill this process with SIGKILL: no handler runs, nothing is flushed (a crash, for tests).
function M.kill_self() ffi.C.kill(ffi.C.getpid(), 9) end

local box = ffi.new('rft_tensor*[1]')
local box2 = ffi.new('rft_tensor*[1]')

-- Lua's collector sees a tensor as a few bytes of cdata, never the memory it holds (torch7 had the
-- same problem). So every new tensor checks the engine's byte count, and a full collection runs
-- whenever it has doubled since the last one (and passed 256 MiB).
local collect_at = 256 * 2 ^ 20
local function pressure()
  local bytes = tonumber(C.rft_memory_in_use(C.RFT_CPU) + C.rft_memory_in_use(C.RFT_CUDA) + C.rft_memory_in_use(C.RFT_CPU2))
  if bytes > collect_at then
    collectgarbage()
    local left = tonumber(C.rft_memory_in_use(C.RFT_CPU) + C.rft_memory_in_use(C.RFT_CUDA) + C.rft_memory_in_use(C.RFT_CPU2))
    collect_at = math.max(256 * 2 ^ 20, 2 * left)
  end
end

-- Wraps the reference a C call left in the box. Out of memory: collect garbage and try once more.
local function owned(p) return ffi.gc(p, C.rft_tensor_release) end

function M.call_new(level, f, ...)
  pressure()
  local rc = f(box, ...)
  if rc == C.RFT_ENOMEM then collectgarbage(); collectgarbage(); rc = f(box, ...) end
  M.check(rc, (level or 3) + 1)
  return owned(box[0])
end

-- For C calls that return two new tensors (f(box, box2, ...)).
function M.call_new2(level, f, ...)
  pressure()
  M.check(f(box, box2, ...), (level or 3) + 1)
  return owned(box[0]), owned(box2[0])
end

--- v if it is a whole number in [lo, hi], else an error naming `what` and the range (level: as
--- error's, counted from the caller of whole). For values an FFI call would otherwise wrap around
--- (an int field given 2^31) or refuse with a raw conversion message (a seed given a string).
function M.whole(v, what, lo, hi, level)
  if type(v) ~= 'number' or v % 1 ~= 0 or v < lo or v > hi then
    error(string.format('%s = %s is not a whole number in %.0f..%.0f', what, type(v) == 'string' and
      string.format('%q', v) or tostring(v), lo, hi), (level or 2) + 1)
  end
  return v
end
M.INT_MAX = 2147483647
M.SEED_MAX = 2 ^ 53 - 1      -- seeds are uint64 in C; beyond 2^53 a Lua number is not whole-exact

M.dtypes = { f32 = C.RFT_F32, u8 = C.RFT_U8, i32 = C.RFT_I32 }
M.devices = { cpu = C.RFT_CPU, cuda = C.RFT_CUDA, cpu2 = C.RFT_CPU2 }

return M
