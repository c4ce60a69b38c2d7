/* dnnl_util.c: oneDNN engine and stream, the workspace, and the plan cache for the CPU layer ops
 * (see dnnl_util.h). Plans hold everything made from a shape: primitives, reorders, memory objects
 * (whose data pointers are set per call), and offsets into the one workspace, which grows to the
 * largest plan's need and is reused by all of them. Nothing here knows about a particular layer. */
#include "nn/dnnl_util.h"
#include <dnnl_debug.h>
#include <stdlib.h>
#include <string.h>

static dnnl_engine_t engine;
static dnnl_stream_t stream;

int rft_dnnl_fail(const char *op, const char *what, dnnl_status_t s)
{
    return rft_fail(s == dnnl_out_of_memory ? RFT_ENOMEM : RFT_EARG, "%s: oneDNN %s failed (%s)", op, what,
                    dnnl_status2str(s));
}

#define DNNL_TRY(op, what, expr) \
    do { dnnl_status_t s_ = (expr); if (s_ != dnnl_success) return rft_dnnl_fail(op, what, s_); } while (0)

int rft_dnnl_engine(const char *op, dnnl_engine_t *out)
{
    if (!engine) {
        DNNL_TRY(op, "engine creation", dnnl_engine_create(&engine, dnnl_cpu, 0));
        DNNL_TRY(op, "stream creation", dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    }
    *out = engine;
    return RFT_OK;
}

int rft_dnnl_attr(const char *op, dnnl_primitive_attr_t *out)
{
    DNNL_TRY(op, "attribute creation", dnnl_primitive_attr_create(out));
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(*out, dnnl_scratchpad_mode_user);
    if (s != dnnl_success) {
        dnnl_primitive_attr_destroy(*out);
        return rft_dnnl_fail(op, "scratchpad mode", s);
    }
    return RFT_OK;
}

/* ---- workspace ------------------------------------------------------------------------------ */

/* Grows only: first touch of fresh pages costs more than the work of a small layer. */
static void *ws_data;
static size_t ws_size;

int rft_dnnl_workspace(const char *op, size_t nbytes, char **out)
{
    if (nbytes > ws_size) {
        void *p = NULL;
        if (posix_memalign(&p, 4096, nbytes))
            return rft_fail(RFT_ENOMEM, "%s: out of memory for a %zu-byte workspace", op, nbytes);
        free(ws_data);
        ws_data = p;
        ws_size = nbytes;
    }
    *out = ws_data;
    return RFT_OK;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* ---- plans ---------------------------------------------------------------------------------- */

enum { CACHE_SLOTS = 96 };
static struct {
    bool used;
    uint64_t last_use;
    unsigned char key[RFT_DNNL_KEY_BYTES];
    rft_dnnl_plan plan;
} cache[CACHE_SLOTS];
static uint64_t tick;

void rft_dnnl_plan_clear(rft_dnnl_plan *p)
{
    for (int i = 0; i < p->nargs; i++) {
        rft_dnnl_arg *a = &p->args[i];
        if (a->reorder) dnnl_primitive_destroy(a->reorder);
        if (a->op) dnnl_memory_destroy(a->op);
        if (a->user) dnnl_memory_destroy(a->user);
    }
    if (p->scratch) dnnl_memory_destroy(p->scratch);
    if (p->prim) dnnl_primitive_destroy(p->prim);
    memset(p, 0, sizeof *p);
}

rft_dnnl_plan *rft_dnnl_plan_find(const void *key, size_t nbytes, rft_dnnl_plan **slot)
{
    unsigned char k[RFT_DNNL_KEY_BYTES] = {0};
    memcpy(k, key, nbytes < sizeof k ? nbytes : sizeof k);
    int victim = 0;
    tick++;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (cache[i].used && memcmp(cache[i].key, k, sizeof k) == 0) {
            cache[i].last_use = tick;
            if (cache[i].plan.prim) return &cache[i].plan;
            *slot = &cache[i].plan;            /* a build under this key failed before: retry */
            return NULL;
        }
        if (!cache[i].used || (cache[victim].used && cache[i].last_use < cache[victim].last_use)) victim = i;
    }
    rft_dnnl_plan_clear(&cache[victim].plan);
    cache[victim].used = true;
    cache[victim].last_use = tick;
    memcpy(cache[victim].key, k, sizeof k);
    *slot = &cache[victim].plan;
    return NULL;
}

/* (Re)makes the reorder of one argument; outputs that accumulate get `+= scale *` fused in. */
static int make_reorder(rft_dnnl_arg *a, const char *op, float scale)
{
    const dnnl_memory_desc_t *umd, *omd;
    dnnl_memory_get_memory_desc(a->user, &umd);
    dnnl_memory_get_memory_desc(a->op, &omd);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t post = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = dnnl_success;
    const char *what = "reorder";
    if (a->spec.accumulate) {
        what = "accumulating reorder";
        s = dnnl_primitive_attr_create(&attr);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale);
        if (s == dnnl_success) s = dnnl_post_ops_create(&post);
        if (s == dnnl_success) s = dnnl_post_ops_append_sum(post, 1.0f);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, post);
    }
    if (s == dnnl_success) {
        s = a->spec.output ? dnnl_reorder_primitive_desc_create(&pd, omd, engine, umd, engine, attr)
                           : dnnl_reorder_primitive_desc_create(&pd, umd, engine, omd, engine, attr);
    }
    if (a->reorder) { dnnl_primitive_destroy(a->reorder); a->reorder = NULL; }
    if (s == dnnl_success) s = dnnl_primitive_create(&a->reorder, pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (post) dnnl_post_ops_destroy(post);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return s == dnnl_success ? RFT_OK : rft_dnnl_fail(op, what, s);
}

