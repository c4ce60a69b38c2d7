-- aug.lua: rft's side of the augmentation benchmark (tools/bench/aug.sh runs both sides). Prints one
-- JSON line per (kernel, batch shape): the time of one call, best and median over repetitions (the
-- best is the headline: on a shared 2-core machine other work only ever adds time), images/s and
-- GB/s (bytes read + written, f32) at the best time. Parameters are the paper's CIFAR-10 presets; affine uses the
-- heavier scheme's per-image draws (matrices built in Lua, counted), hflip flips every image, crop
-- pads by 4. The last line times one training step of the default model at batch 128, for the
-- "Combined± costs < 5 % of a step" check.
--   rftlua tools/bench/aug.lua [--shapes 128x3x32x32,32x3x224x224] [--seconds 0.4] [--reps 7] [--threads 2]
local rft = require 'rft'
local cjson = require 'cjson'
local aug = rft.aug
local now = rft.train.now

local p = require('argparse')('aug', 'rft augmentation benchmark')
p:option('--shapes', 'comma-separated NxCxHxW', '128x3x32x32,32x3x224x224')
p:option('--seconds', 'time per repetition', '0.4', tonumber)
p:option('--reps', 'repetitions (the median is reported)', '7', tonumber)
p:option('--kernels', 'comma-separated subset')
p:option('--threads', 'CPU threads', '2', tonumber)
local o = p:parse(arg)
rft.threads(o.threads)

local c = aug.paper.cifar10
local heavier_affine = aug.heavier().steps[1]
local kernels = {
  { 'brightness', c.B_plus }, { 'contrast', aug.contrast { gamma = 1.25 } }, { 'saturation', c.S_plus },
  { 'gaussian_blur', c.GB }, { 'gaussian_noise', c.GN }, { 'salt_pepper', c.SAP },
  { 'affine', heavier_affine }, { 'hflip', aug.hflip { p = 1 } }, { 'crop', aug.crop { pad = 4 } },
  { 'combined_plus', c.combined_plus }, { 'combined_minus', c.combined_minus },
}
local wanted
if o.kernels then wanted = {} for k in o.kernels:gmatch('[^,]+') do wanted[k] = true end end

local median = require('rft.stats').median

for shape_s in o.shapes:gmatch('[^,]+') do
  local shape = {}
  for d in shape_s:gmatch('%d+') do shape[#shape + 1] = tonumber(d) end
  local x = rft.rand.uniform(rft.tensor { shape = shape }, { seed = 1 })
  local out = rft.tensor { shape = shape }
  local ids = rft.from_table((function() local t = {} for i = 1, shape[1] do t[i] = i - 1 end return t end)(),
                             { shape[1] }, 'i32')
  local bytes = 2 * x:numel() * 4
  for _, k in ipairs(kernels) do
    local name, pipe = k[1], k[2]
    if not wanted or wanted[name] then
      local seed = 0
      local function call() seed = seed + 1; pipe:apply(x, { seed = seed, ids = ids, out = out }) end
      call(); call()
      local t0 = now(); call(); local one = math.max(now() - t0, 1e-6)
      local n = math.max(3, math.floor(o.seconds / one))
      local times = {}
      for r = 1, o.reps do
        t0 = now()
        for _ = 1, n do call() end
        times[r] = (now() - t0) / n
      end
      local t = math.min(unpack(times))
      print(cjson.encode { kernel = name, shape = shape_s, ms = t * 1e3, images_per_s = shape[1] / t,
                           gb_per_s = bytes / t / 1e9, median_ms = median(times) * 1e3,
                           max_ms = math.max(unpack(times)) * 1e3 })
      io.stdout:flush()
    end
  end
end

-- one training step of the default model (recipes/baseline_cifar.lua: fast), batch 128
local ok, err = pcall(function()
  local net = rft.models.build('fast', {})
  local params, grads = net:flatten()
  local opt = rft.optim.sgd { params = params, grads = grads, lr = 1e-3, momentum = 0.9 }
  local x = rft.rand.uniform(rft.tensor { shape = { 128, 3, 32, 32 } }, { seed = 1 })
  local yv = {}
  for i = 1, 128 do yv[i] = i % 10 end
  local y = rft.from_table(yv, { 128 }, 'i32')
  local dl, loss = rft.tensor { shape = { 0 } }, require('ffi').new('double[1]')
  local function step()
    net:zero_grad()
    local logits = net:forward(x)
    rft.C.rft_cross_entropy(logits, y, 0, 128, 1, loss, dl)
    net:backward(x, dl)
    opt:step()
  end
  net:train(); step(); step()
  local times = {}
  for r = 1, 5 do local t0 = now(); step(); step(); step(); times[r] = (now() - t0) / 3 end
  print(cjson.encode { train_step = 'fast', batch = 128, ms = math.min(unpack(times)) * 1e3,
                       median_ms = median(times) * 1e3 })
end)
if not ok then io.stderr:write('training step not timed: ' .. tostring(err) .. '\n') end
