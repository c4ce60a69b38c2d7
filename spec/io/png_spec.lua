-- PNG files and image grids: round trips, geometry, and the errors for bad images and files.
local rft = require 'rft'

local function tmp_png() return os.tmpname() .. '.png' end

describe('PNG files', function()
  for _, c in ipairs { 1, 3, 4 } do
    it('round-trip a ' .. c .. '-channel image exactly', function()
      local n = c * 5 * 7
      local vals = {}
      for i = 1, n do vals[i] = (i * 37) % 256 end
      local img = rft.from_table(vals, { c, 5, 7 }, 'u8')
      local path = tmp_png()
      rft.image.write_png(img, path)
      local back = rft.image.read_png(path)
      assert.same({ c, 5, 7 }, back:shape())
      assert.same(vals, back:to_table())
      os.remove(path)
    end)
  end

  it('leaves no temporary file behind and replaces an existing file', function()
    local path = tmp_png()
    rft.image.write_png(rft.tensor { shape = { 1, 2, 2 }, dtype = 'u8' }, path)
    rft.image.write_png(rft.tensor { shape = { 3, 4, 4 }, dtype = 'u8' }:fill(9), path)
    assert.same({ 3, 4, 4 }, rft.image.read_png(path):shape())
    local dir = path:match('^(.*)/')
    local p = io.popen('ls ' .. dir)
    local listing = p:read('*a'); p:close()
    assert.is_nil(listing:find(path:match('[^/]+$') .. '.tmp', 1, true))
    os.remove(path)
  end)

  it('refuses images of the wrong dtype or shape, naming what was expected', function()
    assert.error_matches(function() rft.image.write_png(rft.tensor { shape = { 3, 4, 4 } }, tmp_png()) end,
      'png: image must be u8, got f32')
    assert.error_matches(function() rft.image.write_png(rft.tensor { shape = { 2, 4, 4 }, dtype = 'u8' }, '/tmp/x.png') end,
      'png: image for /tmp/x.png must be %[C,H,W%] with C = 1, 3 or 4')
  end)

  it('names the file that cannot be written or read', function()
    assert.error_matches(function()
      rft.image.write_png(rft.tensor { shape = { 1, 1, 1 }, dtype = 'u8' }, '/nonexistent/dir/a.png')
    end, 'png: cannot create /nonexistent/dir/a.png.tmp')
    assert.error_matches(function() rft.image.read_png('/nonexistent.png') end, 'png: cannot open /nonexistent.png')
    local path = os.tmpname()
    local f = io.open(path, 'wb'); f:write('not a png at all'); f:close()
    assert.error_matches(function() rft.image.read_png(path) end, 'png: ' .. path .. ' is not a PNG file')
  end)

  it('names a truncated PNG as unreadable', function()
    local path = tmp_png()
    rft.image.write_png(rft.tensor { shape = { 3, 64, 64 }, dtype = 'u8' }:fill(100), path)
    local f = io.open(path, 'rb'); local bytes = f:read('*a'); f:close()
    f = io.open(path, 'wb'); f:write(bytes:sub(1, 60)); f:close()
    assert.error_matches(function() rft.image.read_png(path) end, 'is not a readable PNG file')
    os.remove(path)
  end)
end)

describe('an image grid', function()
  it('tiles images with margins and upscaling, converting f32 [0,1] to 0..255', function()
    -- 3 grey images 2x2 with values 0, 0.5, 1; 2 columns, margin 1, scale 2
    local vals = {}
    for i = 1, 4 do vals[i] = 0 end
    for i = 5, 8 do vals[i] = 0.5 end
    for i = 9, 12 do vals[i] = 1 end
    local batch = rft.from_table(vals, { 3, 1, 2, 2 })
    local g = rft.image.grid(batch, { cols = 2, margin = 1, scale = 2, background = 7 })
    -- rows = 2: height 1 + 2*(4+1) = 11, width 1 + 2*(4+1) = 11
    assert.same({ 1, 11, 11 }, g:shape())
    local p = g:to_table()
    local function at(y, x) return p[y * 11 + x + 1] end
    assert.equal(7, at(0, 0))                      -- margin
    assert.equal(0, at(1, 1)); assert.equal(0, at(4, 4))     -- image 1, upscaled
    assert.equal(7, at(1, 5))                      -- margin between columns
    assert.equal(128, at(1, 6))                    -- image 2: 0.5 -> 128
    assert.equal(255, at(6, 1))                    -- image 3, second row
    assert.equal(7, at(6, 6))                      -- empty cell stays background
  end)

  it('clips values outside [0,1] and writes a PNG of the grid', function()
    local batch = rft.from_table({ -3, 2, 0.25, 0 / 0 }, { 1, 1, 2, 2 })
    local g = rft.image.grid(batch, { margin = 0 })
    assert.same({ 0, 255, 64, 0 }, g:to_table())
    local path = tmp_png()
    rft.image.save_grid(rft.tensor { shape = { 20, 3, 8, 8 } }, path, { cols = 10, scale = 2, margin = 1 })
    assert.same({ 3, 1 + 2 * 17, 1 + 10 * 17 }, rft.image.read_png(path):shape())
    os.remove(path)
  end)

  it('refuses batches that are not [N,1|3,H,W] and impossible layouts', function()
    assert.error_matches(function() rft.image.grid(rft.tensor { shape = { 2, 2, 4, 4 } }) end,
      'image_grid: images must be %[N,C,H,W%] with N >= 1 and C = 1 or 3, got %[2,2,4,4%]')
    assert.error_matches(function() rft.image.grid(rft.tensor { shape = { 4, 4 } }) end,
      'image_grid: images must have 4 dimensions, got %[4,4%]')
    assert.error_matches(function() rft.image.grid(rft.tensor { shape = { 1, 3, 4, 4 } }, { scale = 0 }) end,
      'image_grid: expected cols >= 1, margin >= 0, scale >= 1')
  end)
end)
