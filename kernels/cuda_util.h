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

/* ---- memory -------------------------------------------------------------------------------- */
/* The table's alloc/free (kernels/memory.cu): a caching allocator, zeroed blocks. */
void *rft_cuda_alloc(size_t nbytes);
void rft_cuda_free(void *p);
/* A block of at least nbytes from the same cache, not zeroed, for scratch; rft_cuda_free returns it.
   Fails with RFT_ENOMEM and a message. */
int rft_cuda_block(size_t nbytes, void **out);
/* Scratch of at least nbytes in *out, shared by every op and valid until the next call. */
int rft_cuda_workspace(size_t nbytes, void **out);

/* ---- the table's entries, by file -------------------------------------------------------- */
/* kernels/copy.cu */
int rft_cuda_copy(void *dst, int dst_device, const void *src, int src_device, size_t nbytes);
/* kernels/tensor.cu */
int rft_cuda_fill(rft_tensor *t, double value);
int rft_cuda_u8_to_f32(const rft_tensor *x, float scale, rft_tensor *y);
int rft_cuda_stats(const rft_tensor *t, double *out);
/* kernels/rand.cu */
int rft_cuda_rand_uniform(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi);
int rft_cuda_rand_normal(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std);
int rft_cuda_rand_bernoulli(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float p);
/* kernels/tensor_ops.cu */
int rft_cuda_axpy(float alpha, const rft_tensor *x, rft_tensor *y);
int rft_cuda_scale(rft_tensor *y, float alpha);
int rft_cuda_gather(const rft_tensor *src, const rft_tensor *idx, rft_tensor *out);
/* nn: convolution and linear layers (kernels/conv2d.cu, linear.cu) */
int rft_cuda_conv2d_forward(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w, const rft_tensor *b,
                            rft_tensor *y);
int rft_cuda_conv2d_backward_input(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                                   const rft_tensor *dy, rft_tensor *dx);
int rft_cuda_conv2d_backward_params(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *dy, float scale,
                                    rft_tensor *dw, rft_tensor *db);
int rft_cuda_linear_forward(const rft_tensor *x, const rft_tensor *w, const rft_tensor *b, rft_tensor *y);
int rft_cuda_linear_backward_input(const rft_tensor *x, const rft_tensor *w, const rft_tensor *dy, rft_tensor *dx);
int rft_cuda_linear_backward_params(const rft_tensor *x, const rft_tensor *dy, float scale, rft_tensor *dw,
                                    rft_tensor *db);

/* nn: element-wise, pooling, normalisation, dropout (kernels/relu.cu, maxpool2d.cu,
   global_avgpool.cu, dropout.cu, batchnorm2d.cu) */
int rft_cuda_relu_forward(const rft_tensor *x, rft_tensor *y);
int rft_cuda_relu_backward(const rft_tensor *y, const rft_tensor *dy, rft_tensor *dx);
int rft_cuda_relu_backward_add(const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra, rft_tensor *dx);
int rft_cuda_maxpool2d_forward(const rft_pool2d_args *a, const rft_tensor *x, rft_tensor *y, rft_tensor *argmax);
int rft_cuda_maxpool2d_backward(const rft_pool2d_args *a, const rft_tensor *argmax, const rft_tensor *dy,
                                rft_tensor *dx);
int rft_cuda_global_avgpool_forward(const rft_tensor *x, rft_tensor *y);
int rft_cuda_global_avgpool_backward(const rft_tensor *dy, rft_tensor *dx);
int rft_cuda_dropout_forward(float p, uint64_t seed, uint64_t stream, uint64_t offset, const rft_tensor *x,
                             rft_tensor *y, rft_tensor *mask);
int rft_cuda_dropout_backward(float p, const rft_tensor *mask, const rft_tensor *dy, rft_tensor *dx);
int rft_cuda_batchnorm2d_forward_train(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                       const rft_tensor *bias, rft_tensor *running_mean, rft_tensor *running_var,
                                       rft_tensor *y, rft_tensor *save_mean, rft_tensor *save_invstd);
