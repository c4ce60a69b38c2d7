-- rft.aug.schedule: which pipeline an epoch and a batch get. A schedule is an object answering
-- s:at(epoch, batch) (both counted from 1), or any Lua function (epoch, batch) -> pipeline;
-- aug.schedule.at(s, epoch, batch) asks either kind. The paper's strategies: CA alternates
-- Combined+ and Combined- every epoch (alternate), IA keeps one augmentation (fixed).
local M = {}

local Schedule = {}
Schedule.__index = Schedule
function Schedule:__call(epoch, batch) return self:at(epoch, batch) end
function Schedule:__tostring() return self.text or 'schedule' end

local function check_step(epoch, batch, what)
  if type(epoch) ~= 'number' or epoch < 1 or epoch % 1 ~= 0 then
    error(what .. ': epoch must be a whole number >= 1, got ' .. tostring(epoch), 3)
  end
  if batch ~= nil and (type(batch) ~= 'number' or batch < 1 or batch % 1 ~= 0) then
    error(what .. ': batch must be a whole number >= 1, got ' .. tostring(batch), 3)
  end
end

--- aug.schedule.new(function(epoch, batch) return pipeline end [, text]): a function as a schedule.
function M.new(fn, text)
  if type(fn) ~= 'function' then error('aug.schedule.new: expected a function(epoch, batch)', 2) end
  return setmetatable({ at = function(_, epoch, batch) return fn(epoch, batch) end, text = text }, Schedule)
end

--- aug.schedule.fixed(p): p for every epoch and batch (IA).
function M.fixed(p)
  if p == nil then error('aug.schedule.fixed: expected a pipeline', 2) end
  return setmetatable({ at = function(_, epoch, batch) check_step(epoch, batch, 'schedule.fixed'); return p end,
                        text = 'fixed(' .. tostring(p) .. ')' }, Schedule)
end

--- aug.schedule.alternate({plus, minus, ...}, {every='epoch'|'batch'}): the pipelines in turn, the
--- first on odd epochs (or batches), the second on even ones (CA with {combined_plus, combined_minus}).
--- With every='batch' the turn restarts each epoch: batch 1 of every epoch gets the first.
function M.alternate(list, o)
  if type(list) ~= 'table' or #list < 1 then error('aug.schedule.alternate: expected a list of pipelines', 2) end
  o = o or {}
  local every = o.every or 'epoch'
  if every ~= 'epoch' and every ~= 'batch' then
    error("aug.schedule.alternate: every must be 'epoch' or 'batch', got '" .. tostring(every) .. "'", 2)
  end
  local items = { unpack(list) }
  local names = {}
  for i, p in ipairs(items) do names[i] = (type(p) == 'table' and p.label) or tostring(p) end
  return setmetatable({
    at = function(_, epoch, batch)
      check_step(epoch, batch, 'schedule.alternate')
      local k = every == 'epoch' and epoch or (batch or 1)
      return items[(k - 1) % #items + 1]
    end,
    text = 'alternate{' .. table.concat(names, ', ') .. '} every ' .. every,
  }, Schedule)
end

--- The pipeline of schedule s (object, function or plain pipeline) at (epoch, batch).
function M.at(s, epoch, batch)
  if type(s) == 'function' then return s(epoch, batch) end
  if type(s) == 'table' and type(s.at) == 'function' then return s:at(epoch, batch) end
  if type(s) == 'table' and type(s.apply) == 'function' then return s end   -- a pipeline: fixed
  error('aug.schedule.at: expected a schedule, a function(epoch, batch) or a pipeline, got ' .. tostring(s), 2)
end

return M
