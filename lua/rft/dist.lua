-- rft.dist: data-parallel training over MPI (DESIGN.md §6, §7). In a plain process this is rank 0 of 1
-- and every collective leaves its tensor as it is; under `mpirun -np N rftlua recipe.lua` every rank
-- runs the same recipe, and the training loop (rft.train.fit) splits each global batch, all-reduces
-- the gradients and lets rank 0 alone print and write.
local ffi = require 'ffi'
local F = require 'rft.ffi'
local C, check = F.C, F.check

local M = {}
local ops = { sum = C.RFT_REDUCE_SUM, mean = C.RFT_REDUCE_MEAN }

-- MPI is initialised on first use; a launched process that cannot have it fails in one line (no
-- traceback: the reason is the machine's, not the script's).
local started = false
local function init()
  if not started then check(C.rft_dist_init(), 0); started = true end
end

function M.rank() init(); return C.rft_dist_rank() end
function M.size() init(); return C.rft_dist_size() end
function M.local_rank() init(); return C.rft_dist_local_rank() end
--- True on the rank that prints and writes (rank 0).
function M.is_root() return M.rank() == 0 end
--- The MPI library in use, or '' in a plain process.
function M.library() init(); return ffi.string(C.rft_dist_library()) end

--- In place over all ranks: op 'sum' (f32, i32) or 'mean' (f32). Returns t.
function M.allreduce(t, op)
  local code = ops[op or 'sum']
  if not code then error("rft.dist.allreduce: op must be 'sum' or 'mean', got " .. tostring(op), 2) end
  check(C.rft_dist_allreduce(t, code), 2)
  return t
end

--- Rank root's values of t to every rank (in place). Returns t.
function M.broadcast(t, root)
  root = root or 0
  if type(root) ~= 'number' or root % 1 ~= 0 then
    error('rft.dist.broadcast: root must be a whole rank number, got ' .. tostring(root), 2)
  end
  check(C.rft_dist_broadcast(t, root), 2)
  return t
end

function M.barrier() check(C.rft_dist_barrier(), 2) end

--- Runs fn(...) on rank 0 alone and then waits for it on every rank, so that a file rank 0 writes is
--- there for any rank that reads it next; in a plain process it just runs fn. Returns fn's results
--- on rank 0 (nil elsewhere).
local inside = false                -- on_root within on_root: the outer call's barrier serves both
function M.on_root(fn, ...)
  if inside or M.size() == 1 then return fn(...) end
  local ok, a, b = true, nil, nil
  if M.rank() == 0 then
    inside = true
    ok, a, b = pcall(fn, ...)
    inside = false
    if not ok then error(a, 0) end   -- the launcher ends the ranks waiting below
  end
  M.barrier()
  return a, b
end

--- Lua numbers (metrics, counts) reduced over all ranks in double precision: a new array.
function M.allreduce_numbers(values, op)
  local code = ops[op or 'sum']
  if not code then error("rft.dist.allreduce_numbers: op must be 'sum' or 'mean', got " .. tostring(op), 2) end
  local n = #values
  local buf = ffi.new('double[?]', math.max(n, 1))
  for i = 1, n do buf[i - 1] = values[i] end
  check(C.rft_dist_allreduce_f64(buf, n, code), 2)
  local out = {}
  for i = 1, n do out[i] = tonumber(buf[i - 1]) end
  return out
end

return M
