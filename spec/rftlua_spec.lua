-- Behaviour of the rftlua host program (tools/rftlua.c), run as a child
-- process from the repository root against the built binary build/rftlua.

local BIN = 'build/rftlua'

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs a shell command line; returns its output (stdout and stderr unless
-- the command redirects them itself) and its exit status.
local function sh(cmdline)
  local p = assert(io.popen('sh -c ' .. quote('{ ' .. cmdline .. '\n} 2>&1; echo "rc=$?"')))
  local out = p:read('*a')
  p:close()
  local body, rc = out:match('^(.*)rc=(%d+)\n$')
  assert(rc, 'no exit status in: ' .. out)
  return body, tonumber(rc)
end

-- Runs rftlua on a pseudo-terminal. script(1) hands its command to $SHELL;
-- exec makes rftlua that process, so a ^C on the terminal reaches rftlua
-- alone (dash would otherwise die of it while waiting for its child).
local ON_TERMINAL = 'timeout 20 script -qec ' .. quote('exec ' .. BIN) .. ' /dev/null'

local temps = {}

local function tmpfile(content)
  local name = os.tmpname()
  temps[#temps + 1] = name
  local f = assert(io.open(name, 'wb'))
  f:write(content)
  f:close()
  return name
end

local function tmpdir()
  local name = os.tmpname()
  os.remove(name)
  assert(os.execute('mkdir -p ' .. quote(name)) == 0)
  temps[#temps + 1] = name
  return name
end

-- A stand-in for lua/rft so that tests do not depend on the engine.
local function fake_rft(version)
  local dir = tmpdir()
  assert(os.execute('mkdir -p ' .. quote(dir .. '/rft')) == 0)
  local f = assert(io.open(dir .. '/rft/init.lua', 'wb'))
  f:write(("return { version = function() return %q end }\n"):format(version))
  f:close()
  return dir
end

-- Drops terminal escape sequences and carriage returns from pty output.
local function plain(s)
  return (s:gsub('\27%[[%d;?]*%a', ''):gsub('\r', ''))
end

local has_script = os.execute('command -v script >/dev/null 2>&1') == 0

-- `it` for tests of the binary; pending (not passing) when it is not built,
-- or, with needs_tty, when script(1) is missing to give it a terminal.
local function test(name, fn, needs_tty)
  it(name, function()
    if not exists(BIN) then pending('build/rftlua not built') end
    if needs_tty and not has_script then pending('script(1) not available') end
    fn()
  end)
end

describe('rftlua', function()
  teardown(function()
    for _, name in ipairs(temps) do os.execute('rm -rf ' .. quote(name)) end
  end)

  test('runs -e chunks in order, before a script', function()
    local out, rc = sh(BIN .. [[ -e 'print(6*7)']])
    assert.are.equal(0, rc)
    assert.are.equal('42\n', out)
    local script = tmpfile('print("x is", x)\n')
    out, rc = sh(BIN .. [[ -e 'x = 1' -e 'x = x + 1' ]] .. script)
    assert.are.equal(0, rc)
    assert.are.equal('x is\t2\n', out)
  end)

  test('builds arg and ... like luajit', function()
    local script = tmpfile([[
print(arg[-1], arg[0], arg[1], arg[2], arg[3])
print(select('#', ...), ...)
]])
    local out, rc = sh(BIN .. ' ' .. script .. [[ a 'b c']])
    assert.are.equal(0, rc)
    assert.are.equal(('%s\t%s\ta\tb c\tnil\n2\ta\tb c\n'):format(BIN, script), out)
    out, rc = sh(BIN .. [[ -e 'print(arg[-3], arg[-2], arg[-1], arg[0])' ]] .. script)
    assert.are.equal(0, rc)
    assert.are.equal(('%s\t-e\t%s\t%s\n'):format(BIN, [[print(arg[-3], arg[-2], arg[-1], arg[0])]], script),
      out:match('^[^\n]*\n'))
  end)

  test('reports a runtime error with a traceback on stderr and exits 1', function()
    local script = tmpfile([[
local function inner() error('boom') end
inner()
]])
    local err, rc = sh(BIN .. ' ' .. script .. ' 2>&1 >/dev/null')
    assert.are.equal(1, rc)
    assert.truthy(err:find('^rftlua: [^\n]*:1: boom\n'), err)
    assert.truthy(err:find('stack traceback:', 1, true), err)
    assert.truthy(err:find("in function 'inner'", 1, true), err)
  end)

  test('exits 1 on a syntax error', function()
    local out, rc = sh(BIN .. [[ -e 'x = = 1']])
    assert.are.equal(1, rc)
    assert.truthy(out:find('^rftlua: %(command line%):1:'), out)
  end)

  test('exits 1 naming a missing script', function()
    local missing = tmpdir() .. '/no_such_script.lua'
    local out, rc = sh(BIN .. ' ' .. missing)
    assert.are.equal(1, rc)
    assert.truthy(out:find('rftlua: cannot open ' .. missing, 1, true), out)
  end)

  test('writes each line of stdout to a file when it is printed, not at exit', function()
    -- The script reads back the file its own stdout goes to while still running: with stdout
    -- fully buffered (C's default for a file) the line would not be there yet.
    local log = tmpfile('')
    local script = tmpfile(([[
print('summary line')
local f = assert(io.open(%q, 'rb'))
local seen = f:read('*a')
f:close()
io.stderr:write('seen: [', seen, ']\n')
os.exit(seen == 'summary line\n' and 0 or 5)
]]):format(log))
    local err, rc = sh(BIN .. ' ' .. script .. ' > ' .. quote(log))
    assert.are.equal(0, rc, err)
  end)

  test('passes os.exit status through', function()
    local _, rc = sh(BIN .. [[ -e 'os.exit(3)']])
    assert.are.equal(3, rc)
  end)

  test('runs a script from stdin', function()
    local out, rc = sh([[printf 'print("stdin", ...)' | ]] .. BIN .. ' - x y')
    assert.are.equal(0, rc)
    assert.are.equal('stdin\tx\ty\n', out)
    out, rc = sh([[printf 'print(1 + 1)\nprint("done")' | ]] .. BIN)
    assert.are.equal(0, rc)
    assert.are.equal('2\ndone\n', out)
  end)

  test('prints usage for -h and rejects unknown options', function()
    local out, rc = sh(BIN .. ' -h')
    assert.are.equal(0, rc)
    assert.truthy(out:find('^usage: rftlua'), out)
    out, rc = sh(BIN .. ' -Z')
    assert.are.equal(1, rc)
    assert.truthy(out:find('^usage: rftlua'), out)
  end)

  test('finds rft through RFT_LUA_DIR and exports the root it chose', function()
    local dir = fake_rft('9.8.7')
    local env = 'RFT_LUA_DIR=' .. quote(dir) .. ' '
    local out, rc = sh(env .. BIN .. ' -v')
    assert.are.equal(0, rc)
    assert.truthy(out:find('^rftlua 9%.8%.7 %(LuaJIT [^)]+%)\n$'), out)
    out, rc = sh('env -u LUA_PATH ' .. env .. BIN ..
      [[ -e 'print(os.getenv("RFT_LUA_DIR")); print(package.path)']])
    assert.are.equal(0, rc)
    local root, path = out:match('^([^\n]+)\n([^\n]+)\n$')
    assert.truthy(root, out)
    assert.are.equal(dir:match('[^/]+$'), root:match('[^/]+$'))
    local prefix = root .. '/?.lua;' .. root .. '/?/init.lua;'
    assert.are.equal(prefix, path:sub(1, #prefix))
    assert.truthy(path:find(';./?.lua;', 1, true), 'default path kept: ' .. path)
  end)

  test('prints expression values in the REPL read from a pipe', function()
    local env = 'HOME=' .. quote(tmpdir()) .. ' RFT_LUA_DIR=' .. quote(fake_rft('1.2.3')) .. ' '
    local input = table.concat({
      '1 + 2',
      '=4, nil, "s"',
      'for i = 1, 2 do',
      'print("i", i)',
      'end',
      'error("oops")',
      'rft.version()',
    }, '\n') .. '\n'
    local out, rc = sh('printf %s ' .. quote(input) .. ' | ' .. env .. BIN .. ' -i')
    assert.are.equal(0, rc)
    assert.truthy(out:find('^rft 1%.2%.3 '), out)
    assert.truthy(out:find('\n3\n4\tnil\ts\ni\t1\ni\t2\n', 1, true), out)
    assert.truthy(out:find('rftlua: stdin:1: oops\nstack traceback:', 1, true), out)
    assert.truthy(out:find('\n1.2.3\n', 1, true), out)
  end)

  test('runs the readline REPL on a terminal and keeps history', function()
    local home = tmpdir()
    local env = 'HOME=' .. quote(home) .. ' RFT_LUA_DIR=' .. quote(fake_rft('1.2.3')) .. ' '
    local input = [[printf '6*7\nfor i = 1, 2 do\nprint(i)\nend\n']]
    local out, rc = sh(input .. ' | ' .. env .. ON_TERMINAL)
    out = plain(out)
    assert.are.equal(0, rc)
    assert.truthy(out:find("rft 1.2.3 \xe2\x80\x94 LuaJIT", 1, true), out)
    assert.truthy(out:find('\n> 6*7\n42\n', 1, true), out)
    assert.truthy(out:find('\n> for i = 1, 2 do\n>> print(i)\n>> end\n1\n2\n', 1, true), out)
    local f = assert(io.open(home .. '/.rftlua_history', 'rb'))
    local history = f:read('*a')
    f:close()
    assert.are.equal('6*7\nfor i = 1, 2 do\nprint(i)\nend\n', history)
  end, true)

  test('survives Ctrl-C during an evaluation and at the prompt', function()
    local env = 'HOME=' .. quote(tmpdir()) .. ' RFT_LUA_DIR=' .. quote(fake_rft('1.2.3')) .. ' '
    -- os.time() keeps the loop in the interpreter, where the hook can fire;
    -- the pauses let each ^C reach rftlua while it runs or waits for input.
    local input = table.concat({
      [[printf 'local t while true do t = tostring(os.time()) end\n']],
      [[sleep 1]], [[printf '\003']], [[sleep 0.5]],
      [[printf '"alive"\nfor i = 1, 3 do\n']],
      [[sleep 0.5]], [[printf '\003']], [[sleep 0.5]],
      [[printf 'print("dropped"'; sleep 0.5; printf '\003']], [[sleep 0.5]],
      [[printf '"again"\n']],
    }, '; ')
    local out, rc = sh('{ ' .. input .. '; } | ' .. env .. ON_TERMINAL)
    out = plain(out)
    assert.are.equal(0, rc)
    assert.truthy(out:find('rftlua: [^\n]*interrupted!'), out)
    assert.truthy(out:find('\nalive\n', 1, true), out)
    assert.truthy(out:find('\nagain\n', 1, true), out)
    assert.falsy(out:find('\ndropped\n', 1, true), out)
  end, true)
end)
