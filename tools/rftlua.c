/*
 * rftlua: the rft command line. A LuaJIT host that behaves like the `luajit`
 * executable (scripts, -e, -i, reading stdin, the `arg` table) and adds two
 * things: package.path is set up so `require 'rft'` finds the project's Lua
 * modules from a build tree or an installed prefix, and the REPL has
 * readline editing, persistent history and prints every value it evaluates.
 * Its stdout is line-buffered when it is not a terminal, so a log shows each line as printed.
 *
 * It is not part of the engine: it calls no librft function. It only links
 * librft so that the FFI bindings in lua/rft can reach its symbols via ffi.C.
 */
/* POSIX.1-2008 with XSI, for realpath, readlink, setenv, getline. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>

#define PROGNAME "rftlua"
#define PROMPT1 "> "
#define PROMPT2 ">> "
#define HISTORY_MAX 1000

enum { OPT_EXEC = 1, OPT_INTERACTIVE = 2, OPT_VERSION = 4, OPT_HELP = 8 };
enum { CHUNK_EOF = -1, CHUNK_CANCELLED = -2 };

static lua_State *running_L;            /* state being run, for SIGINT */
static volatile sig_atomic_t line_cancelled; /* Ctrl-C at the prompt */
static int tty_repl;                    /* REPL reads a tty via readline */
static char history_path[PATH_MAX];

static void usage(FILE *out)
{
  fputs("usage: " PROGNAME " [options] [script [args]]\n"
        "Available options are:\n"
        "  -e chunk  Execute string 'chunk'.\n"
        "  -i        Enter interactive mode after executing 'script'.\n"
        "  -v        Show version information.\n"
        "  -h        Show this help.\n"
        "  --        Stop handling options.\n"
        "  -         Execute stdin and stop handling options.\n", out);
}

/* ---- Running Lua code --------------------------------------------------- */

static void stop_hook(lua_State *L, lua_Debug *ar)
{
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void on_sigint(int sig)
{
  (void)sig;
  if (running_L)
    lua_sethook(running_L, stop_hook,
                LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void set_sigint(void (*handler)(int), int flags)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
}

/* Whether msg starts with a source position, "chunk:line:". Errors raised without one
 * (error(msg, 0): a missing dataset, an unusable device) are messages for the user, printed as one
 * line; errors with one are bugs or failed calls in a script, and get a traceback. */
static int has_position(const char *msg)
{
  const char *end = strstr(msg, ": ");      /* the position is what precedes the first ": " */
  if (!end) return 0;
  const char *p = end;
  while (p > msg && isdigit((unsigned char)p[-1])) p--;
  return p < end && p > msg + 1 && p[-1] == ':';
}

/* Message handler: appends a traceback to the error message (see has_position). */
static int msghandler(lua_State *L)
{
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)",
                            luaL_typename(L, 1));
  }
  if (lua_type(L, 1) == LUA_TSTRING && !has_position(msg)) return 1;
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Calls the function below its narg arguments with a traceback handler.
 * A first Ctrl-C raises "interrupted!" in Lua, a second one kills. */
static int docall(lua_State *L, int narg, int nres)
{
  int base = lua_gettop(L) - narg;
  int status;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  running_L = L;
  set_sigint(on_sigint, SA_RESETHAND | SA_RESTART);
  status = lua_pcall(L, narg, nres, base);
  set_sigint(SIG_DFL, 0);
  running_L = NULL;
  lua_sethook(L, NULL, 0, 0);
  lua_remove(L, base);
  return status;
}

/* On failure prints and pops the error message, a string: load errors are,
 * and msghandler turns runtime errors into one. */
static int report(lua_State *L, int status)
{
  if (status != LUA_OK) {
    fprintf(stderr, "%s: %s\n", PROGNAME, lua_tostring(L, -1));
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}

static int dostring(lua_State *L, const char *code, const char *name)
{
  int status = luaL_loadbuffer(L, code, strlen(code), name);
  if (status == LUA_OK)
    status = docall(L, 0, 0);
  return report(L, status);
}

/* Runs a chunk that returns rft's version as a string; leaves the version or
 * the error message on the stack. */
static int rft_version(lua_State *L, const char *chunk)
{
  int status = luaL_loadstring(L, chunk);
  return status == LUA_OK ? lua_pcall(L, 0, 1, 0) : status;
}

/* ---- Setup -------------------------------------------------------------- */

static int has_rft(const char *dir)
{
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "%s/rft/init.lua", dir);
  return n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0;
}

/* Finds the first Lua root holding rft/init.lua, exports it as RFT_LUA_DIR
 * and puts it in front of package.path. Without one, nothing changes. */
