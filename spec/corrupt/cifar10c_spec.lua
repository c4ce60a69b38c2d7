-- rft.data.cifar10c reads CIFAR-10-C's published .npy layout (and rft's own --write-npy files), and
-- refuses bad files with a message that names the file and what was wrong.
local rft = require 'rft'

local dir = os.tmpname()
os.remove(dir)
os.execute('mkdir -p ' .. dir)

local function header(descr, shape, fortran)
  local h = string.format("{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }", descr,
                          fortran and 'True' or 'False', shape)
  h = h .. string.rep(' ', 63 - (10 + #h) % 64) .. '\n'
  return '\147NUMPY\1\0' .. string.char(#h % 256, math.floor(#h / 256)) .. h
end

local function write(name, bytes)
  local f = assert(io.open(dir .. '/' .. name, 'wb'))
  f:write(bytes)
  f:close()
end

-- 5 severities x 2 images: pixel value = 10·severity + image + channel (HWC layout), labels 3, 7
local function images(rows)
  local t = {}
  for r = 0, rows - 1 do
    local sev, img = math.floor(r / 2) + 1, r % 2
    for _ = 1, 1024 do
      for c = 0, 2 do t[#t + 1] = string.char(10 * sev + img + c) end
    end
  end
  return table.concat(t)
end
local labels = string.rep('\3\7', 5)

describe('rft.data.cifar10c', function()
  teardown(function() os.execute('rm -rf ' .. dir) end)

  it('reads one severity of the published layout as a CIFAR-10-like test set (NCHW, i32 labels)', function()
    write('fog.npy', header('|u1', '10, 32, 32, 3') .. images(10))
    write('labels.npy', header('|u1', '10,') .. labels)
    local d = rft.data.cifar10c { dir = dir, corruption = 'fog', severity = 3 }
    assert.equal(2, d.n)
    assert.same({ 2, 3, 32, 32 }, d.images:shape())
    assert.same({ 3, 7 }, d.labels:to_table())
    local v = d.images:to_table()
    assert.equal(30, v[1]); assert.equal(31, v[1025]); assert.equal(32, v[2049]); assert.equal(31, v[3073])
    assert.equal('airplane', d.classes[1])
  end)

  it('reads back what rft writes, value for value', function()
    local x = rft.tensor { shape = { 2, 3, 32, 32 } }:fill(0.2)
    local w = rft.data.npy_image_writer(dir .. '/contrast.npy', 10)
    for s = 1, 5 do w:write(rft.corrupt.apply(x, 'contrast', s, {})) end
    w:close()
    rft.data.write_npy_labels(dir .. '/labels.npy', rft.from_table({ 3, 7 }, { 2 }, 'i32'), 5)
    for s = 1, 5 do
      local d = rft.data.cifar10c { dir = dir, corruption = 'contrast', severity = s }
      assert.same(rft.corrupt.apply(x, 'contrast', s, {}):to_table(), d.images:float():to_table())
    end
  end)

  it('names the file and the problem for bad files', function()
    write('labels.npy', header('|u1', '10,') .. labels)
    write('a.npy', 'not a numpy file at all')
    assert.error_matches(function() rft.data.cifar10c { dir = dir, corruption = 'a' } end, 'a.npy is not a NumPy .npy file')
    write('b.npy', header('<f4', '10, 32, 32, 3') .. images(10))
    assert.error_matches(function() rft.data.cifar10c { dir = dir, corruption = 'b' } end, "b.npy holds dtype '<f4', expected '|u1'")
    write('c.npy', header('|u1', '10, 32, 32, 4') .. images(10))
    assert.error_matches(function() rft.data.cifar10c { dir = dir, corruption = 'c' } end, 'c.npy has shape %(10,32,32,4%)')
    write('d.npy', header('|u1', '9, 32, 32, 3') .. images(9))
    assert.error_matches(function() rft.data.cifar10c { dir = dir, corruption = 'd' } end, 'N a multiple of 5')
    write('e.npy', header('|u1', '10, 32, 32, 3') .. images(9))
    assert.error_matches(function() rft.data.cifar10c { dir = dir, corruption = 'e' } end, 'e.npy is truncated')
    write('f.npy', header('|u1', '10, 32, 32, 3', true) .. images(10))
    assert.error_matches(function() rft.data.cifar10c { dir = dir, corruption = 'f' } end, 'fortran_order is True')
    write('g.npy', header('|u1', '15, 32, 32, 3') .. images(15))
    assert.error_matches(function() rft.data.cifar10c { dir = dir, corruption = 'g' } end,
      'labels.npy has shape %(10%), expected %(15,%)')
    assert.error_matches(function() rft.data.cifar10c { dir = dir, corruption = 'missing' } end, 'cannot open')
    assert.error_matches(function() rft.data.cifar10c { dir = dir, corruption = 'g', severity = 0 } end,
      'severity must be 1..5')
  end)
end)
