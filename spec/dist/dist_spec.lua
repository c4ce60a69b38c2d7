-- rft.dist: collectives in a plain process (one rank, nothing changes) and, where mpirun and
-- librft_mpi are built, on two ranks through OpenMPI.
local rft = require 'rft'
local mpi = require 'support.mpi'

describe('rft.dist in a plain process', function()
  it('is rank 0 of 1', function()
    assert.equal(0, rft.dist.rank())
    assert.equal(1, rft.dist.size())
    assert.equal('', rft.dist.library())
  end)
  it('leaves tensors and numbers as they are', function()
    local t = rft.from_table({ 1.5, -2, 3 }, { 3 })
    rft.dist.allreduce(t, 'sum'); rft.dist.allreduce(t, 'mean'); rft.dist.broadcast(t, 0)
    assert.same({ 1.5, -2, 3 }, t:to_table())
    assert.same({ 0.25, 7 }, rft.dist.allreduce_numbers({ 0.25, 7 }))
    rft.dist.barrier()
  end)
  it('rejects bad arguments, saying what is wrong', function()
    local t = rft.from_table({ 1 }, { 1 })
    assert.error_matches(function() rft.dist.allreduce(t, 'max') end, "op must be 'sum' or 'mean', got max", 1, true)
    assert.error_matches(function() rft.dist.broadcast(t, 1) end, 'root is 1, expected a rank in [0, 1)', 1, true)
    assert.error_matches(function() rft.dist.allreduce(rft.tensor { shape = { 2 }, dtype = 'u8' }) end,
      'dist.allreduce: tensor must be f32 (or i32 for \'sum\'), got u8', 1, true)
    assert.error_matches(function() rft.dist.allreduce(rft.tensor { shape = { 2 }, dtype = 'i32' }, 'mean') end,
      'got i32', 1, true)
  end)
end)

local on_mpi = mpi.available and describe or pending
on_mpi('rft.dist on two ranks (mpirun)', function()
  it('sums, averages, broadcasts and reduces numbers in double precision', function()
    local out, rc = mpi.run(2, [[
      local rft = require 'rft'
      local d = rft.dist
      local r = d.rank()
      local s = rft.from_table({ r + 1, -(r + 1) * 0.5 }, { 2 })
      local m = rft.from_table({ r * 4.0 }, { 1 })
      local i = rft.from_table({ r + 1 }, { 1 }, 'i32')
      local b = rft.from_table({ r == 1 and 42 or -1, r }, { 2 })
      d.allreduce(s, 'sum'); d.allreduce(m, 'mean'); d.allreduce(i, 'sum'); d.broadcast(b, 1)
      local n = d.allreduce_numbers({ 0.1 * (r + 1), 1 + r }, 'sum')
      print(string.format('R%d %d %d %g %g %g %d %g %g %.17g %g %d', r, d.size(), d.local_rank(),
        s:to_table()[1], s:to_table()[2], m:to_table()[1], i:to_table()[1], b:to_table()[1], b:to_table()[2],
        n[1], n[2], #d.library() > 0 and 1 or 0))
      d.barrier()
    ]], '', 'RFT_DIST_ALL_PRINT=1')
    assert.equal(0, rc, out)
    for r = 0, 1 do
      assert.truthy(out:find(string.format('R%d 2 %d 3 -1.5 2 3 42 1 0.30000000000000004 3 1', r, r), 1, true), out)
    end
  end)
  it('starts all-reduces that finish later, in any order of waiting, beside blocking collectives', function()
    local out, rc = mpi.run(2, [[
      local rft = require 'rft'
      local d = rft.dist
      local r = d.rank()
      local a = rft.from_table({ r + 1, 10 * (r + 1) }, { 2 })
      local b = rft.from_table({ 4 * r }, { 1 })
      local ra, rb = d.iallreduce(a, 'sum'), d.iallreduce(b, 'mean')
      local n = d.allreduce_numbers({ r + 1 }, 'sum')        -- a blocking collective while both are in flight
      local tests = 0
      while not d.test(rb) do tests = tests + 1 end
      d.wait(rb); d.wait(ra)
      local ok, err = pcall(d.wait, ra)
      print(string.format('R%d %g %g %g %g %s %s', r, a:to_table()[1], a:to_table()[2], b:to_table()[1], n[1],
        tostring(ra > 0 and rb > 0 and ra ~= rb), ok and 'no error' or err:match('request %d+ is not an all%-reduce in flight')))
    ]], '', 'RFT_DIST_ALL_PRINT=1')
    assert.equal(0, rc, out)
    for r = 0, 1 do
      assert.truthy(out:find(string.format('R%d 3 30 2 3 true request', r), 1, true), out)
    end
  end)
  it('prints on rank 0 alone', function()
    local out, rc = mpi.run(2, 'print("rank " .. require("rft").dist.rank())')
    assert.equal(0, rc, out)
    assert.equal('rank 0\n', out)
  end)
  it('fails in one line when a launched process cannot load the MPI support', function()
    local p = io.popen('OMPI_COMM_WORLD_SIZE=2 RFT_MPI_LIB=/nonexistent/librft_mpi.so '
      .. 'build/rftlua -e "print(require(\'rft\').dist.size())" 2>&1; echo rc=$?')
    local o = p:read('*a'); p:close()
    assert.truthy(o:find('dist: started by an MPI launcher, but the MPI support cannot be loaded', 1, true), o)
    assert.falsy(o:find('rc=0', 1, true), o)
  end)
end)
