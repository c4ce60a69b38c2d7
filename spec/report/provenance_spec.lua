-- What a results.json records about how it was made (rft.report.command, .machine, .provenance).
local ffi = require 'ffi'
local report = require 'rft.report'
pcall(ffi.cdef, 'int setenv(const char *name, const char *value, int overwrite); int unsetenv(const char *name);')

describe('the provenance of a result', function()
  it('writes the command line back as a shell would take it', function()
    assert.equal("rftlua recipes/x.lua --seeds 0,1 --g Combined+ --out 'a b' 'it'\\''s'",
      report.command { [0] = 'recipes/x.lua', '--seeds', '0,1', '--g', 'Combined+', '--out', 'a b', "it's" })
    assert.is_nil(report.command {})
  end)

  it('names the CPU and the vector path the kernels take, forced AVX2 included', function()
    -- the same answers whatever this process was started with (ONEDNN_MAX_CPU_ISA=AVX2 runs included)
    local names, saved = { 'RFT_CPU_ISA', 'ONEDNN_MAX_CPU_ISA', 'DNNL_MAX_CPU_ISA' }, {}
    for _, n in ipairs(names) do saved[n] = os.getenv(n); ffi.C.unsetenv(n) end
    local m = report.machine()
    ffi.C.setenv('RFT_CPU_ISA', 'avx2', 1)
    local forced = report.machine()
    ffi.C.unsetenv('RFT_CPU_ISA')
    for _, n in ipairs(names) do if saved[n] then ffi.C.setenv(n, saved[n], 1) end end
    assert.is_string(m.cpu)
    assert.equal(require('rft').device(), m.device)
    assert.is_true(m.threads >= 1)
    if m.avx512_cpu then
      assert.equal('AVX-512', m.isa)
      assert.equal('AVX2+FMA (forced on an AVX-512 CPU)', forced.isa)
    else
      assert.equal(m.isa, forced.isa)       -- nothing to force on an AVX2 machine
    end
  end)

  it('records the commit of the working directory', function()
    local p = report.provenance { [0] = 'recipes/x.lua' }
    local head = io.popen('git rev-parse HEAD 2>/dev/null'):read('*l')
    assert.equal(head, p.commit)
    assert.equal('rftlua recipes/x.lua', p.command)
    assert.matches('^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$', p.date)
  end)
end)
