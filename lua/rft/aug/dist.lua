-- rft.aug.dist: parameters drawn per image. A distribution stands where a number would, e.g.
-- aug.brightness{delta=aug.uniform(-0.25, 0.25)}; at apply time each image gets its own value from
-- Philox keyed by (seed, image id, the parameter's stream) (engine/aug/check.c, rft_aug_draw), so
-- the value depends on the image, never on the batch it came in.
local ffi = require 'ffi'
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local C = F.C

local M = {}
local Dist = {}
Dist.__index = Dist

local function num(v, what)
  if type(v) ~= 'number' or v ~= v then error(what .. ' must be a number, got ' .. tostring(v), 3) end
  return v
end

local function new(kind, name, values)
  return setmetatable({ kind = kind, name = name, values = values,
                        cvalues = ffi.new('float[?]', #values, values) }, Dist)
end

--- aug.uniform(a, b): each image draws a value in (a, b].
function M.uniform(a, b)
  num(a, 'aug.uniform: a'); num(b, 'aug.uniform: b')
  if a > b then error(string.format('aug.uniform: empty range [%g, %g] (expected a <= b)', a, b), 2) end
  return new(C.RFT_DRAW_UNIFORM, 'uniform', { a, b })
end

--- aug.truncnormal(a, b): a normal centred in [a, b] with sigma = (b - a)/4, redrawn until inside
--- (the heavier scheme of the second paper).
function M.truncnormal(a, b)
  num(a, 'aug.truncnormal: a'); num(b, 'aug.truncnormal: b')
  if a > b then error(string.format('aug.truncnormal: empty range [%g, %g] (expected a <= b)', a, b), 2) end
  return new(C.RFT_DRAW_TRUNCNORMAL, 'truncnormal', { a, b })
end

--- aug.choice{v1, v2, ...}: each image takes one of the values, all equally likely.
function M.choice(values)
  if type(values) ~= 'table' or #values < 1 then error('aug.choice: expected a list of numbers, e.g. {-1, 1}', 2) end
  for i, v in ipairs(values) do num(v, 'aug.choice: value ' .. i) end
  return new(C.RFT_DRAW_CHOICE, 'choice', values)
end

--- aug.randint(a, b): a whole number in a..b, all equally likely.
function M.randint(a, b)
  num(a, 'aug.randint: a'); num(b, 'aug.randint: b')
  if a > b or a % 1 ~= 0 or b % 1 ~= 0 then
    error(string.format('aug.randint: expected whole numbers a <= b, got %g, %g', a, b), 2)
  end
  return new(C.RFT_DRAW_INTEGER, 'randint', { a, b })
end

--- aug.bernoulli(p): 1 with probability p, else 0.
function M.bernoulli(p)
  num(p, 'aug.bernoulli: p')
  if p < 0 or p > 1 then error(string.format('aug.bernoulli: p = %g, expected 0 <= p <= 1', p), 2) end
  return new(C.RFT_DRAW_BERNOULLI, 'bernoulli', { p })
end

--- One value per image: f32 [n] drawn on `device` (default cpu; the same values on every device).
--- seed: uint64 (number or cdata); stream: 32-bit tag; ids: i32 [n] or nil (0..n-1). out: a tensor
--- to reuse (resized) when it is on `device`, else a new one is made.
function Dist:draw(seed, stream, ids, n, device, out)
  device = device or 'cpu'
  if not out or out:device() ~= device then out = T.new { shape = { n }, dtype = 'f32', device = device } end
  if ids and ids:device() ~= device then ids = ids:copy(device) end
  F.check(C.rft_aug_draw(self.kind, #self.values, self.cvalues, seed, stream, ids, n, out), 4)
  return out
end

local function fmt(v) return (string.format('%.6g', v)) end
M.fmt = fmt

function Dist:__tostring()
  local parts = {}
  for i, v in ipairs(self.values) do parts[i] = fmt(v) end
  if self.kind == C.RFT_DRAW_CHOICE then return 'choice{' .. table.concat(parts, ', ') .. '}' end
  return self.name .. '(' .. table.concat(parts, ', ') .. ')'
end

--- The ends of the values a distribution can take: lo, hi.
function Dist:range()
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs(self.values) do lo = math.min(lo, v); hi = math.max(hi, v) end
  if self.kind == C.RFT_DRAW_BERNOULLI then return 0, 1 end
  return lo, hi
end

function M.is_dist(v) return getmetatable(v) == Dist end

return M
