/* linear.cu: the CUDA twins of engine/nn/linear.c, the fully connected layer y = x wᵀ + b with the
 * weight in PyTorch's (out, in) layout, as three cuBLAS GEMMs on the context's handle (its stream,
 * and TF32 only when $RFT_TF32=1). Arguments arrive checked and outputs resized by librft.
 *
 * cuBLAS is column-major; a row-major (r, c) matrix is its transpose there, (c, r) with leading
 * dimension c, so each row-major product C = op(A) op(B) is issued as Cᵀ = op(B)ᵀ op(A)ᵀ:
 *   forward          y (N,out)  = x (N,in) wᵀ          -> yᵀ = w xᵀ:        gemm(T, N, out, N, in)
 *   backward_input   dx (N,in)  = dy (N,out) w         -> dxᵀ = wᵀ dyᵀ:     gemm(N, N, in, N, out)
 *   backward_params  dw (out,in) += scale dyᵀ x        -> dwᵀ += scale xᵀ dy: gemm(N, T, in, out, N)
 * The forward's bias is written into y first and the GEMM adds to it (beta 1), as on the CPU.
 * The bias gradient is rft's own kernel: one thread per column sums dy down the rows in double, in
 * the CPU's order, and adds scale * (f32)sum with the CPU's two roundings, so db is bit-identical.
 * A product over 0 features (k = 0) writes C = beta C itself, as the CPU does (cuBLAS refuses a
 * leading dimension of 0).
 *
 * Not here: flattening (the caller reshapes (N,C,H,W) to (N,C*H*W)), the module (lua/rft/nn/Linear.lua).
 */
#include "cuda_util.h"
#include <limits.h>

/* ---- kernels -------------------------------------------------------------------------------- */

/* b: (out) -> y: (n, out), every row b */
__global__ void linear_bias_rows_kernel(const float *b, float *y, int64_t n, int64_t out)
{
    const int64_t total = n * out;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)blockDim.x * gridDim.x)
        y[i] = b[i % out];
}

/* dy: (n, out) -> db: (out) += scale * column sums, each summed in double in row order */
__global__ void linear_bias_grad_kernel(const float *dy, float scale, float *db, int64_t n, int64_t out)
{
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < out; j += (int64_t)blockDim.x * gridDim.x) {
        double sum = 0;
        for (int64_t i = 0; i < n; i++) sum += dy[i * out + j];
        db[j] = __fadd_rn(db[j], __fmul_rn(scale, (float)sum));
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

/* Column-major C (m,n) = alpha op(A) op(B) + beta C on the context's cuBLAS handle; ldc == m. */
static int sgemm(cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (m == 0 || n == 0) return RFT_OK;
    if (k == 0) {                                 /* no terms: C = beta C */
        if (beta == 0.0f)
            RFT_CUDA_CHECK(cudaMemsetAsync(C, 0, (size_t)(n * ldc) * sizeof(float), rft_cuda.stream));
        return RFT_OK;
    }
    if (!fits_int(m) || !fits_int(n) || !fits_int(k) || !fits_int(lda) || !fits_int(ldb) || !fits_int(ldc))
        return rft_fail(RFT_ESHAPE, "linear: a GEMM of %lldx%lldx%lld is too large for cuBLAS's 32-bit sizes",
                        (long long)m, (long long)n, (long long)k);
    RFT_CUDA_CHECK(cublasSgemm(rft_cuda.cublas, ta, tb, (int)m, (int)n, (int)k, &alpha, A, (int)lda, B, (int)ldb,
                               &beta, C, (int)ldc));
    return RFT_OK;
}

/* x: (N,in), w: (out,in), b: (out) or NULL -> y: (N,out) = x wᵀ + b */
int rft_cuda_linear_forward(const rft_tensor *x, const rft_tensor *w, const rft_tensor *b, rft_tensor *y)
{
    const int64_t n = x->shape[0], in = x->shape[1], out = w->shape[0];
    if (n * out == 0) return RFT_OK;
    if (b) RFT_LAUNCH(linear_bias_rows_kernel, rft_cuda_blocks(n * out), RFT_CUDA_THREADS, rft_f32(b), rft_f32(y), n, out);
    return sgemm(CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, 1.0f, rft_f32(w), in, rft_f32(x), in, b ? 1.0f : 0.0f,
                 rft_f32(y), out);
}

/* dy: (N,out), w: (out,in) -> dx: (N,in) = dy w */
int rft_cuda_linear_backward_input(const rft_tensor *x, const rft_tensor *w, const rft_tensor *dy, rft_tensor *dx)
{
    const int64_t n = x->shape[0], in = x->shape[1], out = w->shape[0];
    return sgemm(CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, 1.0f, rft_f32(w), in, rft_f32(dy), out, 0.0f, rft_f32(dx), in);
}

/* x: (N,in), dy: (N,out) -> dw: (out,in) += scale dyᵀ x, db: (out) += scale * column sums of dy */
int rft_cuda_linear_backward_params(const rft_tensor *x, const rft_tensor *dy, float scale, rft_tensor *dw,
                                    rft_tensor *db)
{
    const int64_t n = x->shape[0], in = x->shape[1], out = dy->shape[1];
    if (db && out > 0)
        RFT_LAUNCH(linear_bias_grad_kernel, rft_cuda_blocks(out), RFT_CUDA_THREADS, rft_f32(dy), scale, rft_f32(db),
                   n, out);
    return sgemm(CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, scale, rft_f32(x), in, rft_f32(dy), out, 1.0f, rft_f32(dw), in);
}
