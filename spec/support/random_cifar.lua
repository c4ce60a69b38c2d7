-- A CIFAR-shaped dataset of n random images (u8 [n,3,32,32] from the engine's generator with `seed`)
-- and labels i % 10, for specs that need data of the right shape but no meaning in it.
local rft = require 'rft'

return function(n, seed)
  local f = rft.rand.uniform(rft.tensor { shape = { n * 3072 } }, { seed = seed, hi = 255 })
  local u8 = rft.tensor { shape = { n, 3, 32, 32 }, dtype = 'u8' }
  local src, dst = f:data(), u8:data()
  for i = 0, n * 3072 - 1 do dst[i] = src[i] end
  local labels = {}
  for i = 1, n do labels[i] = i % 10 end
  return { images = u8, labels = rft.from_table(labels, { n }, 'i32'), n = n,
           classes = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j' } }
end
