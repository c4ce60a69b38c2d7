-- nn.Sequential: a chain of modules that also keeps taps, the named feature maps the robustness
-- losses read. By default every ReLU is tapped, named relu1, relu2, ... in forward order.
--   net:forward(x) -> y;  net:taps() -> { {name=, tensor=}, ... }
--   net:backward(x, dy, tap_grads) adds tap_grads[name] to the gradient arriving at that layer's
--   output, then continues backwards: the gradient of J0 + sum of tap losses in one pass; it
--   returns the input's gradient unless told {input_grad = false}.
-- A batch norm followed by a ReLU runs as one layer, forward and backward (net.fuse_bn_relu = false
-- turns that off); the ReLU's output, the tap, is the same tensor either way.
-- net.pair_sums = true (rft.robust.step sets it for a method that asks, FMA): in a forward over a
-- two-view batch on the CPU, each tapped layer that can (nn.ReLU:forward_pairs) also makes FMA's sums
-- of each pair of rows as it writes them, given with its tap (pair_sums), so the loss need not read it.
-- Parameters live in one flat buffer (and gradients in another) with per-layer views, so an
-- optimizer step is one call and a checkpoint one write. net.flat_ranges[i] = {lo, hi} is module i's
-- part of both buffers (elements, padding included); net.backward_hook, when set, is called as
-- hook(i) once module i's backward has run (its parameter gradients are then final for this pass),
-- i counting down: what rft.dist.gradient_sync starts its bucketed all-reduce from.
local ffi = require 'ffi'
local class = require 'rft.class'
local F = require 'rft.ffi'
local T = require 'rft.tensor'
local Module = require 'rft.nn.Module'
local scratch = require 'rft.scratch'
local C, check = F.C, F.check
local is_factored = require('rft.loss').is_factored

local Sequential = class('nn.Sequential', 'nn.Module')

--- nn.Sequential{m1, m2, ..., input={3,32,32}, taps='relu' | 'none' | {names...} | function(m, i)}
function Sequential:__init(o)
  Module.__init(self)
  self.modules = {}
  for i, m in ipairs(o or {}) do self.modules[i] = m end
  self.input_shape = o and o.input
  self:set_taps(o and o.taps or 'relu')
end

