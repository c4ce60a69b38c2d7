-- Helpers for specs that run rftlua under mpirun: whether it can, and how to run a chunk on N ranks.
-- OpenMPI refuses to start as root unless told it may (CI runs as root); --oversubscribe lets two
-- ranks start on a one-core machine. The chunks are written to temporary files.
local M = {}

local function sh(cmdline)
  local p = assert(io.popen(cmdline .. ' 2>&1; echo "rc=$?"'))
  local out = p:read('*a')
  p:close()
  local body, rc = out:match('^(.*)rc=(%d+)\n$')
  return body, tonumber(rc)
end

M.available = select(2, sh('command -v mpirun >/dev/null && test -e build/librft_mpi.so')) == 0

--- Runs Lua source on n ranks (n = 0: as a plain process), with env (a string of VAR=value words)
--- before the command. Returns the output and the exit status.
function M.run(n, source, args, env)
  local name = os.tmpname()
  local f = assert(io.open(name, 'wb'))
  f:write(source)
  f:close()
  local cmd = 'build/rftlua ' .. name .. ' ' .. (args or '')
  if n > 0 then
    cmd = 'OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 '
      .. 'timeout 120 mpirun -np ' .. n .. ' ' .. cmd
  end
  if env then cmd = env .. ' ' .. cmd end     -- mpirun hands its environment to the ranks it starts
  local out, rc = sh(cmd)
  os.remove(name)
  return out, rc
end

return M