static void setup_lua_path(lua_State *L)
{
  char exe[PATH_MAX], build[PATH_MAX], installed[PATH_MAX], root[PATH_MAX];
  const char *candidates[5];
  int n = 0, i;
  ssize_t len;
  candidates[n++] = getenv("RFT_LUA_DIR");
  len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    char *slash;
    exe[len] = '\0';
    if ((slash = strrchr(exe, '/')) != NULL)
      *slash = '\0';
    if (snprintf(build, sizeof build, "%s/../lua", exe) < (int)sizeof build)
      candidates[n++] = build;
    if (snprintf(installed, sizeof installed, "%s/../share/rft/lua", exe) <
        (int)sizeof installed)
      candidates[n++] = installed;
  }
#ifdef RFT_SOURCE_LUA_DIR
  candidates[n++] = RFT_SOURCE_LUA_DIR;
#endif
#ifdef RFT_INSTALL_LUA_DIR
  candidates[n++] = RFT_INSTALL_LUA_DIR;
#endif
  for (i = 0; i < n; i++) {
    if (candidates[i] == NULL || !has_rft(candidates[i]))
      continue;
    if (realpath(candidates[i], root) == NULL)
      snprintf(root, sizeof root, "%s", candidates[i]);
    setenv("RFT_LUA_DIR", root, 1);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", root, root,
                    lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
    return;
  }
}

/* Returns the index of the script in argv (argc if none), or -1 when the
 * options are invalid. */
static int parse_args(int argc, char **argv, int *flags)
{
  int i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || a[1] == '\0')
      return i;                         /* script, or "-" for stdin */
    if (strcmp(a, "--") == 0)
      return i + 1;
    if (a[1] == 'e') {
      *flags |= OPT_EXEC;
      if (a[2] == '\0' && ++i == argc)
        return -1;
      continue;
    }
    if (a[2] != '\0')
      return -1;
    switch (a[1]) {
    case 'i': *flags |= OPT_INTERACTIVE; break;
    case 'v': *flags |= OPT_VERSION; break;
    case 'h': *flags |= OPT_HELP; break;
    default: return -1;
    }
  }
  return argc;
}

/* Same layout as luajit: arg[0] is the script, options are negative. */
static void create_arg_table(lua_State *L, int argc, char **argv, int script)
{
  int i;
  lua_createtable(L, argc - script, script);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* Runs a file (stdin if fname is NULL) with the given arguments as `...`. */
static int dofile(lua_State *L, const char *fname, char **args, int nargs)
{
  int status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int i;
    for (i = 0; i < nargs; i++)
      lua_pushstring(L, args[i]);
    status = docall(L, nargs, 0);
  }
  return report(L, status);
}

/* ---- REPL --------------------------------------------------------------- */

/* readline's getc: like rl_getc, but a Ctrl-C ends the line so that the REPL
 * can drop it (readline itself echoes ^C and resets the terminal). */
static int repl_getc(FILE *in)
{
  for (;;) {
    unsigned char c;
    ssize_t n = read(fileno(in), &c, 1);
    if (n == 1)
      return c;
    if (n == 0 || errno != EINTR)
      return EOF;
    if (rl_pending_signal() == SIGINT) {
      line_cancelled = 1;
      return '\n';
    }
    rl_check_signals();
  }
}

static void save_history(void)
{
  write_history(history_path);
}

static void init_readline(void)
{
  const char *home = getenv("HOME");
  rl_readline_name = PROGNAME;
  rl_getc_function = repl_getc;
  using_history();
  stifle_history(HISTORY_MAX);
  if (home && *home &&
      snprintf(history_path, sizeof history_path, "%s/.rftlua_history",
               home) < (int)sizeof history_path) {
    read_history(history_path);
    atexit(save_history);
  }
}

/* Reads one line without its newline; NULL at end of input. */
static char *read_line(const char *prompt)
{
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  line_cancelled = 0;
  if (tty_repl) {
    /* readline forwards SIGINT to the previous handler, which must exist. */
    set_sigint(on_sigint, 0);
    line = readline(prompt);
    if (line && *line && !line_cancelled)
      add_history(line);
    return line;
  }
  n = getline(&line, &cap, stdin);
  if (n < 0) {
    free(line);
    return NULL;
  }
  if (n > 0 && line[n - 1] == '\n')
    line[n - 1] = '\0';
  return line;
}

/* A syntax error at the end of the input means the chunk is incomplete. */
static int incomplete(lua_State *L, int status)
{
  static const char eof[] = LUA_QL("<eof>");
  size_t len;
  const char *msg;
  if (status != LUA_ERRSYNTAX)
    return 0;
  msg = lua_tolstring(L, -1, &len);
  return len >= sizeof eof - 1 &&
         strcmp(msg + len - (sizeof eof - 1), eof) == 0;
}

/* Reads and compiles one chunk: first as an expression list whose values are
 * returned, else as statements, asking for more lines while incomplete.
 * Returns the load status with the function or message on the stack, or
 * CHUNK_EOF / CHUNK_CANCELLED. */