int rft_cuda_batchnorm2d_forward_eval(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                      const rft_tensor *bias, const rft_tensor *running_mean,
                                      const rft_tensor *running_var, rft_tensor *y);
int rft_cuda_batchnorm2d_backward(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                  const rft_tensor *save_invstd, const rft_tensor *dy, float scale, rft_tensor *dx,
                                  rft_tensor *dweight, rft_tensor *dbias);
int rft_cuda_batchnorm2d_backward_eval(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *running_mean,
                                       const rft_tensor *running_var, float eps, const rft_tensor *dy, float scale,
                                       rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias);
int rft_cuda_batchnorm2d_relu_backward(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                      const rft_tensor *save_invstd, const rft_tensor *y, const rft_tensor *dy,
                                      const rft_tensor *extra, float scale, rft_tensor *dx, rft_tensor *dweight,
                                      rft_tensor *dbias);
int rft_cuda_batchnorm2d_relu_backward_eval(const rft_tensor *x, const rft_tensor *weight,
                                           const rft_tensor *running_mean, const rft_tensor *running_var, float eps,
                                           const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra,
                                           float scale, rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias);

/* losses and metrics (kernels/cross_entropy.cu, accuracy.cu) */
int rft_cuda_cross_entropy(const rft_tensor *logits, const rft_tensor *labels, int64_t row0, int64_t row1,
                           float scale, double *loss, rft_tensor *dlogits);
int rft_cuda_topk_correct(const rft_tensor *logits, const rft_tensor *labels, int k, int64_t *correct);
int rft_cuda_argmax_rows(const rft_tensor *logits, rft_tensor *pred);

/* robust-training losses (kernels/fma.cu, stability.cu, invariance.cu) */
int rft_cuda_fma_loss(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *grad);
int rft_cuda_stability_loss(const rft_stability_args *a, const rft_tensor *logits, double *loss, rft_tensor *grad);
int rft_cuda_invariance_loss(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                             double *loss, double *value, rft_tensor *grad);

/* optimizers (kernels/sgd.cu) */
int rft_cuda_sgd_step(const rft_sgd_args *a, int first_step, const rft_tensor *grad, rft_tensor *param,
                      rft_tensor *momentum_buf);

/* data path (kernels/crop_flip.cu) */
int rft_cuda_crop_flip(int pad, int flip, uint64_t seed, const rft_tensor *x, const rft_tensor *ids, rft_tensor *y);

/* augmentations (kernels/aug_<name>.cu, one per entry; the formulas of engine/aug/aug_math.h) */
int rft_cuda_aug_brightness(const rft_tensor *delta, const rft_tensor *x, rft_tensor *y);
int rft_cuda_aug_contrast(const rft_tensor *gamma, const rft_tensor *x, rft_tensor *y);
int rft_cuda_aug_saturation(const rft_tensor *alpha, const rft_tensor *x, rft_tensor *y);
int rft_cuda_aug_gaussian_blur(int border, const rft_tensor *size, const rft_tensor *sigma, const rft_tensor *x,
                               rft_tensor *y);
int rft_cuda_aug_gaussian_noise(uint64_t seed, uint32_t stream, const rft_tensor *ids, const rft_tensor *mean,
                                const rft_tensor *sigma, const rft_tensor *x, rft_tensor *y);
int rft_cuda_aug_salt_pepper(int per_pixel, uint64_t seed, uint32_t stream, const rft_tensor *ids,
                             const rft_tensor *p, const rft_tensor *q, const rft_tensor *rho, const rft_tensor *x,
                             rft_tensor *y);
int rft_cuda_aug_affine(int border, const rft_tensor *theta, const rft_tensor *x, rft_tensor *y);
int rft_cuda_aug_hflip(const rft_tensor *flip, const rft_tensor *x, rft_tensor *y);
int rft_cuda_aug_crop(int border, const rft_tensor *dx, const rft_tensor *dy, const rft_tensor *x, rft_tensor *y);
int rft_cuda_aug_draw(int kind, int nvalues, const float *values, uint64_t seed, uint32_t stream,
                      const rft_tensor *ids, rft_tensor *out);

#endif
