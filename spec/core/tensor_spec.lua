-- Tensors: creation, views that share memory, reshape, copies, concatenation, conversion,
-- summaries, and the errors bad arguments get.
local rft = require 'rft'

describe('a tensor', function()
  it('is zero-filled at creation and reports its shape, dtype, device and size', function()
    local t = rft.tensor { shape = { 2, 3, 4 }, dtype = 'i32' }
    assert.same({ 2, 3, 4 }, t:shape())
    assert.equal('i32', t:dtype())
    assert.equal('cpu', t:device())
    assert.equal(24, t:numel())
    assert.equal(2, #t)
    for _, v in ipairs(t:to_table()) do assert.equal(0, v) end
  end)

  it('round-trips values through from_table and to_table in row-major order', function()
    local t = rft.from_table({ 1, 2, 3, 4, 5, 6 }, { 2, 3 }, 'f32')
    assert.same({ 1, 2, 3, 4, 5, 6 }, t:to_table())
    local u = rft.from_table({ 0, 7, 255 }, { 3 }, 'u8')
    assert.same({ 0, 7, 255 }, u:to_table())
  end)

  it('gives a view of rows [i, j) that shares memory with its parent', function()
    local t = rft.from_table({ 1, 2, 3, 4, 5, 6, 7, 8 }, { 4, 2 })
    local v = t:view(1, 3)
    assert.same({ 2, 2 }, v:shape())
    assert.same({ 3, 4, 5, 6 }, v:to_table())
    assert.is_true(v:is_view())
    v:fill(0)
    assert.same({ 1, 2, 0, 0, 0, 0, 7, 8 }, t:to_table())
  end)

  it('keeps its memory alive while a view of it exists', function()
    local v
    do
      local t = rft.from_table({ 1, 2, 3, 4 }, { 4 })
      v = t:view(2, 4)
    end
    collectgarbage(); collectgarbage()
    assert.same({ 3, 4 }, v:to_table())
  end)

  it('gives an empty view for i == j and refuses rows outside the tensor', function()
    local t = rft.tensor { shape = { 3, 2 } }
    assert.same({ 0, 2 }, t:view(3, 3):shape())
    assert.error_matches(function() t:view(2, 5) end, 'view: rows %[2, 5%) are outside %[3,2%]')
    assert.error_matches(function() t:view(-1, 2) end, 'view: rows %[%-1, 2%)')
  end)

  it('reshapes without copying, and only to the same element count', function()
    local t = rft.from_table({ 1, 2, 3, 4, 5, 6 }, { 2, 3 })
    local r = t:reshape { 3, 2 }
    r:fill(9)
    assert.same({ 9, 9, 9, 9, 9, 9 }, t:to_table())
    assert.error_matches(function() t:reshape { 4, 2 } end, 'reshape: cannot view %[2,3%] %(6 elements%) as 8 elements')
  end)

  it('copies deeply', function()
    local t = rft.from_table({ 1, 2, 3 }, { 3 })
    local c = t:copy()
    c:fill(0)
    assert.same({ 1, 2, 3 }, t:to_table())
    assert.is_false(c:is_view())
  end)

  it('copies between tensors of the same dtype and size, and says when they do not fit', function()
    local a, b = rft.from_table({ 1, 2, 3, 4 }, { 2, 2 }), rft.tensor { shape = { 4 } }
    b:copy_from(a)
    assert.same({ 1, 2, 3, 4 }, b:to_table())
    assert.error_matches(function() b:copy_from(rft.tensor { shape = { 5 } }) end,
      'copy: source f32 %[5%] does not fit destination f32 %[4%]')
    assert.error_matches(function() b:copy_from(rft.tensor { shape = { 4 }, dtype = 'u8' }) end,
      'copy: source u8 %[4%]')
  end)

  it('concatenates along the first dimension', function()
    local a = rft.from_table({ 1, 2, 3, 4 }, { 2, 2 })
    local b = rft.from_table({ 5, 6 }, { 1, 2 })
    local c = rft.cat { a, b, a:view(0, 1) }
    assert.same({ 4, 2 }, c:shape())
    assert.same({ 1, 2, 3, 4, 5, 6, 1, 2 }, c:to_table())
  end)

  it('refuses to concatenate tensors whose trailing dimensions or dtypes differ', function()
    local a = rft.tensor { shape = { 2, 2 } }
    assert.error_matches(function() rft.cat { a, rft.tensor { shape = { 2, 3 } } } end,
      'cat: tensor 2 has shape %[2,3%], expected %[2,2%] in every dimension but the first')
    assert.error_matches(function() rft.cat { a, rft.tensor { shape = { 2, 2 }, dtype = 'i32' } } end,
      'cat: tensor 2 is i32 %[2,2%] on cpu, tensor 1 is f32')
  end)

  it('converts u8 to f32 scaled to [0,1]', function()
    local u = rft.from_table({ 0, 51, 255 }, { 3 }, 'u8')
    local f = u:float()
    assert.equal('f32', f:dtype())
    local v = f:to_table()
    assert.equal(0, v[1]); assert.near(0.2, v[2], 1e-7); assert.equal(1, v[3])
    assert.error_matches(function() f:float() end, 'u8_to_f32: input must be u8, got f32 %[3%]')
  end)

  it('summarises itself in one line with min, max and mean', function()
    local t = rft.from_table({ -1, 0.5, 3.5 }, { 3 })
    assert.equal(-1, t:min()); assert.equal(3.5, t:max()); assert.equal(1, t:mean())
    assert.equal('rft.Tensor f32 cpu [3] min=-1 max=3.5 mean=1', tostring(t))
    assert.equal('rft.Tensor f32 cpu [0,2] (empty)', tostring(rft.tensor { shape = { 0, 2 } }))
    assert.error_matches(function() rft.tensor { shape = { 0 } }:mean() end, 'stats: tensor %[0%] is empty')
  end)

  it('reports NaN in its summary instead of hiding it', function()
    local t = rft.from_table({ 1, 0 / 0, 2 }, { 3 })
    local lo, hi = t:stats()
    assert.is_true(lo ~= lo and hi ~= hi)
  end)

  it('computes statistics over large tensors in parallel with the serial result', function()
    local n = 1000003
    local t = rft.rand.uniform(rft.tensor { shape = { n } }, { seed = 5 })
    local p = t:data()
    local lo, hi, sum = math.huge, -math.huge, 0
    for i = 0, n - 1 do lo = math.min(lo, p[i]); hi = math.max(hi, p[i]); sum = sum + p[i] end
    local a, b, m = t:stats()
    assert.equal(lo, a); assert.equal(hi, b); assert.near(sum / n, m, 1e-9)
  end)

  it('names the culprit for bad constructor arguments', function()
    assert.error_matches(function() rft.tensor { shape = { 2, -1 } } end, 'shape%[2%] = %-1 is not a size')
    assert.error_matches(function() rft.tensor { shape = { 1, 2, 3, 4, 5 } } end, 'shape must be a table of 1 to 4 sizes')
    assert.error_matches(function() rft.tensor { shape = { 2 }, dtype = 'f64' } end, "dtype 'f64' is not one of f32, u8, i32")
    assert.error_matches(function() rft.tensor { shape = { 2 }, device = 'tpu' } end, "device 'tpu' is not one of cpu, cuda")
    assert.error_matches(function() rft.from_table({ 1, 2, 3 }, { 2, 2 }) end, '3 values given for shape {2,2} %(4 elements%)')
  end)

  it('refuses a device that cannot be had, saying why, and keeps the default', function()
    if rft.C.rft_device_check(rft.C.RFT_CUDA) == 0 then return pending('a CUDA device is present') end
    -- without librft_cuda: "cannot be loaded"; with it but no GPU: "no CUDA device found" (or the driver)
    local ok, err = pcall(rft.device, 'cuda')
    assert.is_false(ok)
    err = tostring(err)
    assert.truthy(err:find('cuda: the CUDA backend cannot be loaded', 1, true) or
                  err:find('cuda: no CUDA device found', 1, true) or err:find('cuda: the NVIDIA driver', 1, true), err)
    assert.is_nil(err:find('\n'), err)
    assert.equal('cpu', rft.device())
  end)

  it('is released by the garbage collector, which runs before tensor memory piles up', function()
    local C = rft.C
    collectgarbage(); collectgarbage()
    local before, peak = tonumber(C.rft_memory_in_use(C.RFT_CPU)), 0
    for _ = 1, 300 do                              -- 300 x 4 MiB: 1.2 GiB if nothing were freed
      local t = rft.tensor { shape = { 1024, 1024 } }
      peak = math.max(peak, tonumber(C.rft_memory_in_use(C.RFT_CPU)) - before)
    end
    collectgarbage(); collectgarbage()
    assert.equal(before, tonumber(C.rft_memory_in_use(C.RFT_CPU)))
    assert.is_true(peak < 600 * 2 ^ 20, 'tensor memory reached ' .. peak .. ' bytes')
  end)
end)
