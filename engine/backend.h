/* backend.h: the table of functions one device provides (ggml's backend interface, in small).
 *
 * Public functions check their arguments, resize outputs, then call the table of the tensors'
 * device through RFT_DISPATCH; a NULL entry is "not available on <device>", never a fallback to
 * another device. The ops themselves are listed once, in engine/backend_ops.h.
 * The CPU table is linked in; the CUDA table comes from librft_cuda.so, loaded on first use, whose
 * one exported symbol `rft_cuda_backend` returns it. Arguments reaching a table are already checked.
 */
#ifndef RFT_BACKEND_H
#define RFT_BACKEND_H
#include "internal.h"
#include "backend_ops.h"

typedef struct rft_backend {
    int abi;                   /* RFT_ABI_VERSION the table was built for */
    size_t size;               /* sizeof(rft_backend) it was built with: a stale library shows here */
    const char *name;
    /* memory */
    void *(*alloc)(size_t nbytes);                                     /* zeroed; NULL if none left */
    void (*free)(void *p);
    int (*synchronize)(void);                                          /* NULL: work is never queued */
    int (*copy)(void *dst, int dst_device, const void *src, int src_device, size_t nbytes);
    /* collectives between processes, on the device's queue (engine/dist/dist.c); NULL where the
       device has its own none (the CPU's go through MPI) */
    int (*comm_id)(void *id, size_t nbytes);                           /* a new unique id, on rank 0 */
    int (*comm_init)(const void *id, size_t nbytes, int rank, int size);
    int (*allreduce_sum)(rft_tensor *t);                               /* in place; f32 or i32 */
    int (*broadcast)(rft_tensor *t, int root);
    /* non-blocking sum: queued on a communication queue of its own after the work queued so far,
       *ticket naming it; allreduce_done says whether it has run; allreduce_join makes the work
       queued from then on wait for it, and spends the ticket (NULL entries: the device's tensors are
       reduced at once, through allreduce_sum or host memory) */
    int (*allreduce_start)(rft_tensor *t, void **ticket);
    int (*allreduce_done)(void *ticket, int *done);
    int (*allreduce_join)(void *ticket);
    /* the ops, in the order of engine/backend_ops.h */
#define RFT_BACKEND_MEMBER(name, params) int(*name) params;
    RFT_BACKEND_OPS(RFT_BACKEND_MEMBER)
#undef RFT_BACKEND_MEMBER
} rft_backend;

/* The table for a device, loading it on first use; fails with the reason it is not usable. */
int rft_backend_get(int device, const rft_backend **out);
/* The table of t's device (t's device was usable when t was made). */
const rft_backend *rft_backend_of(const rft_tensor *t);

/* RFT_EDEVICE, "<op>: not available on <device>": what a NULL table entry means. */
int rft_backend_unavailable(const char *op, const rft_backend *b);

/* The one dispatch: the status of entry(...) of the table of t's device, or "<op>: not available
   on <device>" where that device has no such entry. op is the name the error speaks of (the public
   op's, e.g. "relu_backward"), entry a member of backend_ops.h. RFT_DISPATCH returns that status
   from the calling function; RFT_CALL is it as an expression, for a wrapper with work after it. */
#define RFT_CALL(op, t, entry, ...)                                                                \
    (rft_backend_of(t)->entry ? rft_backend_of(t)->entry(__VA_ARGS__)                              \
                              : rft_backend_unavailable(op, rft_backend_of(t)))
#define RFT_DISPATCH(op, t, entry, ...) return RFT_CALL(op, t, entry, __VA_ARGS__)

/* Entry point exported by librft_cuda.so. */
typedef const rft_backend *(*rft_cuda_backend_fn)(void);

/* The CPU implementations, for the CPU table. */
void *rft_cpu_alloc(size_t nbytes);
void rft_cpu_free(void *p);
int rft_cpu_copy(void *dst, int dst_device, const void *src, int src_device, size_t nbytes);
/* the CPU ops, one per line of engine/backend_ops.h: rft_cpu_<name> */
#define RFT_CPU_PROTOTYPE(name, params) int rft_cpu_##name params;
RFT_BACKEND_OPS(RFT_CPU_PROTOTYPE)
#undef RFT_CPU_PROTOTYPE
/* Adds a deferred call's loss and count to the CPU's totals (engine/loss/metrics.c). */
void rft_cpu_defer(double loss, int64_t correct);

/* Shared by both backends (engine/loss/invariance.c): the refusal codes an asynchronous invariance
   loss leaves in its out slot, and their sentences (NULL for 0 or an unknown code). */
enum { RFT_INV_NO_SEED_PAIRS = 1, RFT_INV_NO_CLASS_PAIRS = 2 };
const char *rft_invariance_refusal(int code);

#endif
