-- rft.aug.pipeline: the pipeline protocol (one engine kernel a step: rft.aug.steps), chains of steps
-- and the K x M copies of the invariance loss. A pipeline is anything with p:apply(x, {seed=, ids=, epoch=, out=}) and
-- tostring(p); x is f32 [N,C,H,W] in [0,1], ids the images' dataset indices (i32 [N], default
-- 0..N-1). Every random draw is keyed by (seed, image id, the step's stream), so the same seed and
-- ids give bit-identical images whatever the batch split or thread count.
-- Not here: the step constructors (steps.lua), the formulas (engine/aug/*.c, DESIGN.md §4), presets.
local ffi = require 'ffi'
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local D = require 'rft.aug.dist'
local C, check = F.C, F.check

local M = {}

-- out:resize(shape) through the engine directly (works with any version of rft.tensor)
local function resize(t, shape)
  local a = ffi.new('int64_t[?]', #shape, shape)
  check(C.rft_tensor_resize(t, #shape, a), 4)
  return t
end

-- ---- the apply context -------------------------------------------------------------------------

-- ctx: seed (number), stream (32-bit), ids (i32 [N] or nil), n, device. Part k of a pipeline works
-- on stream substream(stream, k); parameter j of a step on substream(step stream, 1000 + j).
local function sub(ctx, k)
  return { seed = ctx.seed, stream = C.rft_aug_substream(ctx.stream, k), ids = ctx.ids, n = ctx.n,
           device = ctx.device }
end

local function make_ctx(x, o, what)
  if not T.is_tensor(x) then error(what .. ': x must be a tensor f32 [N,C,H,W], got ' .. type(x), 3) end
  if x:dtype() ~= 'f32' or x:dim() ~= 4 then
    error(string.format('%s: x must be f32 [N,C,H,W], got %s [%s]', what, x:dtype(), table.concat(x:shape(), ',')), 3)
  end
  o = o or {}
  local n = x:size(1)
  local ids = o.ids
  if ids ~= nil then
    if not T.is_tensor(ids) or ids:dtype() ~= 'i32' or ids:numel() ~= n then
      error(string.format('%s: ids must be i32 [%d] (one dataset index per image), got %s', what, n,
                          T.is_tensor(ids) and (ids:dtype() .. ' [' .. table.concat(ids:shape(), ',') .. ']') or type(ids)), 3)
    end
  end
  local seed = o.seed or 0
  if type(seed) ~= 'number' or seed < 0 or seed % 1 ~= 0 then
    error(what .. ': seed must be a whole number >= 0, got ' .. tostring(seed), 3)
  end
  local stream = o.stream or 0
  if o.epoch then stream = C.rft_aug_substream(stream, 0x45500000 + o.epoch) end
  return { seed = seed, stream = stream, ids = ids, n = n, device = x:device() }
end

-- ---- parameters -----------------------------------------------------------------------------------

function M.check_value(v, what)
  if type(v) == 'number' or D.is_dist(v) or T.is_tensor(v) then return v end
  error(what .. ' must be a number, a distribution (aug.uniform, ...) or a tensor of per-image values, got '
        .. tostring(v), 4)
end

local const_cache = setmetatable({}, { __mode = 'v' })
local function const(v, device)
  local key = device .. ':' .. string.format('%.17g', v)
  local t = const_cache[key]
  if not t then
    t = T.from_table({ v }, { 1 }, 'f32', device)
    const_cache[key] = t
  end
  return t
end

-- The tensor (1 or N values on the batch's device) for parameter j of step s; draws go to a buffer
-- the step keeps per parameter (valid until the step runs again).
local function resolve(v, ctx, s, j)
  if type(v) == 'number' then return const(v, ctx.device) end
  if D.is_dist(v) then
    s.bufs = s.bufs or {}
    s.bufs[j] = v:draw(ctx.seed, C.rft_aug_substream(ctx.stream, 1000 + j), ctx.ids, ctx.n, ctx.device, s.bufs[j])
    return s.bufs[j]
  end
  if v:device() ~= ctx.device then return v:copy(ctx.device) end
  return v
end

local function show(v)
  if type(v) == 'number' then return D.fmt(v) end
  if T.is_tensor(v) then return '<' .. v:numel() .. ' values>' end
  return tostring(v)
end

-- ---- pipelines ----------------------------------------------------------------------------------

local Pipeline = {}
Pipeline.__index = Pipeline
M.Pipeline = Pipeline

--- xt = p:apply(x, {seed=0, ids=nil, epoch=nil, out=nil}): a new tensor (or `out`, resized).
function Pipeline:apply(x, o)
  local ctx = make_ctx(x, o, 'aug ' .. (self.label or self.kind) .. ':apply')
  local out = o and o.out
  if out == nil or out == x then
    out = T.new { shape = x:shape(), dtype = 'f32', device = x:device() }
  else
    resize(out, x:shape())
  end
  self:run(x, out, ctx)
  return out
end

function Pipeline:__call(x, o) return self:apply(x, o) end
function Pipeline:__tostring() return self:describe() end

local function is_pipeline(p) return type(p) == 'table' and getmetatable(p) and getmetatable(p).__index == Pipeline end
M.is_pipeline = is_pipeline

-- A step: kind, the kernel call run(self, x, y, P, ctx) with P the resolved parameters, its
-- parameter names in display order, whether y may be x.
function M.step(kind, names, inplace, params, opts, run)
  return setmetatable({ kind = kind, names = names, params = params, opts = opts or {}, inplace = inplace,
                        kernel = run }, Pipeline)
end

--- The text of tostring(p): its steps in order with their parameters, e.g.
--- "Combined+ = chain{1 B+ brightness{delta=0.39} -> 2 S+ saturation{alpha=6} -> ...}".
function Pipeline:describe(inner)
  if self.steps then
    local parts = {}
    for k, s in ipairs(self.steps) do parts[k] = k .. ' ' .. s:describe(true) end
    local body = 'chain{' .. table.concat(parts, ' -> ') .. '}'
    if not self.label then return body end
    return inner and (self.label .. ' ' .. body) or (self.label .. ' = ' .. body)
  end
  local parts = {}
  for _, name in ipairs(self.names) do
    local v = self.params[name]
    if v ~= nil then parts[#parts + 1] = name .. '=' .. show(v) end
  end
  for _, name in ipairs(self.opt_names or {}) do
    if self.opts[name] ~= nil then parts[#parts + 1] = name .. '=' .. tostring(self.opts[name]) end
  end
  local body = self.kind .. '{' .. table.concat(parts, ', ') .. '}'
  if not self.label then return body end
  return inner and (self.label .. ' ' .. body) or (self.label .. ' = ' .. body)
end

--- A copy of the pipeline with a display name, e.g. p:named('B+').
function Pipeline:named(label)
  local c = setmetatable({}, Pipeline)
  for k, v in pairs(self) do c[k] = v end
  c.label = label
  return c
end

-- run(x, y, ctx): y ~= x unless self.inplace.
function Pipeline:run(x, y, ctx)
  if self.steps then return self:run_chain(x, y, ctx) end
  local P = {}
  for j, name in ipairs(self.names) do
    if self.params[name] ~= nil then P[name] = resolve(self.params[name], ctx, self, j) end
  end
  self.kernel(self, x, y, P, ctx)
end

function Pipeline:run_chain(x, y, ctx)
  local steps = self.steps
  if #steps == 0 then y:copy_from(x); return end
  steps[1]:run(x, y, sub(ctx, 1))
  local cur, other = y, nil
  for k = 2, #steps do
    local s = steps[k]
    if s.inplace then
      s:run(cur, cur, sub(ctx, k))
    else
      if other == nil then
        if not self.scratch or self.scratch:device() ~= y:device() then
          self.scratch = T.new { shape = { 0 }, dtype = 'f32', device = y:device() }
        end
        other = resize(self.scratch, y:shape())
      end
      s:run(cur, other, sub(ctx, k))
      cur, other = other, cur
    end
  end
  if cur ~= y then y:copy_from(cur) end
end

--- aug.chain{p1, p2, ...}: p1 first, clipping after each (every kernel clips). opts.name labels it.
function M.chain(steps, opts)
  if type(steps) ~= 'table' then error('aug.chain: expected a list of pipelines', 2) end
  for i, s in ipairs(steps) do
    if not is_pipeline(s) then error('aug.chain: step ' .. i .. ' is not a pipeline (got ' .. tostring(s) .. ')', 2) end
  end
  local c = setmetatable({ kind = 'chain', steps = { unpack(steps) }, inplace = false }, Pipeline)
  c.label = opts and opts.name
  return c
end

--- The identity (a copy), for "clean" rows and columns.
function M.identity()
  return setmetatable({ kind = 'identity', names = {}, params = {}, opts = {}, inplace = true,
                        kernel = function(_, x, y) if x ~= y then y:copy_from(x) end end }, Pipeline)
end

-- ---- copies for the invariance loss ---------------------------------------------------------------

local Copies = {}
Copies.__index = Copies

--- aug.copies(p, M): c:apply(x, {seed=, ids=}) turns K images into K·M distorted copies (copy j of
--- image i at row i·M + j, keyed by id·M + j so each copy draws its own distortion) and returns
--- them with groups, i32 [K·M], the seed image's row i of each copy, and the copies' ids.
function M.copies(p, m)
  if not is_pipeline(p) then error('aug.copies: expected a pipeline, got ' .. tostring(p), 2) end
  if type(m) ~= 'number' or m < 1 or m % 1 ~= 0 then error('aug.copies: M must be a whole number >= 1', 2) end
  return setmetatable({ pipeline = p, m = m }, Copies)
end

-- The gather index of K images x M copies: row r takes image floor(r / M); on `device`, made once
-- per (K, M, device). It is also the groups tensor (the seed image's row of each copy).
local function copies_index(self, k, m, device)
  local key = k .. 'x' .. m .. '@' .. device
  self.index = self.index or {}
  if not self.index[key] then
    local idx = T.new { shape = { k * m }, dtype = 'i32', device = 'cpu' }
    local p = idx:data()
    for r = 0, k * m - 1 do p[r] = math.floor(r / m) end
    self.index[key] = device == 'cpu' and idx or idx:copy(device)
  end
  return self.index[key]
end

function Copies:apply(x, o)
  o = o or {}
  local ctx = make_ctx(x, o, 'aug.copies:apply')
  local k, m, dev = ctx.n, self.m, x:device()
  local groups = copies_index(self, k, m, dev)
  if not self.rep or self.rep:device() ~= dev then self.rep = T.new { shape = { 0 }, dtype = 'f32', device = dev } end
  check(C.rft_tensor_gather(x, groups, self.rep), 2)           -- the K*M rows, in one gather
  local ids = T.new { shape = { k * m }, dtype = 'i32', device = 'cpu' }
  local ip = ids:data()
  local src_ids = o.ids and (o.ids:device() == 'cpu' and o.ids or o.ids:copy('cpu'))
  local sp = src_ids and src_ids:data()
  for r = 0, k * m - 1 do
    local i = math.floor(r / m)
    ip[r] = (sp and sp[i] or i) * m + r - i * m
  end
  if dev ~= 'cpu' then ids = ids:copy(dev) end
  local out = self.pipeline:apply(self.rep, { seed = o.seed, ids = ids, epoch = o.epoch, stream = o.stream,
                                              out = o.out })
  return out, groups, ids
end

function Copies:__tostring() return 'copies(' .. tostring(self.pipeline) .. ', M=' .. self.m .. ')' end

return M
