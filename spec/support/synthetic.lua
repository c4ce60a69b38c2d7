-- A small synthetic dataset for training specs, whose class is readable from the image: class c
-- (i % 4) is brighter in channel c % 3 and carries a pattern that depends on c. Built from the
-- engine's generator, so any process (a spec or a child it starts) rebuilds the same bytes.
local rft = require 'rft'

return function(n, seed)
  local images = rft.tensor { shape = { n, 3, 32, 32 }, dtype = 'u8' }
  local labels = rft.tensor { shape = { n }, dtype = 'i32' }
  local noise = rft.rand.uniform(rft.tensor { shape = { n * 3 * 32 * 32 } }, { seed = seed }):data()
  local im, lb = images:data(), labels:data()
  for i = 0, n - 1 do
    local c = i % 4
    lb[i] = c
    for k = 0, 3 * 1024 - 1 do
      local ch, pix = math.floor(k / 1024), k % 1024
      local v = 60 * noise[i * 3072 + k] + ((ch == c % 3) and 120 or 0) + ((pix % (c + 2) == 0) and 60 or 0)
      im[i * 3072 + k] = math.min(255, v)
    end
  end
  return { images = images, labels = labels, n = n, classes = { 'a', 'b', 'c', 'd' } }
end
