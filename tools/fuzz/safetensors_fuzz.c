/* safetensors_fuzz.c: a libFuzzer harness for rft's safetensors reader (lua/rft/safetensors.lua and
 * the engine calls it makes). LuaJIT is embedded with lua/ on package.path, as rftlua sets it up,
 * and librft linked in, so `require 'rft'` binds the engine through ffi.C exactly as rftlua does.
 *
 * Each input is written to a file and loaded. Allowed outcomes: the load fails with rft's own
 * one-line message naming the file ("safetensors: <path>: ..."), or it succeeds, and then every
 * tensor prints, summarises and reads back as Lua numbers (no NaN-tag confusion), non-finite values
 * are found, and a save + load round trip gives the same names, shapes and bytes. Anything else
 * (another Lua error, a crash, a sanitizer report, a hang) is a finding: the harness aborts.
 *
 * LuaJIT's interpreter is not instrumented, so the harness feeds libFuzzer Lua line coverage itself:
 * a line hook counts (previous line, line) pairs in libFuzzer's extra-counters section.
 * Build and run: tools/fuzz/run.sh (see tools/fuzz/README.md). Not part of librft or rftlua. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COV_SIZE (1 << 16)
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t lua_cov[COV_SIZE];
static uintptr_t prev_loc;
static lua_State *L;
static char path[256];
static long runs;

static void line_hook(lua_State *Ls, lua_Debug *ar)
{
    if (!lua_getinfo(Ls, "S", ar)) return;
    uintptr_t loc = ((uintptr_t)ar->source * 31u + (uintptr_t)ar->currentline * 2654435761u) & (COV_SIZE - 1);
    lua_cov[(loc ^ prev_loc) & (COV_SIZE - 1)]++;
    prev_loc = loc >> 1;
}

/* The Lua side: returns a function(path) -> nil (fine) or a string (a finding). */
static const char driver[] =
    "local rft = require 'rft'\n"
    "local st = rft.safetensors\n"
    "local function numbers(t)\n"
    "  local s = tostring(t)\n"
    "  if type(s) ~= 'string' then return 'tostring gave ' .. type(s) end\n"
    "  if t:numel() > 0 then\n"
    "    for _, v in ipairs { t:stats() } do if type(v) ~= 'number' then return 'stats gave ' .. type(v) end end\n"
    "  end\n"
    "  if t:numel() <= 4096 then\n"
    "    for i, v in ipairs(t:to_table()) do\n"
    "      if type(v) ~= 'number' then return 'to_table[' .. i .. '] is a ' .. type(v) end\n"
    "    end\n"
    "    local p = t:data()\n"
    "    for i = 0, t:numel() - 1 do if type(p[i]) ~= 'number' then return 'data()[' .. i .. '] is not a number' end end\n"
    "  end\n"
    "end\n"
    "return function(path)\n"
    "  local ok, t, meta = pcall(st.load, path)\n"
    "  if not ok then\n"
    "    local want = 'safetensors: ' .. path .. ': '\n"
    "    if type(t) ~= 'string' or t:sub(1, #want) ~= want or t:find('\\n') then\n"
    "      return 'unclean error: ' .. tostring(t)\n"
    "    end\n"
    "    return nil\n"
    "  end\n"
    "  for name, x in pairs(t) do\n"
    "    local bad = numbers(x)\n"
    "    if bad then return name .. ': ' .. bad end\n"
    "  end\n"
    "  st.nonfinite(t)\n"
    "  local out = path .. '.out'\n"
    "  st.save(out, t, meta)\n"
    "  local t2, meta2 = st.load(out)\n"
    "  os.remove(out)\n"
    "  for name, x in pairs(t) do\n"
    "    local y = t2[name]\n"
    "    if not y or table.concat(x:shape(), ',') ~= table.concat(y:shape(), ',') or x:dtype() ~= y:dtype() then\n"
    "      return 'round trip lost ' .. name\n"
    "    end\n"
    "    local n = x:numel() * (x:dtype() == 'u8' and 1 or 4)\n"
    "    if n > 0 and require('ffi').string(x:data(), n) ~= require('ffi').string(y:data(), n) then\n"
    "      return 'round trip changed ' .. name\n"
    "    end\n"
    "  end\n"
    "  for k, v in pairs(meta) do if meta2[k] ~= v then return 'round trip changed metadata ' .. k end end\n"
    "end\n";

static void close_lua(void) { if (L) lua_close(L); L = NULL; }

static void set_path(lua_State *Ls, const char *root)
{
    lua_getglobal(Ls, "package");
    lua_getfield(Ls, -1, "path");
    lua_pushfstring(Ls, "%s/?.lua;%s/?/init.lua;%s", root, root, lua_tostring(Ls, -1));
    lua_setfield(Ls, -3, "path");
    lua_pop(Ls, 2);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *root = getenv("RFT_LUA_DIR");
#ifdef RFT_SOURCE_LUA_DIR
    if (!root) root = RFT_SOURCE_LUA_DIR;
#endif
    if (!root) { fprintf(stderr, "safetensors_fuzz: set RFT_LUA_DIR to rft's lua/ folder\n"); abort(); }
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/rft-fuzz-%ld.safetensors", dir, (long)getpid());
    L = luaL_newstate();
    luaL_openlibs(L);
    set_path(L, root);
    if (luaL_loadbuffer(L, driver, sizeof driver - 1, "=fuzz_driver") || lua_pcall(L, 0, 1, 0)) {
        fprintf(stderr, "safetensors_fuzz: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_setglobal(L, "fuzz_one");
    atexit(close_lua);                                 /* no leak reports for Lua's live heap */
    if (!getenv("RFT_FUZZ_NO_LUA_COVERAGE")) lua_sethook(L, line_hook, LUA_MASKLINE, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) { perror(path); abort(); }
    prev_loc = 0;
    lua_getglobal(L, "fuzz_one");
    lua_pushstring(L, path);
    if (lua_pcall(L, 1, 1, 0)) {
        fprintf(stderr, "safetensors_fuzz: the harness itself raised: %s\n", lua_tostring(L, -1));
        abort();
    }
    if (lua_isstring(L, -1)) {
        fprintf(stderr, "safetensors_fuzz: finding: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_pop(L, 1);
    if (++runs % 256 == 0) lua_gc(L, LUA_GCCOLLECT, 0);    /* tensors hold engine memory Lua cannot see */
    return 0;
}
