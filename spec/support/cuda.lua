-- Helpers for the CUDA parity specs (spec/cuda/): whether a device is usable, the parity case that is
-- pending with the reason where none is, and comparisons with the CPU result as the ground truth.
local ffi = require 'ffi'
local rft = require 'rft'
local C = rft.C
local assert = require 'luassert'

local M = {}

M.real = C.rft_device_check(C.RFT_CUDA) == 0
M.why = M.real and '' or ffi.string(C.rft_last_error())
M.usable = M.real
--- The device the parity cases put their operands on. RFT_CUDA_SPECS_ON_CPU=1 runs every case with
--- the CPU standing in for the GPU: it checks the specs' own code where no GPU is (CPU against CPU
--- proves nothing about the kernels, and these runs are never counted as CUDA results). The stand-in
--- is the device 'cpu2', the CPU's kernels under a second tag, so that a buffer made on the default
--- device, or kept from a step on another device, fails there as it would on a GPU.
M.device = 'cuda'
if not M.usable and os.getenv('RFT_CUDA_SPECS_ON_CPU') == '1' then M.usable, M.device = true, 'cpu2' end
local short_why = M.why:gsub(' %(.*', '')       -- "cuda: no CUDA device found: no NVIDIA driver is installed"

--- A parity case: runs where CUDA is usable, else is reported pending with the reason (never passed).
-- (it and pending live in the calling spec's environment, which busted sets.)
function M.gpu(name, f)
  local env = getfenv(2)
  if M.usable then env.it(name, f) else env.pending('no CUDA device: ' .. name .. ' [' .. short_why .. ']') end
end

--- A case that needs the GPU itself (device memory, the device's name): pending with the CPU standing in.
function M.gpu_only(name, f)
  local env = getfenv(2)
  if M.real then env.it(name, f) else env.pending('no CUDA device: ' .. name .. ' [' .. short_why .. ']') end
end

local sizes = { f32 = 4, i32 = 4, u8 = 1 }

--- t itself if on the CPU, else a CPU copy.
function M.host(t) return t:device() == 'cpu' and t or t:copy('cpu') end

--- A copy of a CPU tensor on M.device (nil stays nil).
function M.dev(t) return t and t:copy(M.device) end

local function bytes(t)
  local h = M.host(t)
  return ffi.string(ffi.cast('const char *', h:data()), h:numel() * sizes[h:dtype()])
end

-- The first few elements where ok(expected, got) fails, as "[i] expected e, got g".
local function mismatches(cpu, got, ok)
  local a, b, out = cpu:data(), got:data(), {}
  for i = 0, cpu:numel() - 1 do
    if not ok(tonumber(a[i]), tonumber(b[i])) then
      out[#out + 1] = string.format('[%d] expected %.9g, got %.9g', i, tonumber(a[i]), tonumber(b[i]))
      if #out == 5 then break end
    end
  end
  return table.concat(out, '; ')
end

--- g (on any device) has exactly the bits of cpu, same shape and dtype.
function M.same_bits(cpu, g, what)
  local got = M.host(g)
  assert.same(cpu:shape(), got:shape())
  assert.equal(cpu:dtype(), got:dtype())
  if bytes(cpu) ~= bytes(got) then
    error(string.format('%s: not bit-identical to the CPU; first mismatches: %s', what,
      mismatches(cpu, got, function(x, y) return x == y or (x ~= x and y ~= y) end)), 2)
  end
end

--- |g - cpu| <= atol + rtol * |cpu| everywhere, same shape.
function M.close(cpu, g, atol, rtol, what)
  local got = M.host(g)
  assert.same(cpu:shape(), got:shape())
  local ok = function(x, y) return math.abs(x - y) <= atol + rtol * math.abs(x) end
  local m = mismatches(cpu, got, ok)
  if m ~= '' then error(string.format('%s: beyond atol %g + rtol %g of the CPU: %s', what, atol, rtol, m), 2) end
end

--- |a - b| <= atol + rtol * |a| for two numbers (losses, counts).
function M.close_number(a, b, atol, rtol, what)
  if math.abs(a - b) > atol + rtol * math.abs(a) then
    error(string.format('%s: expected %.9g (CPU), got %.9g (CUDA), beyond atol %g + rtol %g', what, a, b, atol, rtol), 2)
  end
end

return M
