-- CUDA tensors against the CPU (kernels/tensor.cu, copy.cu, memory.cu, rand.cu): creation, copies
-- both ways with views and sizes past the staging chunk, fill, u8 -> f32, statistics and the random
-- fills, with the CPU result as the ground truth on the same inputs. Without a usable device every
-- parity case is pending, with the reason, visibly: none of them passes there. What runs everywhere:
-- the one-line refusal when there is no device.
local rft = require 'rft'
local ffi = require 'ffi'
local C = rft.C

local cuda = require 'support.cuda'
local gpu, host, same_bits, close = cuda.gpu_only, cuda.host, cuda.same_bits, cuda.close
local usable, why = cuda.real, cuda.why

local function uniform(shape, seed)
  return rft.rand.uniform(rft.tensor { shape = shape }, { seed = seed or 1, lo = -3, hi = 5 })
end

-- A u8 tensor holding 0..255 cyclically, n elements.
local function ramp_u8(n)
  local t = rft.tensor { shape = { n }, dtype = 'u8' }
  local p = t:data()
  for i = 0, n - 1 do p[i] = (i * 7) % 256 end
  return t
end

describe('a CUDA tensor', function()
  gpu('is zero-filled at creation and summarises itself as on cuda', function()
    for _, dt in ipairs { 'f32', 'i32', 'u8' } do
      local t = rft.tensor { shape = { 3, 5, 7 }, dtype = dt, device = 'cuda' }
      assert.equal('cuda', t:device())
      assert.equal(dt, t:dtype())
      assert.same({ 3, 5, 7 }, t:shape())
      same_bits(rft.tensor { shape = { 3, 5, 7 }, dtype = dt }, t, dt .. ' zeros')
      assert.equal('rft.Tensor ' .. dt .. ' cuda [3,5,7] min=0 max=0 mean=0', tostring(t))
    end
  end)

  gpu('round-trips values through from_table and to_table for every dtype', function()
    assert.same({ 1, -2.5, 3, 4e6 }, rft.from_table({ 1, -2.5, 3, 4e6 }, { 2, 2 }, 'f32', 'cuda'):to_table())
    assert.same({ 0, 7, 255 }, rft.from_table({ 0, 7, 255 }, { 3 }, 'u8', 'cuda'):to_table())
    assert.same({ -2147483648, 0, 2147483647 }, rft.from_table({ -2147483648, 0, 2147483647 }, { 3 }, 'i32', 'cuda'):to_table())
  end)

  gpu('copies to, on and from the device bit for bit, at odd sizes and past the staging chunk', function()
    -- 4 MiB halves: 3 * 2^20 + 5 floats take four chunks, the last a short one
    for _, n in ipairs { 1, 3, 1000003, 3 * 2 ^ 20 + 5 } do
      local cpu = uniform({ n }, n)
      local g = cpu:copy('cuda')
      same_bits(cpu, g, 'host -> device -> host, n = ' .. n)
      same_bits(cpu, g:copy(), 'device -> device, n = ' .. n)
      local into = rft.tensor { shape = { n } }
      into:copy_from(g)
      same_bits(cpu, into, 'copy_from a device tensor, n = ' .. n)
    end
  end)

  gpu('reads and writes views of rows as the CPU does, overlapping ones included', function()
    local vals = {}
    for i = 1, 24 do vals[i] = i end
    local cpu = rft.from_table(vals, { 6, 4 })
    local g = cpu:copy('cuda')
    for _, t in ipairs { cpu, g } do
      t:view(2, 4):fill(-1)
      t:view(0, 1):copy_from(rft.from_table({ 9, 8, 7, 6 }, { 1, 4 }))   -- host -> a view
      t:view(1, 5):copy_from(t:view(0, 4))                               -- overlapping, same storage
    end
    same_bits(cpu, g, 'views')
    same_bits(cpu:view(3, 6), g:view(3, 6), 'a view copied to the host')
    assert.is_true(g:view(3, 6):is_view())
  end)

  gpu('fills every dtype as the CPU does', function()
    for _, c in ipairs { { 'f32', 3.25 }, { 'f32', -0.1 }, { 'i32', -7 }, { 'u8', 200 } } do
      local dt, v = c[1], c[2]
      local cpu = rft.tensor { shape = { 1000003 }, dtype = dt }:fill(v)
      same_bits(cpu, rft.tensor { shape = { 1000003 }, dtype = dt, device = 'cuda' }:fill(v), dt .. ' fill ' .. v)
    end
  end)

  gpu('converts u8 to f32 bit for bit', function()
    local u = ramp_u8(70001)
    for _, scale in ipairs { 1 / 255, 0.5, 3 } do
      same_bits(u:float(scale), u:copy('cuda'):float(scale), 'u8_to_f32 scale ' .. scale)
    end
  end)

  gpu('summarises like the CPU: min, max and mean in double, NaN shown', function()
    local cases = {
      rft.rand.normal(rft.tensor { shape = { 1000003 } }, { seed = 3, mean = 0.5, std = 2 }),
      ramp_u8(99999),
      rft.from_table({ -2147483648, 5, 2147483647, 0, -3 }, { 5 }, 'i32'),
      rft.from_table({ 7 }, { 1 }),
    }
    for _, cpu in ipairs(cases) do
      local lo, hi, mean = cpu:stats()
      local glo, ghi, gmean = cpu:copy('cuda'):stats()
      assert.equal(lo, glo); assert.equal(hi, ghi)
      assert.is_true(math.abs(mean - gmean) <= 1e-12 * math.max(1, math.abs(mean)), mean .. ' vs ' .. gmean)
    end
    local glo, ghi, gmean = rft.from_table({ 1, 0 / 0, 2 }, { 3 }, 'f32', 'cuda'):stats()
    assert.is_true(glo ~= glo and ghi ~= ghi and gmean ~= gmean)
    assert.error_matches(function() rft.tensor { shape = { 0 }, device = 'cuda' }:mean() end, 'stats: tensor %[0%] is empty')
  end)

  gpu('draws uniform and Bernoulli values bit-identical to the CPU, whole or in pieces', function()
    local n, o = 100003, { seed = 42, stream = 3, offset = 5, lo = -2, hi = 3, p = 0.3 }
    same_bits(rft.rand.uniform(rft.tensor { shape = { n } }, o),
              rft.rand.uniform(rft.tensor { shape = { n }, device = 'cuda' }, o), 'uniform')
    for _, dt in ipairs { 'f32', 'u8', 'i32' } do
      same_bits(rft.rand.bernoulli(rft.tensor { shape = { n }, dtype = dt }, o),
                rft.rand.bernoulli(rft.tensor { shape = { n }, dtype = dt, device = 'cuda' }, o), 'bernoulli ' .. dt)
    end
    -- the device fills three pieces, each at its own offset; the CPU fills the whole
    local whole = rft.rand.uniform(rft.tensor { shape = { n } }, { seed = 42, stream = 3 })
    local parts = rft.tensor { shape = { n }, device = 'cuda' }
    for _, r in ipairs { { 0, 7 }, { 7, 60001 }, { 60001, n } } do
      rft.rand.uniform(parts:view(r[1], r[2]), { seed = 42, stream = 3, offset = r[1] })
    end
    same_bits(whole, parts, 'uniform in pieces')
  end)

  gpu('draws normal values within a few ulp of the CPU (logf and cosf differ by an ulp or two)', function()
    local o = { seed = 7, stream = 1, offset = 3, mean = 0.5, std = 2 }
    close(rft.rand.normal(rft.tensor { shape = { 100003 } }, o),
          rft.rand.normal(rft.tensor { shape = { 100003 }, device = 'cuda' }, o), 1e-6, 1e-6, 'normal')
  end)

  gpu('hands out reused device memory zeroed, and counts what tensors hold', function()
    collectgarbage(); collectgarbage()
    local before = tonumber(C.rft_memory_in_use(C.RFT_CUDA))
    for _ = 1, 3 do
      local t = rft.tensor { shape = { 1024, 1025 }, device = 'cuda' }:fill(7)
      assert.equal(before + 1024 * 1025 * 4, tonumber(C.rft_memory_in_use(C.RFT_CUDA)))
      C.rft_tensor_release(ffi.gc(t, nil))
      local u = rft.tensor { shape = { 1024, 1025 }, device = 'cuda' }   -- the same bucket, reused
      local lo, hi = u:stats()
      assert.equal(0, lo); assert.equal(0, hi)
      C.rft_tensor_release(ffi.gc(u, nil))
      assert.equal(before, tonumber(C.rft_memory_in_use(C.RFT_CUDA)))
    end
  end)

  gpu('concatenates on the device as the CPU does', function()
    local a, b = uniform({ 3, 5 }, 1), uniform({ 2, 5 }, 2)
    local ga, gb = a:copy('cuda'), b:copy('cuda')
    same_bits(rft.cat { a, b, a:view(1, 2) }, rft.cat { ga, gb, ga:view(1, 2) }, 'cat')
  end)

  gpu('refuses operands on two devices, naming both', function()
    local x = rft.tensor { shape = { 4 }, dtype = 'u8', device = 'cuda' }
    local y = rft.tensor { shape = { 4 } }
    assert.equal(C.RFT_EDEVICE, C.rft_tensor_u8_to_f32(x, 1, y))
    assert.truthy(ffi.string(C.rft_last_error()):find('u8_to_f32: output is on cpu, expected cuda', 1, true))
  end)
end)

