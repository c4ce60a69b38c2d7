-- Hostile checkpoints (spec/fixtures/hostile/, written by tools/fixtures/hostile_safetensors.lua):
-- every one either loads or fails with rft's own one-line message naming the file and the entry;
-- none may crash or hang the process. NaNs with payloads load and read back as the one quiet NaN.
local rft = require 'rft'
local st = rft.safetensors

local dir = 'spec/fixtures/hostile/'
local function load(name) return st.load(dir .. name .. '.safetensors') end

-- file -> what the error must say (a Lua pattern); each message also names the file.
local refused = {
  overlap = "entry 'b' %(data_offsets %[4, 8%]%) overlaps entry 'a' %(data_offsets %[0, 8%]%)",
  fractional_offsets = "entry 'w': data_offsets %[0.5, 2.5%] are not whole byte offsets",
  negative_offsets = "entry 'w': data_offsets %[%-1, %-1%] are not whole byte offsets",
  gap = "entry 'w' begins at data byte 4, but the entries before it end at 0 %(a gap%)",
  trailing_bytes = 'the entries cover 4 data bytes, the file holds 7 after the header',
  truncated = "entry 'w': data_offsets %[0, 16%] reach past the 12 data bytes %(truncated file%?%)",
  offsets_reversed = "entry 'w': data_offsets %[4, 0%] end before they begin",
  offsets_three = "entry 'w': data_offsets is an array, expected %[begin, end%]",
  offsets_string = "entry 'w': data_offsets %[the string '0', 4%] are not whole",
  shape_object = "entry 'w': shape is an object, expected an array of sizes",
  shape_string = "entry 'w': shape%[1%] is the string '1', expected a whole number from 0 to 2%^53",
  shape_null = "entry 'w': shape%[1%] is null, expected a whole number",
  shape_bool = "entry 'w': shape%[1%] is true, expected a whole number",
  shape_negative = "entry 'w': shape%[1%] is %-2, expected a whole number",
  shape_fractional = "entry 'w': shape%[1%] is 0.5, expected a whole number",
  shape_huge = "entry 'w': shape %[4294967296,4294967296,0%]: the product of its sizes passes 2%^53",
  shape_overflow = "entry 'w': shape %[4294967296,4294967296%]: the product of its sizes passes 2%^53",
  shape_5d = "entry 'w': has 5 dimensions, rft tensors have at most 4",
  duplicate_name = 'header is not valid JSON: duplicate key "w"',
  duplicate_field = 'header is not valid JSON: duplicate key "dtype"',
  metadata_tensor = "__metadata__ 'shape' is an array, expected a string",
  metadata_number = "__metadata__ 'epoch' is 3, expected a string",
  unknown_dtype = "entry 'w': dtype 'F31' is not a safetensors dtype",
  dtype_number = "entry 'w': dtype is 32, expected a string",
  unknown_field = "entry 'w': has the unknown field 'x'",
  entry_array = "entry 'w': is an array, expected {dtype, shape, data_offsets}",
  header_array = 'the header does not start with "{"',
  header_nan = 'header is not valid JSON: unexpected character',
  invalid_utf8 = 'header is not valid JSON: invalid UTF%-8 at byte 3',
  deep = 'header is not valid JSON: nested deeper than 32',
  i64_beyond_i32 = "entry 'n': element 0 is 1099511627776, beyond i32",
  header_2p63 = 'header length 9223372036854775808 does not fit the file of 66 bytes',
  header_max = 'header length 18446744073709551615 does not fit the file of 66 bytes',
  header_short = 'the header does not start with "{"',
  empty = 'file is 0 bytes, too short for a header length',
}

