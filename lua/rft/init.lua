-- rft: the Lua front end of the rft engine. `require 'rft'` loads librft and returns this table;
-- submodules (rft.data, rft.image, rft.rand, ...) load on first use.
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local ffi = require 'ffi'
local C, check = F.C, F.check

local rft = {
  C = C,
  tensor = T.new,
  from_table = T.from_table,
  cat = T.cat,
  is_tensor = T.is_tensor,
  Tensor = T.Tensor,
}

function rft.version() return ffi.string(C.rft_version()) end

--- rft.device('cpu' | 'cuda') sets the default device for new tensors; rft.device() reads it.
function rft.device(name)
  if name ~= nil then T.set_default_device(name) end
  return T.default_device()
end

--- Threads for the CPU backend's bulk work (default: all cores).
--- Waits until the device (default: rft.device()) has finished the work queued on it; a CUDA
--- device runs asynchronously, so timings read the clock after this.
function rft.synchronize(device)
  F.check(C.rft_device_synchronize(F.devices[device or rft.device()]), 2)
end

function rft.threads(n)
  if n then C.rft_set_num_threads(n) end
  return C.rft_num_threads()
end

-- Seeded random fills: element i depends only on (seed, stream, offset + i).
rft.rand = {}
function rft.rand.uniform(t, o)
  o = o or {}
  check(C.rft_rand_uniform(t, o.seed or 0, o.stream or 0, o.offset or 0, o.lo or 0, o.hi or 1), 2)
  return t
end
function rft.rand.normal(t, o)
  o = o or {}
  check(C.rft_rand_normal(t, o.seed or 0, o.stream or 0, o.offset or 0, o.mean or 0, o.std or 1), 2)
  return t
end
function rft.rand.bernoulli(t, o)
  o = o or {}
  check(C.rft_rand_bernoulli(t, o.seed or 0, o.stream or 0, o.offset or 0, o.p or 0.5), 2)
  return t
end
--- A random permutation of 0..n-1 as an i32 tensor.
function rft.rand.permutation(n, o)
  o = o or {}
  local t = T.new { shape = { n }, dtype = 'i32', device = 'cpu' }
  check(C.rft_rand_permutation(t, o.seed or 0, o.stream or 0), 2)
  return t
end

local env_device = os.getenv('RFT_DEVICE')
if env_device and env_device ~= '' then
  local ok, err = pcall(T.set_default_device, env_device)
  if not ok then error('RFT_DEVICE=' .. env_device .. ': ' .. tostring(err):gsub('^[^:]*:%d+: ', ''), 0) end
end

-- Under an MPI launcher every rank joins at once (rank 0 alone prints from here on); a plain process
-- is rank 0 of 1 and loads nothing.
require('rft.dist').size()

-- the commit a run starts on, noted now for its results' provenance (rft.report.provenance)
require('rft.report')

return setmetatable(rft, {
  __index = function(t, k)
    local ok, mod = pcall(require, 'rft.' .. k)
    if not ok then
      if tostring(mod):find("module 'rft." .. k .. "' not found", 1, true) then return nil end
      error(mod, 2)
    end
    rawset(t, k, mod)
    return mod
  end,
})