describe('asking for CUDA', function()
  local BIN = 'build/rftlua'
  local function built() local f = io.open(BIN, 'rb'); if f then f:close() end; return f ~= nil end
  local function run_rftlua(code, env)
    local quoted = "'" .. code:gsub("'", "'\\''") .. "'"
    local p = assert(io.popen((env or 'RFT_DEVICE=cuda ') .. BIN .. ' -e ' .. quoted .. ' 2>&1; echo rc=$?'))
    local out = p:read('*a')
    p:close()
    return out:match('^(.-)rc=(%d+)\n$')
  end

  if usable then
    it('makes cuda the default device with RFT_DEVICE=cuda', function()
      if not built() then return pending(BIN .. ' not built') end
      local out, rc = run_rftlua("io.write(require'rft'.device())")
      assert.equal('0', rc, out)
      assert.equal('cuda', out)
    end)
  else
    it('fails in one line saying what is missing, from rft.device and from RFT_DEVICE=cuda', function()
      assert.truthy(why:find('^cuda: '), why)
      assert.is_nil(why:find('\n'), why)
      local ok, err = pcall(rft.device, 'cuda')
      assert.is_false(ok)
      assert.equal(why, tostring(err))
      assert.equal('cpu', rft.device())
      if not built() then return pending(BIN .. ' not built') end
      local out, rc = run_rftlua("require'rft'")
      assert.not_equal('0', rc, out)
      assert.truthy(out:find('^rftlua: RFT_DEVICE=cuda: ' .. why:gsub('%p', '%%%0') .. '\n$'), out)
      out, rc = run_rftlua("require'rft'.device'cuda'", '')
      assert.not_equal('0', rc, out)
      assert.equal('rftlua: ' .. why .. '\n', out)
    end)
  end
end)
