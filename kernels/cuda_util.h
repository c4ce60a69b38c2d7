/* cuda_util.h: what every file of the CUDA backend (librft_cuda) shares: the one device context
 * (stream, cuBLAS and cuDNN handles, workspace), the status checks that turn any CUDA, cuBLAS or
 * cuDNN failure into rft_fail(RFT_ECUDA, ...) naming the statement, file and line, the launch
 * helper, and the caching allocator's entry points for scratch memory.
 *
 * Not here: any op. C++17, compiled by nvcc only; librft's C headers are included inside
 * extern "C" (STYLE.md §2), after the standard headers they pull in, so that those keep their C++
 * declarations.
 */
#ifndef RFT_CUDA_UTIL_H
#define RFT_CUDA_UTIL_H
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <math.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <cudnn.h>
extern "C" {
#include "backend.h"
}
#include "philox.h"

/* The device context: one per process, made by rft_cuda_backend() and never torn down (the
 * driver frees it at exit; destroying handles after cudart's own exit handlers would fail). */
typedef struct rft_cuda_context {
    int device;                 /* CUDA ordinal ($RFT_CUDA_DEVICE, default 0) */
    int sm_count;               /* streaming multiprocessors, for grid sizes */
    cudaStream_t stream;        /* every kernel, copy, cuBLAS and cuDNN call goes here */
    cublasHandle_t cublas;      /* on `stream`; TF32 only when $RFT_TF32=1 */
    cudnnHandle_t cudnn;        /* on `stream` */
    bool tf32;                  /* cuDNN convolutions read this too (math type per descriptor) */
    void *workspace;            /* cuDNN/cuBLAS scratch, grown on demand (rft_cuda_workspace) */
    size_t workspace_bytes;
    char name[256];             /* the device's name, for messages */
} rft_cuda_context;

extern rft_cuda_context rft_cuda;

/* ---- status checks ----------------------------------------------------------------------- */
static inline bool rft_cuda_ok(cudaError_t s) { return s == cudaSuccess; }
static inline bool rft_cuda_ok(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; }
static inline bool rft_cuda_ok(cudnnStatus_t s) { return s == CUDNN_STATUS_SUCCESS; }
/* rft_fail(RFT_ECUDA, "cuda: <library's message> (kernels/x.cu:12: <statement>)"); returns RFT_ECUDA */
int rft_cuda_fail(cudaError_t s, const char *stmt, const char *file, int line);
int rft_cuda_fail(cublasStatus_t s, const char *stmt, const char *file, int line);
int rft_cuda_fail(cudnnStatus_t s, const char *stmt, const char *file, int line);

