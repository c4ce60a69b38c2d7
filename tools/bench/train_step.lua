-- train_step.lua: rft's side of the training-step benchmarks (tools/bench/train_step.sh on the CPU,
-- tools/bench/gpu.sh on a GPU run both sides). Prints one JSON line per model with images/s of
-- repeated training steps (forward, cross-entropy, backward, SGD) and of inference, at a fixed
-- batch, median and spread of `reps`; with --fma also the two-view FMA step with its Combined+
-- pipeline ('fma'), the pipeline alone ('augment'), and the FMA, ST and AT steps over a prepared
-- [x ; x~] ('fma_step', 'st_step', 'at_step', images/s counting the clean batch), each with its cost
-- in plain steps ('<kind>_ratio' = train rate / step rate; the target is 2.05 at most). The kinds
-- take turns within each repetition (--turns: about 2 s of each kind in turn, or one step of each
-- round after round), so a ratio compares neighbouring timings on a busy machine;
-- '<kind>_cpu_ratio' is the same ratio in process CPU time (all threads), steadier when other
-- work competes for the cores.
--   rftlua tools/bench/train_step.lua --models vgg16,vgg16_w0.25,allcnn_c --batch 128 --reps 5
--   rftlua tools/bench/train_step.lua --device cuda --fma ...
local rft = require 'rft'
local ffi = require 'ffi'
local cjson = require 'cjson'

local p = require('argparse')('train_step', 'rft training-step benchmark')
p:option('--models', 'comma-separated: vgg16, vgg16_w0.25, allcnn_c, fast, quick', 'vgg16,vgg16_w0.25,allcnn_c,fast,quick')
p:option('--batch', 'batch size', '128', tonumber)
p:option('--reps', 'timed repetitions', '5', tonumber)
p:option('--steps', 'steps of each kind per repetition (default: about 2 s of each)', nil, tonumber)
p:option('--turns', "how the kinds take turns in a repetition: 'chunk' (all steps of one kind, then the next) "
  .. "or 'step' (one step of each kind, round after round: the ratios compare steps timed moments apart, "
  .. 'steadier where the machine drifts)', 'chunk'):choices { 'chunk', 'step' }
p:flag('--fma', 'also time the two-view FMA step and the Combined+ pipeline')
require('rft.experiment').device_option(p)
local o = p:parse(arg)

local specs = {
  vgg16 = { 'vgg16', { width = 1 } }, ['vgg16_w0.5'] = { 'vgg16', { width = 0.5 } },
  ['vgg16_w0.25'] = { 'vgg16', { width = 0.25 } },
  allcnn_c = { 'allcnn_c', {} }, fast = { 'fast', {} }, quick = { 'quick', {} },
}

-- Forward multiply-adds of the convolution and linear layers for one image.
local function forward_flops(net)
  local flops, shape = 0, net.input_shape
  for _, m in ipairs(net.modules) do
    local out = m:out_shape(shape)
    if m.__typename == 'nn.Conv2d' then
      flops = flops + 2 * out[1] * out[2] * out[3] * m.cin * m.k * m.k
    elseif m.__typename == 'nn.Linear' then
      flops = flops + 2 * m.cin * m.cout
    end
    shape = out
  end
  return flops
end

local median = require('rft.stats').median

