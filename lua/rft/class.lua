-- rft.class: single inheritance for Lua modules, as torch's class(): class('nn.Conv2d', 'nn.Module').
local registry = {}

local function class(name, parent)
  local c = {}
  c.__index = c
  c.__typename = name
  if parent then
    local p = registry[parent] or error('class: unknown parent ' .. tostring(parent), 2)
    setmetatable(c, { __index = p })
    c.__parent = p
    -- metamethods are looked up raw: copy them down
    for _, mm in ipairs { '__tostring', '__len' } do c[mm] = c[mm] or rawget(p, mm) end
  end
  registry[name] = c
  c.new = function(...)
    local o = setmetatable({}, c)
    if o.__init then o:__init(...) end
    return o
  end
  return c
end

return class