static int load_chunk(lua_State *L)
{
  int status;
  size_t len;
  const char *src;
  char *line = read_line(PROMPT1);
  if (line == NULL)
    return CHUNK_EOF;
  if (line_cancelled) {
    free(line);
    return CHUNK_CANCELLED;
  }
  if (line[0] == '=') {                 /* Lua 5.1 style "=expr" */
    lua_pushfstring(L, "return %s", line + 1);
  } else {
    /* `return <line>`, but passing the values through a function so that a
     * call on the line is no tail call and keeps its frame in tracebacks.
     * The newline keeps a trailing comment from swallowing the ")". */
    src = lua_pushfstring(L, "return (function(...) return ... end)(%s\n)",
                          line);
    if (luaL_loadbuffer(L, src, strlen(src), "=stdin") == LUA_OK) {
      lua_remove(L, -2);
      free(line);
      return LUA_OK;
    }
    lua_pop(L, 2);
    lua_pushstring(L, line);
  }
  free(line);
  for (;;) {                            /* source on top of the stack */
    src = lua_tolstring(L, -1, &len);
    status = luaL_loadbuffer(L, src, len, "=stdin");
    if (!incomplete(L, status) || (line = read_line(PROMPT2)) == NULL)
      break;                            /* EOF here reports the error */
    lua_pop(L, 1);
    if (line_cancelled) {
      free(line);
      lua_pop(L, 1);
      return CHUNK_CANCELLED;
    }
    lua_pushliteral(L, "\n");
    lua_pushstring(L, line);
    lua_concat(L, 3);
    free(line);
  }
  lua_remove(L, -2);
  return status;
}

static void repl(lua_State *L)
{
  tty_repl = isatty(STDIN_FILENO);
  if (tty_repl)
    init_readline();
  if (rft_version(L, "rft = require('rft') return tostring(rft.version())") ==
      LUA_OK) {
    printf("rft %s \xe2\x80\x94 %s; 'rft' is loaded. Ctrl-D to quit.\n",
           lua_tostring(L, -1), LUAJIT_VERSION);
  } else {
    fprintf(stderr, "%s: cannot load rft: %s\n", PROGNAME,
            lua_tostring(L, -1));
    printf("%s. Ctrl-D to quit.\n", LUAJIT_VERSION);
  }
  fflush(stdout);
  for (;;) {
    int status;
    lua_settop(L, 0);
    status = load_chunk(L);
    if (status == CHUNK_EOF)
      break;
    if (status == CHUNK_CANCELLED)
      continue;
    if (status == LUA_OK)
      status = docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK && lua_gettop(L) > 0) {
      lua_getglobal(L, "print");
      lua_insert(L, 1);
      status = docall(L, lua_gettop(L) - 1, 0);
    }
    report(L, status);
    fflush(stdout);
  }
  lua_settop(L, 0);
  fputc('\n', stdout);
  fflush(stdout);
}

/* ---- Main --------------------------------------------------------------- */

static int run(lua_State *L, int argc, char **argv, int script, int flags)
{
  int i;
  if (flags & OPT_VERSION) {
    if (rft_version(L, "return tostring(require('rft').version())") !=
        LUA_OK) {
      fprintf(stderr, "%s (%s): cannot load rft: %s\n", PROGNAME,
              LUAJIT_VERSION, lua_tostring(L, -1));
      return 1;
    }
    printf("%s %s (%s)\n", PROGNAME, lua_tostring(L, -1), LUAJIT_VERSION);
    fflush(stdout);
    lua_pop(L, 1);
  }
  for (i = 1; i < script; i++) {
    const char *a = argv[i];
    if (a[0] == '-' && a[1] == 'e') {
      const char *code = a[2] != '\0' ? a + 2 : argv[++i];
      if (dostring(L, code, "=(command line)") != LUA_OK)
        return 1;
    }
  }
  if (script < argc) {
    const char *fname = argv[script];
    if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0)
      fname = NULL;                     /* "-" is stdin, "-- -" a file */
    if (dofile(L, fname, argv + script + 1, argc - script - 1) != LUA_OK)
      return 1;
  }
  if (flags & OPT_INTERACTIVE) {
    repl(L);
  } else if (script == argc && !(flags & (OPT_EXEC | OPT_VERSION))) {
    if (isatty(STDIN_FILENO))
      repl(L);
    else if (dofile(L, NULL, NULL, 0) != LUA_OK)
      return 1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  int flags = 0, status;
  int script = parse_args(argc, argv, &flags);
  lua_State *L;
  if (script < 0) {
    usage(stderr);
    return 1;
  }
  if (flags & OPT_HELP) {
    usage(stdout);
    return 0;
  }
  /* Into a file or a pipe, stdout would be fully buffered: `rftlua recipe.lua > log` would show
     nothing of a model summary or an epoch line until kilobytes had gathered. Line by line, a
     `tail -f log` sees each line when it is printed. */
  if (!isatty(STDOUT_FILENO))
    setvbuf(stdout, NULL, _IOLBF, 0);
  L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create Lua state\n", PROGNAME);
    return 1;
  }
  luaL_openlibs(L);
  setup_lua_path(L);
  create_arg_table(L, argc, argv, script);
  status = run(L, argc, argv, script, flags);
  lua_close(L);
  return status;
}
