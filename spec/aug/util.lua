-- Helpers shared by the augmentation specs (spec/aug/*_spec.lua): small batches, element access,
-- bit-exact comparison, and an independent Philox reader for checking how draws are keyed.
local ffi = require 'ffi'
local rft = require 'rft'
local C = rft.C

local M = {}

function M.batch(shape, seed) return rft.rand.uniform(rft.tensor { shape = shape }, { seed = seed or 1 }) end
function M.val(v) return rft.from_table({ v }, { 1 }) end
function M.vals(t) return rft.from_table(t, { #t }) end

--- element (n, c, h, w), 0-based, of a flat table of an [N,C,H,W] tensor
function M.at(tab, shape, n, c, h, w) return tab[((n * shape[2] + c) * shape[3] + h) * shape[4] + w + 1] end

function M.bits_equal(a, b)
  return a:numel() == b:numel() and
    ffi.string(ffi.cast('const char *', a:data()), a:numel() * 4) ==
    ffi.string(ffi.cast('const char *', b:data()), b:numel() * 4)
end

--- asserts |got - want| <= tol element-wise (flat tables); names the first mismatches
function M.close(got, want, tol, what)
  if #want ~= #got then error(string.format('%s: %d values, expected %d', what or 'values', #got, #want), 2) end
  local bad = {}
  for i = 1, #want do
    if not (math.abs(got[i] - want[i]) <= tol) then
      bad[#bad + 1] = string.format('[%d] expected %.7g got %.7g', i - 1, want[i], got[i])
      if #bad >= 5 then break end
    end
  end
  if #bad > 0 then error((what or 'values') .. ' differ: ' .. table.concat(bad, '; '), 2) end
end

function M.in_unit(t)
  local lo, hi = t:stats()
  return lo >= 0 and hi <= 1
end

-- Philox words of (seed, stream = id << 32 | tag, block), read through the engine's raw generator.
local ctr, key, out = ffi.new('uint32_t[4]'), ffi.new('uint32_t[2]'), ffi.new('uint32_t[4]')
function M.philox(seed, id, tag, block)
  ctr[0], ctr[1], ctr[2], ctr[3] = block % 2 ^ 32, math.floor(block / 2 ^ 32), tag, id
  key[0], key[1] = seed % 2 ^ 32, math.floor(seed / 2 ^ 32)
  C.rft_philox4x32_10(ctr, key, out)
  return { tonumber(out[0]), tonumber(out[1]), tonumber(out[2]), tonumber(out[3]) }
end
function M.unit(w) return (math.floor(w / 256) + 1) / 2 ^ 24 end

function M.clip(v) return math.max(0, math.min(1, v)) end

return M
