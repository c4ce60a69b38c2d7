-- safetensors checkpoints: round trips, the exact byte layout other tools read, atomic writes, and
-- clear errors for truncated, corrupt or foreign files.
local rft = require 'rft'
local st = rft.safetensors
local cjson = require 'cjson'

local function tmp() return os.tmpname() .. '.safetensors' end
local function read(path) local f = assert(io.open(path, 'rb')); local s = f:read('*a'); f:close(); return s end
local function write(path, s) local f = assert(io.open(path, 'wb')); f:write(s); f:close() end
local function u64(n) local b = {}; for i = 1, 8 do b[i] = string.char(n % 256); n = math.floor(n / 256) end; return table.concat(b) end

-- A file built by hand: header JSON (a table, or the text itself) and raw bytes. cjson writes an
-- empty table as {}, so 0-d shapes are given as text.
local function handmade(header, data)
  local json = type(header) == 'string' and header or cjson.encode(header)
  return u64(#json) .. json .. data
end

describe('safetensors', function()
  it('round-trips f32, i32 and u8 tensors and string metadata', function()
    local path = tmp()
    local a = rft.from_table({ 1.5, -2, 3.25, 4, 5, 6 }, { 2, 3 })
    local b = rft.from_table({ -7, 8 }, { 2 }, 'i32')
    local c = rft.from_table({ 0, 255, 9 }, { 1, 3 }, 'u8')
    st.save(path, { ['0.weight'] = a, ['labels'] = b, img = c }, { epoch = 3, note = 'x' })
    local t, meta = st.load(path)
    assert.same(a:to_table(), t['0.weight']:to_table()); assert.same({ 2, 3 }, t['0.weight']:shape())
    assert.same(b:to_table(), t.labels:to_table()); assert.equal('i32', t.labels:dtype())
    assert.same(c:to_table(), t.img:to_table()); assert.equal('u8', t.img:dtype())
    assert.equal('3', meta.epoch); assert.equal('x', meta.note)
    os.remove(path)
  end)

  it('writes the layout of the format: u64 header length, JSON header, aligned raw data', function()
    local path = tmp()
    st.save(path, { w = rft.from_table({ 1, 2 }, { 2 }) })
    local s = read(path)
    local n = 0
    for i = 8, 1, -1 do n = n * 256 + s:byte(i) end
    assert.equal(0, (8 + n) % 8)
    local h = cjson.decode(s:sub(9, 8 + n))
    assert.same({ dtype = 'F32', shape = { 2 }, data_offsets = { 0, 8 } }, h.w)
    assert.equal(8 + n + 8, #s)
    assert.equal(string.char(0, 0, 128, 63), s:sub(9 + n, 12 + n))      -- 1.0f little-endian
    os.remove(path)
  end)

  it('reads a file written by another tool, I64 counters included', function()
    local path = tmp()
    write(path, handmade('{"0.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
      .. '"1.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}', string.char(0, 0, 128, 63, 0, 0, 0, 64) .. u64(42)))
    local t = st.load(path)
    assert.same({ 1, 2 }, t['0.weight']:to_table())
    assert.same({ 42 }, t['1.num_batches_tracked']:to_table())
    os.remove(path)
  end)

  it('names the file and the problem for truncated, corrupt and inconsistent files', function()
    local path = tmp()
    st.save(path, { w = rft.tensor { shape = { 100 } } })
    local good = read(path)
    write(path, good:sub(1, #good - 10))
    assert.error_matches(function() st.load(path) end, "safetensors: .*: entry 'w': data_offsets %[0, 400%] reach past the 390 data bytes")
    write(path, good:sub(1, 5))
    assert.error_matches(function() st.load(path) end, 'too short for a header length')
    write(path, u64(1000) .. 'abc')
    assert.error_matches(function() st.load(path) end, 'header length 1000 does not fit the file of 11 bytes')
    write(path, u64(5) .. '{"a":' .. '')
    assert.error_matches(function() st.load(path) end, 'header is not valid JSON')
    write(path, handmade({ w = { dtype = 'F32', shape = { 3 }, data_offsets = { 0, 8 } } }, string.rep('\0', 8)))
    assert.error_matches(function() st.load(path) end, "entry 'w': shape %[3%] of F32 needs 12 bytes, data_offsets %[0, 8%] give 8")
    write(path, handmade({ w = { dtype = 'BF16', shape = { 4 }, data_offsets = { 0, 8 } } }, string.rep('\0', 8)))
    assert.error_matches(function() st.load(path) end, "entry 'w': has dtype BF16, rft reads F32, I32, U8 and I64")
    assert.error_matches(function() st.load('/nonexistent.safetensors') end, 'safetensors: cannot open /nonexistent.safetensors')
    os.remove(path)
  end)

  it('replaces a file atomically and leaves no temporary file', function()
    local path = tmp()
    st.save(path, { w = rft.tensor { shape = { 3 } } })
    st.save(path, { v = rft.tensor { shape = { 5 } } })
    local t = st.load(path)
    assert.is_nil(t.w); assert.equal(5, t.v:numel())
    assert.is_nil(io.open(path .. '.tmp', 'rb'))
    os.remove(path)
  end)
end)