/* Evaluates a CUDA, cuBLAS or cuDNN call once; on failure returns RFT_ECUDA from the caller. */
#define RFT_CUDA_CHECK(stmt)                                                                      \
    do {                                                                                          \
        auto rft_cs_ = (stmt);                                                                    \
        if (!rft_cuda_ok(rft_cs_)) return rft_cuda_fail(rft_cs_, #stmt, __FILE__, __LINE__);      \
    } while (0)

/* Launches kernel<<<grid, block>>>(args...) on the context's stream and checks the launch.
 * (A kernel that is a template instance goes in parentheses.) */
#define RFT_LAUNCH(kernel, grid, block, ...)                                                      \
    do {                                                                                          \
        kernel<<<(grid), (block), 0, rft_cuda.stream>>>(__VA_ARGS__);                             \
        auto rft_ls_ = cudaGetLastError();                                                        \
        if (!rft_cuda_ok(rft_ls_))                                                                \
            return rft_cuda_fail(rft_ls_, #kernel "<<<...>>>", __FILE__, __LINE__);               \
    } while (0)

/* ---- grids --------------------------------------------------------------------------------- */
enum { RFT_CUDA_THREADS = 256 };

/* Blocks for a grid-stride loop over n items: enough to fill the device, never more than needed. */
static inline unsigned rft_cuda_blocks(int64_t n)
{
    int64_t want = (n + RFT_CUDA_THREADS - 1) / RFT_CUDA_THREADS;
    int64_t cap = (int64_t)rft_cuda.sm_count * 32;
    if (want > cap) want = cap;
    return (unsigned)(want > 0 ? want : 1);
}

/* ---- factored tap gradients (rft_invariance_loss_factored, rft_fma_loss_factored) ------------- */
/* coef [B][ncol] (ncol 2, or 3 with a constant per row), means [rows][dim], index [B][2], as rft.h
   describes them; dim > 0. */
typedef struct rft_cuda_factored {
    const float *coef, *means;
    const int32_t *index;
    int64_t dim, rows, ncol;
} rft_cuda_factored;

/* The gradient's value at element e of the map (a its value): the CPU's ops_factored_value
   (engine/ops_check.h), rounded alike; NaN where the row's index is outside means (the CPU refuses
   such an index before reading; a kernel cannot, so the result shows it). */
__device__ __forceinline__ float rft_factored_at(const rft_cuda_factored fx, float a, int64_t e)
{
    const int64_t i = e / fx.dim, d = e - i * fx.dim;
    const int32_t p = fx.index[2 * i], q = fx.index[2 * i + 1];
    if (p < 0 || p >= fx.rows || q < 0 || q >= fx.rows) return __int_as_float(0x7fc00000);
    const float gm = fx.means[p * fx.dim + d], rm = fx.means[q * fx.dim + d];
    const float *k = fx.coef + fx.ncol * i;
    return __fadd_rn(__fsub_rn(__fmul_rn(k[0], __fsub_rn(a, gm)), __fmul_rn(k[1], __fsub_rn(a, rm))),
                     fx.ncol > 2 ? k[2] : 0.0f);
}

static inline rft_cuda_factored rft_cuda_factored_of(const rft_tensor *f, const rft_tensor *coef,
                                                     const rft_tensor *means, const rft_tensor *index)
{
    rft_cuda_factored fx = { rft_f32(coef), rft_f32(means), rft_i32(index), f->numel / f->shape[0], means->shape[0],
                             coef->shape[1] };
    return fx;
}

/* ---- memory -------------------------------------------------------------------------------- */
/* The table's alloc/free (kernels/memory.cu): a caching allocator, zeroed blocks. */
void *rft_cuda_alloc(size_t nbytes);
void rft_cuda_free(void *p);
/* A block of at least nbytes from the same cache, not zeroed, for scratch; rft_cuda_free returns it.
   Fails with RFT_ENOMEM and a message. */
int rft_cuda_block(size_t nbytes, void **out);
/* Scratch of at least nbytes in *out, shared by every op and valid until the next call. */
int rft_cuda_workspace(size_t nbytes, void **out);

/* ---- deferred metrics (kernels/metrics.cu) ---------------------------------------------------- */
enum { RFT_DEFERRED_CROSS_ENTROPY = 1, RFT_DEFERRED_TOPK = 2 };
/* The device's running totals of deferred cross_entropy and topk_correct calls. */
typedef struct rft_cuda_deferred {
    double loss;                          /* sum of the losses the calls would have returned */
    unsigned long long correct;           /* sum of their counts */
    unsigned long long bad_index_plus1;   /* the first refused label's index + 1; 0: none */
    int bad_op;                           /* RFT_DEFERRED_*: whose */
    int bad_label;                        /* its value */
    long long bad_row0, bad_classes;      /* the call's first row and K, for the message */
} rft_cuda_deferred;
/* The record in device memory, made zeroed on first use. */
int rft_cuda_deferred_totals(rft_cuda_deferred **out);

/* ---- the table's entries, by file -------------------------------------------------------- */
/* kernels/copy.cu */
int rft_cuda_copy(void *dst, int dst_device, const void *src, int src_device, size_t nbytes);
/* the ops, one per line of engine/backend_ops.h: rft_cuda_<name>, in kernels/<area>.cu (tensor.cu,
   rand.cu, tensor_ops.cu, the layer's, loss's or optimizer's own file, aug_<name>.cu) */
#define RFT_CUDA_PROTOTYPE(name, params) int rft_cuda_##name params;
RFT_BACKEND_OPS(RFT_CUDA_PROTOTYPE)
#undef RFT_CUDA_PROTOTYPE
/* kernels/nccl.cu (built with RFT_NCCL): collectives between processes, outside the op list */
int rft_cuda_comm_id(void *id, size_t nbytes);
int rft_cuda_comm_init(const void *id, size_t nbytes, int rank, int size);
int rft_cuda_allreduce_sum(rft_tensor *t);
int rft_cuda_broadcast(rft_tensor *t, int root);
int rft_cuda_allreduce_start(rft_tensor *t, void **ticket);
int rft_cuda_allreduce_done(void *ticket, int *done);
int rft_cuda_allreduce_join(void *ticket);

#endif