static int build(rft_dnnl_plan *p, const char *op, const_dnnl_primitive_desc_t pd, int nargs,
                 const rft_dnnl_arg_spec *specs, float scale)
{
    size_t off = 0;
    p->nargs = nargs;
    p->scale = scale;
    for (int i = 0; i < nargs; i++) {
        rft_dnnl_arg *a = &p->args[i];
        a->spec = specs[i];
        dnnl_memory_desc_t umd;
        DNNL_TRY(op, "memory descriptor",
                 dnnl_memory_desc_init_by_tag(&umd, a->spec.ndims, a->spec.dims, dnnl_f32, a->spec.tag));
        DNNL_TRY(op, "memory creation", dnnl_memory_create(&a->user, &umd, engine, DNNL_MEMORY_NONE));
        const dnnl_memory_desc_t *omd = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, a->spec.arg);
        if (!omd) return rft_fail(RFT_EARG, "%s: oneDNN primitive has no argument %d", op, a->spec.arg);
        if (a->spec.accumulate || !dnnl_memory_desc_equal(&umd, omd)) {
            DNNL_TRY(op, "memory creation", dnnl_memory_create(&a->op, omd, engine, DNNL_MEMORY_NONE));
            a->offset = off;
            off += align64(dnnl_memory_desc_get_size(omd));
            RFT_TRY(make_reorder(a, op, scale));
        }
    }
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) > 0) {
        DNNL_TRY(op, "memory creation", dnnl_memory_create(&p->scratch, smd, engine, DNNL_MEMORY_NONE));
        p->scratch_offset = off;
        off += align64(dnnl_memory_desc_get_size(smd));
    }
    p->ws_bytes = off;
    DNNL_TRY(op, "primitive creation", dnnl_primitive_create(&p->prim, pd));
    return RFT_OK;
}

int rft_dnnl_plan_build(rft_dnnl_plan *p, const char *op, dnnl_primitive_desc_t pd, int nargs,
                        const rft_dnnl_arg_spec *specs, float scale)
{
    int rc = build(p, op, pd, nargs, specs, scale);
    dnnl_primitive_desc_destroy(pd);
    if (rc) rft_dnnl_plan_clear(p);
    return rc;
}

static int exec_reorder(const char *op, const rft_dnnl_arg *a)
{
    dnnl_exec_arg_t args[2] = {
        {DNNL_ARG_FROM, a->spec.output ? a->op : a->user},
        {DNNL_ARG_TO, a->spec.output ? a->user : a->op},
    };
    DNNL_TRY(op, "reorder", dnnl_primitive_execute(a->reorder, stream, 2, args));
    return RFT_OK;
}

int rft_dnnl_plan_run(rft_dnnl_plan *p, const char *op, void *const *data, float scale)
{
    char *ws = NULL;
    RFT_TRY(rft_dnnl_workspace(op, p->ws_bytes, &ws));
    if (scale != p->scale) {
        for (int i = 0; i < p->nargs; i++)
            if (p->args[i].spec.accumulate) RFT_TRY(make_reorder(&p->args[i], op, scale));
        p->scale = scale;
    }
    dnnl_exec_arg_t args[RFT_DNNL_MAX_ARGS + 1];
    int n = 0;
    for (int i = 0; i < p->nargs; i++) {
        rft_dnnl_arg *a = &p->args[i];
        DNNL_TRY(op, "data handle", dnnl_memory_set_data_handle(a->user, data[i]));
        if (a->op) DNNL_TRY(op, "data handle", dnnl_memory_set_data_handle(a->op, ws + a->offset));
        args[n++] = (dnnl_exec_arg_t){a->spec.arg, a->op ? a->op : a->user};
    }
    if (p->scratch) {
        DNNL_TRY(op, "data handle", dnnl_memory_set_data_handle(p->scratch, ws + p->scratch_offset));
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch};
    }
    for (int i = 0; i < p->nargs; i++)
        if (p->args[i].reorder && !p->args[i].spec.output) RFT_TRY(exec_reorder(op, &p->args[i]));
    DNNL_TRY(op, "execution", dnnl_primitive_execute(p->prim, stream, n, args));
    for (int i = 0; i < p->nargs; i++)
        if (p->args[i].reorder && p->args[i].spec.output) RFT_TRY(exec_reorder(op, &p->args[i]));
    DNNL_TRY(op, "stream wait", dnnl_stream_wait(stream));
    return RFT_OK;
}
