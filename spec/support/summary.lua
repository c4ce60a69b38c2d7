-- A busted output handler: busted's plain terminal output, then one closing line
-- "N passed, N failed, N skipped" that CI reads (errors count as failed, pending as skipped).
return function(options)
  local busted = require 'busted'
  local handler = require('busted.outputHandlers.plainTerminal')(options)
  busted.subscribe({ 'suite', 'end' }, function()
    io.write(string.format('%d passed, %d failed, %d skipped\n', #handler.successes,
      #handler.failures + #handler.errors, #handler.pendings))
    io.flush()
    return nil, true
  end)
  return handler
end