local loss = ffi.new('double[1]')
local no_input_grad = { input_grad = false }
for name in o.models:gmatch('[^,]+') do
  local s = specs[name] or error('unknown model ' .. name)
  local net = rft.models.build(s[1], s[2])
  local params, grads = net:flatten()
  local opt = rft.optim.sgd { params = params, grads = grads, lr = 1e-3, momentum = 0.9 }
  local x = rft.rand.uniform(rft.tensor { shape = { o.batch, 3, 32, 32 } }, { seed = 1 })
  local yv = {}
  for i = 1, o.batch do yv[i] = i % 10 end
  local y = rft.from_table(yv, { o.batch }, 'i32')
  local dlogits = rft.tensor { shape = { 0 } }
  local function train_step()
    net:zero_grad()
    local logits = net:forward(x)
    rft.C.rft_cross_entropy(logits, y, 0, o.batch, 1, loss, dlogits)
    net:backward(x, dlogits, nil, no_input_grad)   -- a training step: no gradient for the images
    opt:step()
  end
  local function infer() net:forward(x) end
  local combined = rft.aug.paper.cifar10['Combined+']
  local xt = rft.tensor { shape = { 0 } }
  local function augment() combined:apply(x, { seed = 1, out = xt }) end
  local function fma_step()
    net:zero_grad()
    augment()
    rft.robust.step('FMA', net, x, xt, y, { gamma = 0.03, exact_normalizer = true })
    opt:step()
  end
  local function two_view(method, o)
    return function()
      net:zero_grad()
      rft.robust.step(method, net, x, xt, y, o)
      opt:step()
    end
  end
  local steps = { train = train_step, infer = infer, fma = fma_step, augment = augment,
                  fma_step = two_view('FMA', { gamma = 0.03, exact_normalizer = true }),
                  st_step = two_view('ST', { alpha = 0.1 }), at_step = two_view('AT', {}) }
  local function mode(kind)
    if kind == 'train' then net:train()
    elseif kind == 'infer' or kind == 'augment' then net:evaluate()
    else rft.robust.freeze_bn(net) end
  end
  local result = { model = name, batch = o.batch, device = rft.device(), forward_gflop_per_image = forward_flops(net) / 1e9 }
  local kinds = o.fma and { 'train', 'infer', 'fma', 'augment', 'fma_step', 'st_step', 'at_step' } or { 'train', 'infer' }
  if o.fma then augment() end
  local n, one = {}, {}
  for _, kind in ipairs(kinds) do
    local f = steps[kind]
    mode(kind)
    f(); f(); rft.synchronize()                -- warm-up: primitives, plans, workspaces
    local t0 = rft.train.now(); f(); rft.synchronize(); one[kind] = rft.train.now() - t0
    n[kind] = o.steps or math.max(1, math.floor(2 / one[kind]))
  end
  if o.turns == 'step' then                    -- rounds of one step of each kind: about 2 s of each, all told
    local sum = 0
    for _, kind in ipairs(kinds) do sum = sum + one[kind] end
    for _, kind in ipairs(kinds) do n[kind] = o.steps or math.max(1, math.floor(2 * #kinds / sum)) end
  end
  local wall, cpu, rates = {}, {}, {}
  for _, kind in ipairs(kinds) do wall[kind], cpu[kind], rates[kind] = {}, {}, {} end
  local function time(kind, count, r)          -- adds the wall and CPU seconds of `count` steps to repetition r
    local f = steps[kind]
    mode(kind)
    local t0, c0 = rft.train.now(), os.clock()
    for _ = 1, count do f() end
    rft.synchronize()
    wall[kind][r], cpu[kind][r] = (wall[kind][r] or 0) + rft.train.now() - t0, (cpu[kind][r] or 0) + os.clock() - c0
  end
  for r = 1, o.reps do                         -- the kinds take turns within a repetition
    if o.turns == 'step' then
      for i = 1, n[kinds[1]] do         -- each round starting one kind later, so that no kind always follows another
        for j = 0, #kinds - 1 do time(kinds[(i + j - 1) % #kinds + 1], 1, r) end
      end
    else
      for _, kind in ipairs(kinds) do time(kind, n[kind], r) end
    end
    for _, kind in ipairs(kinds) do
      rates[kind][r] = n[kind] * o.batch / wall[kind][r]
      cpu[kind][r] = cpu[kind][r] / n[kind]
    end
  end
  for _, kind in ipairs(kinds) do
    local lo, hi = math.min(unpack(rates[kind])), math.max(unpack(rates[kind]))
    result[kind .. '_images_per_s'] = median(rates[kind])
    result[kind .. '_spread'] = { lo, hi }
    if kind:match('_step$') then
      local ratio, cratio = {}, {}
      for r = 1, o.reps do
        ratio[r] = rates.train[r] / rates[kind][r]
        cratio[r] = cpu[kind][r] / cpu.train[r]
      end
      result[kind .. '_ratio'] = median(ratio)
      result[kind .. '_ratio_spread'] = { math.min(unpack(ratio)), math.max(unpack(ratio)) }
      result[kind .. '_cpu_ratio'] = median(cratio)
    end
  end
  print(cjson.encode(result))
  io.stdout:flush()
end
