/* dnnl_util.h: the CPU backend's oneDNN plumbing, shared by conv2d.c and linear.c: one engine and
 * stream, one growing workspace, and cached "plans". A plan is a primitive plus the reorders between
 * rft's plain row-major tensors and the blocked layouts the primitive prefers, made once per shape
 * and then run with new data pointers, so a repeated call creates and allocates nothing.
 *
 * Not public (vendor types stay out of rft.h), CPU only, and not thread-safe: the workspace and the
 * cache are process-wide, and ops are called from one thread (Lua's); oneDNN itself uses OpenMP
 * threads inside each call.
 */
#ifndef RFT_DNNL_UTIL_H
#define RFT_DNNL_UTIL_H
#include "internal.h"
#include <dnnl.h>

enum { RFT_DNNL_MAX_ARGS = 4, RFT_DNNL_KEY_BYTES = 96 };

/* What a plan argument is: which primitive argument, its plain layout, and its direction. */
typedef struct {
    int arg;                     /* DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, ... */
    int ndims;
    dnnl_dims_t dims;
    dnnl_format_tag_t tag;       /* the rft tensor's layout: nchw, oihw, x, ab */
    bool output;
    bool accumulate;             /* output only: tensor += scale * result (a reorder with sum) */
} rft_dnnl_arg_spec;

typedef struct {
    rft_dnnl_arg_spec spec;
    dnnl_memory_t user;          /* plain, over the rft tensor's memory */
    dnnl_memory_t op;            /* primitive's layout, in the workspace; NULL: the primitive uses user */
    dnnl_primitive_t reorder;    /* user -> op for inputs, op -> user for outputs; NULL: none */
    size_t offset;               /* of op's buffer in the workspace */
} rft_dnnl_arg;

typedef struct {
    dnnl_primitive_t prim;
    int nargs;
    rft_dnnl_arg args[RFT_DNNL_MAX_ARGS];
    dnnl_memory_t scratch;       /* NULL when the primitive needs none */
    size_t scratch_offset;
    size_t ws_bytes;             /* workspace the plan needs in all */
    float scale;                 /* of the accumulating reorders */
} rft_dnnl_plan;

/* The shared workspace, grown to at least nbytes (contents unspecified); valid until the next call. */
int rft_dnnl_workspace(const char *op, size_t nbytes, char **out);

/* The engine, creating it (and the stream) on first use. */
int rft_dnnl_engine(const char *op, dnnl_engine_t *out);

/* Turns a oneDNN status into an rft failure naming the op and the step. */
int rft_dnnl_fail(const char *op, const char *what, dnnl_status_t s);

/* The cached plan for key (zero-padded, RFT_DNNL_KEY_BYTES at most), or NULL with *slot set to an
   empty plan to build under that key (the least recently used one is dropped to make room). */
rft_dnnl_plan *rft_dnnl_plan_find(const void *key, size_t nbytes, rft_dnnl_plan **slot);

/* Builds an empty plan from a primitive descriptor (which it takes over, also on failure): the
   primitive, the reorders each argument needs, and the workspace layout. */
int rft_dnnl_plan_build(rft_dnnl_plan *p, const char *op, dnnl_primitive_desc_t pd, int nargs,
                        const rft_dnnl_arg_spec *specs, float scale);

/* Runs a built plan on the tensors' memory, given in the order of its specs. Accumulating outputs
   take scale (their reorders are remade when it changes). */
int rft_dnnl_plan_run(rft_dnnl_plan *p, const char *op, void *const *data, float scale);

/* Frees what a plan holds and marks it empty (for a build that failed). */
void rft_dnnl_plan_clear(rft_dnnl_plan *p);

/* Attributes every primitive of a plan is made with: user-managed scratchpad. The caller frees it. */
int rft_dnnl_attr(const char *op, dnnl_primitive_attr_t *out);

#endif
