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

local request = ffi.new('int64_t[1]')
local done = ffi.new('int[1]')

--- Starts an all-reduce of t in place ('sum' or 'mean', as allreduce) and returns at once with a
--- request number for test and wait (0 in a plain process: nothing to wait for). t must stay
--- untouched until wait(request) returns. CPU tensors advance only inside MPI calls: test drives them.
function M.iallreduce(t, op)
  local code = ops[op or 'sum']
  if not code then error("rft.dist.iallreduce: op must be 'sum' or 'mean', got " .. tostring(op), 2) end
  check(C.rft_dist_iallreduce(t, code, request), 2)
  return tonumber(request[0])
end

--- Whether the all-reduce `req` has completed (also drives MPI's progress on every one in flight).
function M.test(req)
  check(C.rft_dist_test(req, done), 2)
  return done[0] ~= 0
end

--- Waits for the all-reduce `req` and finishes it (the mean's scaling); the request is then spent.
function M.wait(req) check(C.rft_dist_wait(req), 2) end

-- ---- the gradient all-reduce of a training step, in buckets overlapping the backward pass -----------

local function env_number(name)
  local v = os.getenv(name)
  if v == nil or v == '' then return nil end
  local n = tonumber(v)
  if not n or n <= 0 then error(string.format('rft.dist: $%s must be a number > 0, got %q', name, v), 0) end
  return n
end

--- Gradient bytes per bucket of the overlapped all-reduce: 2 MiB, or $RFT_DIST_BUCKET_MB MiB. A
--- bucket closes at the first layer boundary past this size, so a layer larger than it is a bucket
--- alone (VGG-16: 10 buckets, VGG-16/4: 2, the fast model: 3). Smaller buckets start sooner and
--- overlap more of the backward pass; each costs one all-reduce's latency (tens of microseconds
--- between processes of one host, more between hosts).
M.bucket_bytes = math.floor((env_number('RFT_DIST_BUCKET_MB') or 2) * 2 ^ 20)

--- Whether gradient_sync overlaps the all-reduce with the backward pass by default (true);
--- $RFT_DIST_OVERLAP=0 turns it off: one blocking all-reduce of the whole buffer after backward.
M.overlap = os.getenv('RFT_DIST_OVERLAP') ~= '0'

--- The buckets of net's flat gradient buffer (net:flatten()) for bucket_bytes, in the order the
--- backward pass completes them (the last layers' first): a list of {lo=, hi=, first=, last=}, each
--- the elements [lo, hi) of the buffer holding the parameters of modules first..last. Together they
--- tile the buffer, each element in one bucket.
function M.buckets(net, bucket_bytes)
  local _, grads = net:flatten()
  local ranges = net.flat_ranges
  if not ranges then error('rft.dist.buckets: the network keeps no per-module ranges (nn.Sequential:flatten)', 2) end
  if type(bucket_bytes) ~= 'number' or bucket_bytes <= 0 then
    error('rft.dist.buckets: bucket_bytes must be a number > 0, got ' .. tostring(bucket_bytes), 2)
  end
  local list, cur = {}, nil
  for i = #net.modules, 1, -1 do
    local r = ranges[i]
    if r then
      if not cur then cur = { hi = r[2], last = i } end
      cur.lo, cur.first = r[1], i
      if (cur.hi - cur.lo) * 4 >= bucket_bytes then list[#list + 1] = cur; cur = nil end
    end
  end
  if cur then list[#list + 1] = cur end
  local at = grads:numel()                -- they must tile [0, numel) from the top down
  for k, b in ipairs(list) do
    assert(b.hi == at and b.lo < b.hi, 'rft.dist.buckets: bucket ' .. k .. ' does not continue the one before')
    at = b.lo
  end
  assert(at == 0, 'rft.dist.buckets: the buckets do not reach the buffer\'s start')
  return list
end

local Sync = {}
Sync.__index = Sync

local now = F.now
local mpi_transport = { start = function(view) return M.iallreduce(view, 'mean') end, test = M.test, wait = M.wait }

--- The mean of net's flat gradients over the ranks, weighted, as one training step needs it:
---   local sync = rft.dist.gradient_sync(net, {overlap=, bucket_bytes=})
---   sync:begin(w); <forward, backward>; sync:finish(); opt:step()
--- Each rank's gradients are multiplied by w (its share of the global batch times the number of
--- ranks, 1 when the batch splits evenly), then averaged. With overlap (rft.dist.overlap, on by
--- default) the buffer is cut into buckets (rft.dist.buckets, bucket_bytes = rft.dist.bucket_bytes),
--- and a bucket's non-blocking all-reduce starts as soon as the backward pass has run the first
--- (lowest) module in it; between layers the buckets in flight are tested, which is what moves them
--- on (MPI has no progress thread of its own by default); finish starts any left and waits for all.
--- A backward pass that runs twice within one begin/finish (a module's gradients changing after its
--- bucket started) is an error, never a silently wrong sum. Without overlap, finish does one blocking
--- all-reduce of the whole buffer. sync.seconds adds up the time spent in the collective calls (the
--- all-reduce's exposed part, on the CPU), sync.steps the finished steps. o.transport {start(view,
--- k) -> req, test(req) -> done, wait(req)} replaces the collectives (specs watch the buckets with it).
function M.gradient_sync(net, o)
  o = o or {}
  local _, grads = net:flatten()
  local overlap = o.overlap
  if overlap == nil then overlap = M.overlap end
  local self = setmetatable({ net = net, grads = grads, overlap = overlap and true or false, seconds = 0, steps = 0,
                              transport = o.transport or mpi_transport, armed = false }, Sync)
  if self.overlap then
    self.buckets = M.buckets(net, o.bucket_bytes or M.bucket_bytes)
    self.of_module, self.requests = {}, {}
    for k, b in ipairs(self.buckets) do
      b.view = grads:view(b.lo, b.hi)
      for i = b.first, b.last do self.of_module[i] = k end
    end
    self.hook = function(i) self:layer_done(i) end
  end
  return self
end

--- Arms the sync for one step: w as in gradient_sync.
function Sync:begin(w)
  if self.armed then error('rft.dist.gradient_sync: begin called twice without finish', 2) end
  self.scale, self.armed = w or 1, true
  if self.overlap then
    self.next, self.oldest = 1, 1
    for k in ipairs(self.buckets) do self.requests[k] = nil end
    self.net.backward_hook = self.hook
  end
end

function Sync:start(k)
  local b = self.buckets[k]
  if self.scale ~= 1 then b.view:scale(self.scale) end
  self.requests[k] = self.transport.start(b.view, k)
  self.next = k + 1
end

-- Tests the buckets in flight, oldest first (each test also moves the others on).
function Sync:progress()
  local reqs, t = self.requests, self.transport
  for k = self.oldest, self.next - 1 do
    if reqs[k] ~= false then
      if t.test(reqs[k]) then
        t.wait(reqs[k]); reqs[k] = false
      end
    end
  end
  while self.oldest < self.next and reqs[self.oldest] == false do self.oldest = self.oldest + 1 end
end

--- Called by the network (net.backward_hook) once module i's backward has run.
function Sync:layer_done(i)
  local t0 = now()
  local k = self.of_module[i]
  if k and k < self.next then
    self.net.backward_hook, self.armed = nil, false
    error(string.format('rft.dist.gradient_sync: module %d\'s gradients changed after the all-reduce of their bucket '
      .. 'had started (a second backward pass in one step?); turn overlap off for such a step (RFT_DIST_OVERLAP=0, '
      .. 'or rft.train.fit{overlap = false})', i - 1), 0)
  end
  local buckets = self.buckets
  while self.next <= #buckets and buckets[self.next].first >= i do self:start(self.next) end
  if self.next > self.oldest then self:progress() end
  self.seconds = self.seconds + (now() - t0)
end

--- Completes the step's all-reduce: afterwards every rank holds the weighted mean.
function Sync:finish()
  if not self.armed then error('rft.dist.gradient_sync: finish without begin', 2) end
  local t0 = now()
  self.armed = false
  if self.overlap then
    self.net.backward_hook = nil
    for k = self.next, #self.buckets do self:start(k) end
    local reqs, t = self.requests, self.transport
    for k = self.oldest, #self.buckets do
      if reqs[k] ~= false then t.wait(reqs[k]); reqs[k] = false end
    end
  else
    if self.scale ~= 1 then self.grads:scale(self.scale) end
    M.allreduce(self.grads, 'mean')
  end
  self.seconds, self.steps = self.seconds + (now() - t0), self.steps + 1
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
