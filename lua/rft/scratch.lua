-- rft.scratch: the buffers kept between calls (layer outputs and gradients, tap-gradient sums, the
-- two-view batch, loss gradients), one per (owner, name, device, dtype). Keyed by device, so one
-- owner used on two devices in a process (a CPU step then a CUDA step; a network built on the GPU
-- while the default device is the CPU) gets a buffer on each, never one from another device. A
-- buffer starts empty (shape {0}) and the engine's ops resize it; it is reused by the next call
-- with the same key, so read it before that. Owners are weak keys: a buffer lives as long as its
-- owner (a module, a loss function, a table).
local T = require 'rft.tensor'

local M = {}

local store = setmetatable({}, { __mode = 'k' })   -- owner -> name -> device -> dtype -> tensor

--- scratch.get(owner, name, device, dtype) -> the buffer for that key, made empty on first use.
--- device: a device name ('cpu', 'cuda', ...) or a tensor whose device is meant; dtype: 'f32' (default),
--- 'i32' or 'u8'.
function M.get(owner, name, device, dtype)
  if owner == nil then error('rft.scratch.get: owner is required', 2) end
  if type(device) ~= 'string' then
    if device == nil then error('rft.scratch.get: device (a name or a tensor) is required', 2) end
    device = device:device()
  end
  dtype = dtype or 'f32'
  local by_name = store[owner]
  if not by_name then by_name = {}; store[owner] = by_name end
  local by_device = by_name[name]
  if not by_device then by_device = {}; by_name[name] = by_device end
  local by_dtype = by_device[device]
  if not by_dtype then by_dtype = {}; by_device[device] = by_dtype end
  local t = by_dtype[dtype]
  if not t then
    t = T.new { shape = { 0 }, dtype = dtype, device = device }
    by_dtype[dtype] = t
  end
  return t
end

--- Drops every buffer of owner (they are freed once nothing else holds them).
function M.release(owner) store[owner] = nil end

--- The number of buffers owner holds (all names, devices and dtypes).
function M.count(owner)
  local n = 0
  for _, by_device in pairs(store[owner] or {}) do
    for _, by_dtype in pairs(by_device) do
      for _ in pairs(by_dtype) do n = n + 1 end
    end
  end
  return n
end

return M