function Sequential:add(m)
  self.modules[#self.modules + 1] = m
  self:set_taps(self.tap_rule)
  return self
end

--- Which layers are tapped: 'relu' (every ReLU), 'none', a list of names, or a predicate
--- function(module, index) -> bool. Taps are named <kind><k>, k counting that kind from 1.
function Sequential:set_taps(rule)
  self.tap_rule = rule
  self.tap_names, self.tap_index = {}, {}
  local seen, wanted = {}, nil
  if type(rule) == 'table' then wanted = {}; for _, n in ipairs(rule) do wanted[n] = true end end
  for i, m in ipairs(self.modules) do
    local kind = m.__typename:gsub('^nn%.', ''):lower()
    seen[kind] = (seen[kind] or 0) + 1
    local name = kind .. seen[kind]
    local on
    if rule == 'relu' then on = kind == 'relu'
    elseif rule == 'none' then on = false
    elseif type(rule) == 'function' then on = rule(m, i)
    else on = wanted[name] end
    if on then self.tap_names[i] = name; self.tap_index[name] = i end
  end
  if wanted then
    for n in pairs(wanted) do
      if not self.tap_index[n] then error('set_taps: the network has no layer ' .. n, 2) end
    end
  end
  return self
end

-- The ReLU module fused with the batch norm at i, or nil: nn.BatchNorm2d then nn.ReLU, the batch
-- norm's own output untapped, fusion not turned off (net.fuse_bn_relu = false), the batch norm not
-- synchronised across ranks (rft.nn.sync_bn).
function Sequential:fusable(i)
  local m, r = self.modules[i], self.modules[i + 1]
  if self.fuse_bn_relu ~= false and r and m.__typename == 'nn.BatchNorm2d' and r.__typename == 'nn.ReLU'
     and not self.tap_names[i] and not (m.sync and m.training) then   -- synchronised batch norm runs alone
    return r
  end
end

-- The double array module i's pair sums go into, for a batch of `rows` (kept and grown as needed).
function Sequential:sums_buffer(i, rows)
  self.sums_buffers = self.sums_buffers or {}
  local b = self.sums_buffers[i]
  if not b or b.rows < rows then
    b = { rows = rows, data = ffi.new('double[?]', rows) }
    self.sums_buffers[i] = b
  end
  return b.data
end

function Sequential:updateOutput(x)
  self.inputs = self.inputs or {}
  self.fused = self.fused or {}
  local inputs, fused, mods = self.inputs, self.fused, self.modules
  local rows = #x
  local pairs_wanted = self.pair_sums and rows >= 2 and rows % 2 == 0 and x:device() == 'cpu'
  self.pair_sums_of = pairs_wanted and {} or nil
  local i, n = 1, #mods
  while i <= n do
    local m = mods[i]
    inputs[i] = x
    local relu = self:fusable(i)
    fused[i] = relu ~= nil
    local ok, y
    if relu then
      ok, y = pcall(m.forward_relu, m, x, relu)
    elseif pairs_wanted and self.tap_names[i] and m.forward_pairs then
      local sums = self:sums_buffer(i, rows)
      ok, y = pcall(m.forward_pairs, m, x, sums)
      self.pair_sums_of[i] = sums
    else
      ok, y = pcall(m.forward, m, x)
    end
    if not ok then
      error(string.format('In module %d (%s) of nn.Sequential: %s', i - 1, tostring(m), tostring(y):gsub('^[^:]*:%d+: ', '')), 2)
    end
    if relu then
      inputs[i + 1] = y                      -- the ReLU's own input is never made; its backward is fused too
      fused[i + 1] = false
      i = i + 1
    end
    x = y
    i = i + 1
  end
  self.output = x
  return x
end

--- { {name='relu1', tensor=..., pair_sums=...}, ... } from the last forward, in forward order;
--- pair_sums (net.pair_sums) only where that layer made them.
function Sequential:taps()
  local out, sums = {}, self.pair_sums_of or {}
  for i, m in ipairs(self.modules) do
    if self.tap_names[i] then out[#out + 1] = { name = self.tap_names[i], tensor = m.output, pair_sums = sums[i] } end
  end
  return out
end

local no_options = {}

--- Backward through every module; tap_grads[name] joins the gradient at that layer's output (added
--- in the layer's own pass where it says adds_tap_grad, as nn.ReLU does; else summed into a scratch
--- buffer first). A tap gradient is a tensor or an rft.loss.Factored (rft.loss.invariance's
--- o.factored), which a ReLU, fused or not, forms in its own pass; other layers get it written out.
--- Returns the input's gradient (DESIGN.md §7). o: a number (the parameter-gradient scale, 1) or a
--- table {scale=1, input_grad=true}; input_grad = false skips the input's gradient (the first
--- layer's backward-input pass) and returns nil: the training loop's choice, for speed.
function Sequential:backward(x, dy, tap_grads, o)
  if type(tap_grads) == 'number' then tap_grads, o = nil, tap_grads end
  local scale, want_gx
  if type(o) == 'table' then
    scale, want_gx = o.scale, o.input_grad ~= false
  elseif o == nil or type(o) == 'number' then
    scale, want_gx = o, true
  else
    error('nn.Sequential:backward: the fourth argument is a scale or an options table, got ' .. type(o), 2)
  end
  if not (self.inputs and self.inputs[1] == x) then
    error('nn.Sequential:backward: x must be the input of the last forward', 2)
  end
  tap_grads = tap_grads or no_options
  for name in pairs(tap_grads) do
    if not self.tap_index[name] then error('backward: no tap named ' .. tostring(name), 2) end
  end
  local g = dy
  local i = #self.modules
  while i >= 1 do
    local m = self.modules[i]
    local name = self.tap_names[i]
    local tg = name and tap_grads[name]
    local ok, gx
    if i >= 2 and self.fused[i - 1] then
      -- m is the ReLU fused with the batch norm before it: one backward for both, tap gradient included
      local bn = self.modules[i - 1]
      ok, gx = pcall(bn.backward_relu, bn, self.inputs[i - 1], m, g, tg, scale, want_gx or i > 2)
      i = i - 1
      m = bn
    else
      local extra
      if tg and m.adds_tap_grad then
        extra = tg
      elseif tg then
        if is_factored(tg) then tg = tg:tensor(scratch.get(self, 'tap_grad_form' .. i, g)) end
        local buf = scratch.get(self, 'tap_grad' .. i, g)
        buf:resize(g:shape()):copy_from(g)
        check(C.rft_tensor_axpy(1, tg, buf), 2)
        g = buf
      end
      local f = m.backward
      -- without the input's gradient, the first layer only accumulates its parameter gradients
      if i == 1 and not want_gx and f == Module.backward and not extra then
        f = function(mod, x1, g1, sc) mod:accGradParameters(x1, g1, sc or 1) end
      end
      ok, gx = pcall(f, m, self.inputs[i], g, scale, extra)
    end
    if not ok then
      error(string.format('In module %d (%s) of nn.Sequential (backward): %s', i - 1, tostring(m), tostring(gx):gsub('^[^:]*:%d+: ', '')), 2)
    end
    local hook = self.backward_hook
    if hook then hook(i) end                  -- module i (and every one after it) is done
    g = gx
    i = i - 1
  end
  if not want_gx then g = nil end
  self.gradInput = g
  return g
end

function Sequential:parameters()
  local ps, gs = {}, {}
  for _, m in ipairs(self.modules) do
    local p, g = m:parameters()
    for k = 1, table.maxn(p) do
      if p[k] then ps[#ps + 1] = p[k]; gs[#gs + 1] = g[k] end
    end
  end
  return ps, gs
end

--- The device the parameters live on (the default device when there are none).
function Sequential:device()
  local ps = self:parameters()
  return ps[1] and ps[1]:device() or T.default_device()
end

--- Moves every parameter and gradient into one flat buffer each, the modules keeping views into
--- them, each view 64-byte aligned; returns the two flat tensors (also self.flat_params, self.flat_grads).
function Sequential:flatten()
  if self.flat_params then return self.flat_params, self.flat_grads end
  -- Each parameter starts on a 64-byte boundary (16 floats; the gaps hold zeros in both buffers and
  -- stay zero under SGD): cuDNN and vector loops get aligned views, not arbitrary 4-byte offsets.
  local function padded(n) return math.ceil(n / 16) * 16 end
  local ps = self:parameters()
  local total = 0
  for _, p in ipairs(ps) do total = total + padded(p:numel()) end
  local dev = self:device()
  local fp, fg = T.new { shape = { total }, device = dev }, T.new { shape = { total }, device = dev }
  local off, ranges = 0, {}
  local function place(flat, t)
    local v = flat:view(off, off + t:numel()):reshape(t:shape())
    v:copy_from(t)
    return v
  end
  for i, m in ipairs(self.modules) do
    local lo = off
    for _, pair in ipairs { { 'weight', 'gradWeight' }, { 'bias', 'gradBias' } } do
      local p = m[pair[1]]
      if p and m[pair[2]] then
        m[pair[1]] = place(fp, p)
        m[pair[2]] = place(fg, m[pair[2]])
        off = off + padded(p:numel())
      end
    end
    if off > lo then ranges[i] = { lo, off } end
  end
  assert(off == total, 'flatten: a module keeps parameters other than weight and bias')
  self.flat_params, self.flat_grads, self.flat_ranges = fp, fg, ranges
  return fp, fg
end

function Sequential:zero_grad()
  if self.flat_grads then self.flat_grads:fill(0) else Module.zero_grad(self) end
end

function Sequential:train()
  self.training = true
  for _, m in ipairs(self.modules) do m:train() end
  return self
end
function Sequential:evaluate()
  self.training = false
  for _, m in ipairs(self.modules) do m:evaluate() end
  return self
end

--- Initialise every layer from (seed, layer index) and key the dropout masks to the seed.
function Sequential:reset(seed)
  for i, m in ipairs(self.modules) do
    if m.reset then m:reset(seed, i) end
    if m.seed then m.seed, m.stream = seed, i end
  end
  return self
end

--- { ['0.weight']=t, ['0.bias']=t, ['1.running_mean']=t, ... }: PyTorch nn.Sequential names.
function Sequential:state_dict()
  local sd = {}
  for i, m in ipairs(self.modules) do
    for name, t in pairs(m:state()) do sd[(i - 1) .. '.' .. name] = t end
  end
  return sd
end

--- Copies tensors into the network; every name, shape and dtype must match. PyTorch's
--- `num_batches_tracked` entries are accepted and ignored. Lists every mismatch in one error.
--- A NaN or Inf in the weights is refused naming the tensor unless o.nonfinite is 'warn' or 'allow'.
function Sequential:load_state_dict(tensors, o)
  local nf = o and o.nonfinite or 'error'    -- NaN/Inf in the weights: 'error' | 'warn' | 'allow'
  local problems, mine = {}, self:state_dict()
  local names = {}
  for name in pairs(mine) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local t, src = mine[name], tensors[name]
    if not src then
      problems[#problems + 1] = 'missing ' .. name
    elseif src:dtype() ~= t:dtype() or table.concat(src:shape(), ',') ~= table.concat(t:shape(), ',') then
      problems[#problems + 1] = string.format('%s is %s [%s], the network expects %s [%s]', name, src:dtype(),
        table.concat(src:shape(), ','), t:dtype(), table.concat(t:shape(), ','))
    end
  end
  for name in pairs(tensors) do
    if not mine[name] and not name:match('%.num_batches_tracked$') then
      problems[#problems + 1] = 'unexpected ' .. name
    end
  end
  if #problems > 0 then
    table.sort(problems)
    error('load_state_dict: ' .. table.concat(problems, '; '), 2)
  end
  local bad, at, v
  if nf ~= 'allow' then bad, at, v = require('rft.safetensors').nonfinite(tensors) end
  if bad then
    local msg = string.format("load_state_dict: tensor '%s' holds %s at element %d (the first non-finite "
      .. "value); pass {nonfinite='warn'} or 'allow' to load it anyway", bad, tostring(v), at)
    if nf ~= 'warn' then error(msg, 2) end
    io.stderr:write('warning: ', msg, '\n')
  end
  for name, t in pairs(mine) do t:copy_from(tensors[name]) end
  return self
end

local function thousands(n)
  local s = tostring(n)
  repeat local k; s, k = s:gsub('^(%d+)(%d%d%d)', '%1,%2') until k == 0
  return s
end

--- One line per layer: index, layer, output shape, parameter count (darknet's build log).
function Sequential:__tostring()
  local lines, shape, total = {}, self.input_shape, 0
  for i, m in ipairs(self.modules) do
    local n = 0
    for _, p in ipairs((m:parameters())) do n = n + p:numel() end
    total = total + n
    if shape then shape = m:out_shape(shape) end
    lines[#lines + 1] = string.format('  (%d) %-40s %-14s %s%s', i - 1, tostring(m),
      shape and '-> ' .. table.concat(shape, 'x') or '', n > 0 and thousands(n) or '',
      self.tap_names[i] and '  [tap ' .. self.tap_names[i] .. ']' or '')
  end
  local head = string.format('nn.Sequential%s, %s parameters', self.input_shape and
    ' (' .. table.concat(self.input_shape, 'x') .. ' -> ' .. table.concat(shape, 'x') .. ')' or '', thousands(total))
  return head .. '\n' .. table.concat(lines, '\n')
end

return Sequential
