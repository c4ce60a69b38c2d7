-- rft.dist.gradient_sync in one process, its collectives replaced by a recording transport: the
-- buckets tile the flat gradient buffer, each is started once, at the moment the backward pass has
-- run the lowest module in it (never before: its values at the start are the finished gradients;
-- never later: the start comes from that module's own hook call), tested while later layers run,
-- waited for once, weighted by the rank's share; a second backward pass within one step is refused.
-- The same with MPI on two ranks is spec/dist/data_parallel_spec.lua.
local rft = require 'rft'
local T = require 'rft.tensor'

local function batch(n, seed)
  local x = rft.rand.uniform(rft.tensor { shape = { n, 3, 32, 32 } }, { seed = seed })
  local yv = {}
  for i = 1, n do yv[i] = (i * 7 + seed) % 10 end
  return x, rft.from_table(yv, { n }, 'i32')
end

-- One step's gradients (forward, cross-entropy, backward) into net's flat buffer.
local function backward(net, x, y)
  net:zero_grad()
  local _, g = rft.loss.cross_entropy(net:forward(x), y)
  net:backward(x, g, nil, { input_grad = false })
end

-- A transport that reduces nothing (one rank) and records what happens: per start, the bucket, the
-- module whose hook call started it (nil: started by finish), and a copy of the bucket's values then.
local function recorder(sync_ref)
  local rec = { starts = {}, tests = 0, waits = {}, last_hook = nil }
  rec.transport = {
    start = function(view, k)
      rec.starts[#rec.starts + 1] = { k = k, by = sync_ref.net.backward_hook and rec.last_hook, values = view:to_table() }
      return { k = k, tested = 0 }
    end,
    test = function(req)                   -- in flight for two tests, as a reduction that takes a while
      rec.tests = rec.tests + 1
      req.tested = req.tested + 1
      return req.tested >= 2
    end,
    wait = function(req) rec.waits[#rec.waits + 1] = req.k end,
  }
  return rec
end

-- Runs one synchronised step with weight w; returns the recorder and the sync.
local function synced_step(net, x, y, bucket_bytes, w)
  local ref = {}
  local rec = recorder(ref)
  local sync = rft.dist.gradient_sync(net, { overlap = true, bucket_bytes = bucket_bytes, transport = rec.transport })
  ref.net = net
  net:zero_grad()
  sync:begin(w)
  local hook = net.backward_hook
  net.backward_hook = function(i) rec.last_hook = i; hook(i) end     -- watch which module's call starts a bucket
  local _, g = rft.loss.cross_entropy(net:forward(x), y)
  net:backward(x, g, nil, { input_grad = false })
  sync:finish()
  return rec, sync
end

for _, case in ipairs { { 'no batch norm', false }, { 'batch norm (fused with the ReLU)', true } } do
  describe('rft.dist.gradient_sync on VGG-16/16 with ' .. case[1], function()
    local net = rft.models.vgg16 { width = 1 / 16, bn = case[2], seed = 5 }
    local _, grads = net:flatten()
    net:train()
    local x, y = batch(6, 1)
    backward(net, x, y)
    local reference = grads:to_table()      -- the finished gradients of this batch

    for _, bytes in ipairs { 1, 24 * 1024, 2 ^ 30 } do
      it(string.format('starts every bucket once, as its lowest module finishes (buckets of %d bytes)', bytes), function()
        local buckets = rft.dist.buckets(net, bytes)
        -- the buckets tile the buffer from the top down, on module boundaries
        local at = grads:numel()
        for _, b in ipairs(buckets) do
          assert.equal(at, b.hi)
          assert.equal(net.flat_ranges[b.first][1], b.lo)
          assert.equal(net.flat_ranges[b.last][2], b.hi)
          at = b.lo
        end
        assert.equal(0, at)
        if bytes == 1 then        -- every module with parameters its own bucket
          local n = 0
          for _ in pairs(net.flat_ranges) do n = n + 1 end
          assert.equal(n, #buckets)
        elseif bytes == 2 ^ 30 then
          assert.equal(1, #buckets)
        else
          assert(#buckets > 2 and #buckets < 14, #buckets .. ' buckets')
        end

        local rec = synced_step(net, x, y, bytes, 1)
        assert.equal(#buckets, #rec.starts)
        for k, s in ipairs(rec.starts) do
          assert.equal(k, s.k)                             -- in backward order, each once
          assert.equal(buckets[k].first, s.by)             -- by the hook call of its lowest module
          local b = buckets[k]
          for e = 1, b.hi - b.lo do                        -- its gradients were complete at the start
            if s.values[e] ~= reference[b.lo + e] then
              error(string.format('bucket %d element %d was %.9g at its start, %.9g when complete', k, e,
                s.values[e], reference[b.lo + e]))
            end
          end
        end
        table.sort(rec.waits)
        assert.same((function() local t = {}; for k = 1, #buckets do t[k] = k end; return t end)(), rec.waits)
        if #buckets > 1 then assert(rec.tests > 0, 'buckets in flight were never tested during backward') end
        assert.same(reference, grads:to_table())         -- nothing reduced twice or changed on the way
        assert.is_nil(net.backward_hook)
      end)
    end

    it('weights each bucket by the rank\'s share, once', function()
      synced_step(net, x, y, 24 * 1024, 2)
      local got = grads:to_table()
      for e = 1, #reference do
        if got[e] ~= 2 * reference[e] then error(string.format('element %d: %.9g, expected %.9g', e, got[e], 2 * reference[e])) end
      end
    end)

    it('refuses a second backward pass within one step', function()
      local rec = recorder({ net = net })
      local sync = rft.dist.gradient_sync(net, { overlap = true, bucket_bytes = 1, transport = rec.transport })
      net:zero_grad()
      sync:begin(1)
      local _, g = rft.loss.cross_entropy(net:forward(x), y)
      net:backward(x, g, nil, { input_grad = false })
      assert.error_matches(function() net:backward(x, g, nil, { input_grad = false }) end,
        'gradients changed after the all-reduce of their bucket had started', 1, true)
      assert.is_nil(net.backward_hook)
    end)
  end)
end

describe('rft.dist.gradient_sync', function()
  it('in a plain process, and without overlap, leaves the mean of one rank: the gradients, weighted', function()
    local net = rft.models.vgg16 { width = 1 / 16, seed = 2 }
    local _, grads = net:flatten()
    local x, y = batch(4, 3)
    backward(net, x, y)
    local reference = grads:to_table()
    for _, overlap in ipairs { true, false } do
      local sync = rft.dist.gradient_sync(net, { overlap = overlap, bucket_bytes = 4096 })
      net:zero_grad()
      sync:begin(0.5)
      local _, g = rft.loss.cross_entropy(net:forward(x), y)
      net:backward(x, g, nil, { input_grad = false })
      sync:finish()
      local got = grads:to_table()
      for e = 1, #reference do assert.equal(0.5 * reference[e], got[e]) end
      assert.equal(1, sync.steps)
    end
  end)
  it('says what is wrong with its arguments', function()
    local net = rft.models.vgg16 { width = 1 / 16, seed = 2 }
    assert.error_matches(function() rft.dist.buckets(net, 0) end, 'bucket_bytes must be a number > 0, got 0', 1, true)
    local sync = rft.dist.gradient_sync(net)
    assert.error_matches(function() sync:finish() end, 'finish without begin', 1, true)
    sync:begin(1)
    assert.error_matches(function() sync:begin(1) end, 'begin called twice without finish', 1, true)
    assert.error_matches(function() rft.train.fit { net = net, train = { n = 1 }, epochs = 1, lr = 0.1, overlap = 'yes' } end,
      'overlap must be true or false, got yes', 1, true)
  end)
  it('is a plain request in a plain process: iallreduce, test and wait', function()
    local t = T.from_table({ 1, 2 }, { 2 })
    local r = rft.dist.iallreduce(t, 'mean')
    assert.equal(0, r)
    assert.is_true(rft.dist.test(r))
    rft.dist.wait(r)
    assert.same({ 1, 2 }, t:to_table())
    assert.error_matches(function() rft.dist.wait(7) end, 'request 7 is not an all-reduce in flight', 1, true)
  end)
end)