describe('a hostile safetensors file', function()
  for name, want in pairs(refused) do
    it('is refused with a message naming the file and the entry: ' .. name, function()
      local ok, err = pcall(load, name)
      assert.is_false(ok)
      assert.is_string(err)
      -- rft's own message, raised at the caller's line, naming the file
      assert.truthy(err:find('safetensors: ' .. dir .. name .. '.safetensors: ', 1, true), err)
      assert.matches(want, err)
      assert.is_nil(err:find('\n'), 'one line')
    end)
  end

  it('covers every crafted file that is not expected to load', function()
    local loads = { nan_payload = true, nan_payload_spin = true, inf = true, good_empty = true, good_two = true }
    local p = io.popen('ls ' .. dir)
    for f in p:lines() do
      local name = f:match('^(.*)%.safetensors$')
      assert.truthy(name and (refused[name] or loads[name]), 'fixture without an expectation: ' .. f)
    end
    p:close()
  end)

  it('with a NaN payload (0xffd00001) loads, and every number read from it is the quiet NaN', function()
    local t = load('nan_payload').w
    local m = t:mean() * 2                        -- the issue's reproducer: exited with signal 11
    assert.is_true(m ~= m)
    assert.equal('rft.Tensor f32 cpu [1] min=nan max=nan mean=nan', tostring(t))
    local v = t:to_table()[1]
    assert.equal('number', type(v)); assert.is_true(v ~= v)
    local lo, hi = t:min(), t:max()
    assert.is_true(lo ~= lo and hi ~= hi)
    local p = t:data()[0]
    assert.equal('number', type(p)); assert.is_true(p ~= p)
    assert.same({ 0, 'nan' }, { t:nonfinite() and 0, tostring(select(2, t:nonfinite())) })
  end)

  it('with the payload that made tostring spin (0xff8875a1) prints and summarises', function()
    local t = load('nan_payload_spin').w
    assert.equal('rft.Tensor f32 cpu [1] min=nan max=nan mean=nan', tostring(t))
    assert.is_true(t:mean() ~= t:mean())
  end)

  it('gives loss values that are the quiet NaN, never a payload, from NaN logits', function()
    local w = load('nan_payload').w
    local logits = rft.tensor { shape = { 2, 3 } }
    logits:view(1, 2):reshape({ 3 }):view(1, 2):copy_from(w)       -- one payload NaN at [1,1]
    local loss = rft.loss.cross_entropy(logits, rft.from_table({ 0, 2 }, { 2 }, 'i32'))
    assert.equal('number', type(loss)); assert.is_true(loss ~= loss)
    assert.equal(4, (logits:nonfinite()))
  end)

  it('reports the first tensor holding NaN or Inf (rft.safetensors.nonfinite)', function()
    assert.same({ 'w', 0, math.huge }, { st.nonfinite(load('inf')) })
    assert.is_nil(st.nonfinite(load('good_two')))
  end)

  it('that is well formed loads: metadata, I64 counters, empty tensors, an empty header', function()
    local t, meta = load('good_two')
    assert.same({ 1, 1 }, t.a:to_table()); assert.same({ 7 }, t.b:to_table())
    assert.same({ 0, 3 }, t.c:shape()); assert.equal('pt', meta.format)
    assert.same({}, (load('good_empty')))
  end)
end)

describe('safetensors on careless input', function()
  local function tmp() return os.tmpname() .. '.safetensors' end

  it('names a directory given as the file', function()
    assert.error_matches(function() st.load('/tmp') end,
      'safetensors: /tmp: cannot read: Is a directory %(expected a file%)')
  end)

  it("refuses '__metadata__' as a tensor name, non-string names and mixed tables on save", function()
    local path = tmp()
    local w = rft.tensor { shape = { 1 } }
    assert.error_matches(function() st.save(path, { __metadata__ = w }) end,
      "safetensors.save: .*: '__metadata__' is the format's metadata key, not a tensor name")
    assert.error_matches(function() st.save(path, { w, x = w }) end,
      'safetensors.save: .*: tensor names must be strings, got the number key 1 %(a list or a table with mixed keys%?%)')
    assert.error_matches(function() st.save(path, { x = 3 }) end, "safetensors.save: .*: 'x' is a number, not a tensor")
    assert.error_matches(function() st.save(path, 'w') end, 'tensors must be a table')
    assert.is_nil(io.open(path, 'rb')); assert.is_nil(io.open(path .. '.tmp', 'rb'))
  end)

  it('keeps messages on one line whatever bytes a name holds', function()
    local path = tmp()
    local h = '{"a\\n\\u0001":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},'
      .. '"a\\n\\u0001":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'
    local n = #h
    local b = {}
    for i = 1, 8 do b[i] = string.char(n % 256); n = math.floor(n / 256) end
    local f = assert(io.open(path, 'wb')); f:write(table.concat(b), h); f:close()
    local ok, err = pcall(st.load, path)
    os.remove(path)
    assert.is_false(ok)
    assert.matches('duplicate key "a\\010\\001"', err)
    assert.is_nil(err:find('\n'))
  end)

  it('round-trips names that need escaping in JSON', function()
    local path = tmp()
    local names = { 'a"b', 'back\\slash', 'tab\there', 'é', '' }
    local ts = {}
    for i, n in ipairs(names) do ts[n] = rft.from_table({ i }, { 1 }) end
    st.save(path, ts, { ['k"'] = 'v\n' })
    local back, meta = st.load(path)
    for i, n in ipairs(names) do assert.same({ i }, back[n]:to_table()) end
    assert.equal('v\n', meta['k"'])
    os.remove(path)
  end)
end)

describe('nn.Sequential:load_state_dict with non-finite weights', function()
  local function net()
    return rft.nn.Sequential { rft.nn.Linear { cin = 3, cout = 2 } }
  end

  it('refuses them naming the tensor, or loads them when asked', function()
    local path = os.tmpname() .. '.safetensors'
    local a = net()
    local sd = a:state_dict()
    local bias = rft.tensor { shape = { 2 } }
    bias:view(1, 2):copy_from(load('nan_payload').w)                -- the issue's four bytes, one bias
    sd['0.bias'] = bias
    st.save(path, sd)
    local t = st.load(path)
    os.remove(path)
    assert.error_matches(function() net():load_state_dict(t) end,
      "load_state_dict: tensor '0.bias' holds nan at element 1 %(the first non%-finite value%)")
    local b = net():load_state_dict(t, { nonfinite = 'allow' })
    local y = b:forward(rft.tensor { shape = { 4, 3 } })
    assert.equal('rft.Tensor f32 cpu [4,2] min=nan max=nan mean=nan', tostring(y))
  end)
end)
