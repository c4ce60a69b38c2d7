-- CIFAR-10: the real files (through RFT_DATA) and deliberately broken ones.
local rft = require 'rft'

local data_dir = os.getenv('RFT_DATA')
local have_data = data_dir and io.open(data_dir .. '/test_batch.bin', 'rb')
if have_data then have_data:close() end

local RECORD = 3073

-- A scratch CIFAR-10 folder holding the given batch files (name -> bytes) and the class list.
local function fake_dir(files, meta)
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p '" .. dir .. "'")
  local f = assert(io.open(dir .. '/batches.meta.txt', 'w'))
  f:write(meta or 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n')
  f:close()
  for name, bytes in pairs(files) do
    f = assert(io.open(dir .. '/' .. name, 'wb')); f:write(bytes); f:close()
  end
  return dir
end

local function record(label, fill) return string.char(label) .. string.rep(string.char(fill), 3072) end

describe('the CIFAR-10 reader', function()
  it('reads the real test batch: 10,000 images, 1,000 of each class, pixels as stored', function()
    if not have_data then return pending('RFT_DATA is not set to a CIFAR-10 folder') end
    local d = rft.data.cifar10 { dir = data_dir, split = 'test' }
    assert.same({ 10000, 3, 32, 32 }, d.images:shape())
    assert.equal('u8', d.images:dtype())
    assert.same({ 10000 }, d.labels:shape())
    assert.equal('i32', d.labels:dtype())
    assert.equal('airplane', d.classes[1]); assert.equal('truck', d.classes[10])
    local counts, p = {}, d.labels:data()
    for i = 0, 9999 do counts[p[i]] = (counts[p[i]] or 0) + 1 end
    for c = 0, 9 do assert.equal(1000, counts[c]) end
    -- record 0, read by hand: label byte then the red plane's first pixel
    local f = assert(io.open(data_dir .. '/test_batch.bin', 'rb'))
    local head = f:read(1 + 3072)
    f:close()
    assert.equal(head:byte(1), p[0])
    local img = d.images:view(0, 1):to_table()
    for k = 1, 3072, 97 do assert.equal(head:byte(1 + k), img[k]) end
  end)

  it('reads the real training split: 50,000 images in five batches', function()
    if not have_data then return pending('RFT_DATA is not set to a CIFAR-10 folder') end
    local d = rft.data.cifar10 { dir = data_dir, split = 'train' }
    assert.same({ 50000, 3, 32, 32 }, d.images:shape())
    assert.equal(50000, d.n)
    assert.near(4.5, d.labels:mean(), 0.05)
  end)

  it('reads a well-formed file of any length when asked (records = false)', function()
    local dir = fake_dir { ['test_batch.bin'] = record(3, 7) .. record(9, 200) }
    local d = rft.data.cifar10 { dir = dir, split = 'test', records = false }
    assert.same({ 3, 9 }, d.labels:to_table())
    assert.same({ 2, 3, 32, 32 }, d.images:shape())
    assert.equal(7, d.images:view(0, 1):max()); assert.equal(200, d.images:view(1, 2):min())
  end)

  it('names the file and its size when a batch is truncated', function()
    local dir = fake_dir { ['test_batch.bin'] = record(1, 1) .. record(2, 2):sub(1, 100) }
    assert.error_matches(function() rft.data.cifar10 { dir = dir, split = 'test' } end,
      'cifar10: .*/test_batch.bin has 3173 bytes, expected a non%-zero multiple of 3073')
  end)

  it('names the file, the record and the byte offset of a label outside 0-9', function()
    local dir = fake_dir { ['test_batch.bin'] = record(1, 0) .. record(4, 0) .. record(12, 0) }
    assert.error_matches(function() rft.data.cifar10 { dir = dir, split = 'test' } end,
      'cifar10: .*/test_batch.bin: record 2 %(byte offset 6146%) has label 12, expected 0%.%.9')
  end)

  it('names a missing batch file', function()
    local dir = fake_dir { ['data_batch_1.bin'] = record(0, 0) }
    assert.error_matches(function() rft.data.cifar10 { dir = dir, split = 'train', records = false } end,
      'cifar10: cannot open .*/data_batch_2.bin: No such file')
  end)

  it('refuses an empty file and a class list that is not ten names', function()
    local dir = fake_dir { ['test_batch.bin'] = '' }
    assert.error_matches(function() rft.data.cifar10 { dir = dir, split = 'test' } end, 'has 0 bytes')
    dir = fake_dir({ ['test_batch.bin'] = record(0, 0) }, 'cat\ndog\n')
    assert.error_matches(function() rft.data.cifar10 { dir = dir, split = 'test', records = false } end,
      'batches.meta.txt names 2 classes, expected 10')
  end)

  it('refuses a batch file of the wrong record count, naming it and the count', function()
    local dir = fake_dir { ['test_batch.bin'] = record(3, 7) .. record(9, 200) }
    assert.error_matches(function() rft.data.cifar10 { dir = dir, split = 'test' } end,
      'cifar10: .*/test_batch.bin has 2 records, a CIFAR%-10 batch file holds exactly 10000')
    assert.error_matches(function() rft.data.cifar10 { dir = dir, split = 'test', records = 3 } end,
      'has 2 records, a CIFAR%-10 batch file holds exactly 3')
  end)

  it('names a batch file or a class list that is a directory', function()
    local dir = fake_dir {}
    os.execute("mkdir '" .. dir .. "/test_batch.bin'")
    assert.error_matches(function() rft.data.cifar10 { dir = dir, split = 'test' } end,
      'cifar10: .*/test_batch.bin is not a regular file %(a directory%?%)')
    dir = fake_dir { ['test_batch.bin'] = record(0, 0) }
    os.remove(dir .. '/batches.meta.txt')
    os.execute("mkdir '" .. dir .. "/batches.meta.txt'")
    assert.error_matches(function() rft.data.cifar10 { dir = dir, split = 'test', records = false } end,
      'cifar10: cannot read .*/batches.meta.txt: Is a directory')
  end)

  it('says where it looked and how to get the data when there is no folder', function()
    assert.error_matches(function() rft.data.cifar10 { dir = '/nonexistent/cifar', split = 'test' } end,
      'CIFAR%-10 not found: looked in /nonexistent/cifar .*cifar%-10%-binary%.tar%.gz')
    assert.error_matches(function() rft.data.cifar10 { dir = '/tmp', split = 'valid' } end,
      "split must be 'train' or 'test', got 'valid'")
  end)
end)
