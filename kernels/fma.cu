/* fma.cu: the CUDA twin of engine/loss/fma.c, the feature-map augmentation loss (paper eq. 6) for
 * one tapped layer of a two-view batch:
 *   f: (2B, D...) rows [0,B) = f(x_i) clean, rows [B,2B) = f(x~_i) distorted, kappa values per image
 *   m_i = mean_k f(x_i)_k + eps, S_i = sum_k (f(x_i)_k - f(x~_i)_k)^2   (both in double)
 *   loss += scale / B * sum_i S_i / (kappa m_i^2)                          (accumulates)
 *   grad (overwritten): clean   coef_i d_k + shift_i,  distorted  -coef_i d_k,  d_k = f(x_i)_k - f(x~_i)_k
 *     coef_i = (float)(scale/B * 2 / (kappa m_i^2)),
 *     shift_i = exact_normalizer ? (float)(-scale/B * 2 S_i / (kappa m_i^2) / (kappa m_i)) : 0
 * Four kernels: per-image partial sums of m and S over a grid of blocks per image; one block that
 * finishes them in a fixed order and computes coef, shift and the loss term per image exactly as
 * the CPU writes them (double throughout); the element-wise gradient, whose two float roundings
 * (coef*d, then + shift) are written with __fmul_rn/__fadd_rn so that nvcc cannot fuse them; or,
 * for the factored form (rft_fma_loss_factored), each row's coefficients {c, 0, shift} (clean) and
 * {c, 0, 0} (distorted) with its own and its partner's row as index, as engine/loss/fma.c writes
 * them, for the tapped layer's backward to form the gradient from the map (rft_factored_at). Only
 * the order of the two sums differs from the CPU: the loss agrees to ~1e-15 relative and the
 * gradient to an ulp of coef.
 *
 * Not here: choosing taps, per-layer weights or gamma (the caller's scale).
 */
#include "cuda_util.h"
#include "reduce.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

/* x: (2b, kappa) f32; parts: (b, nblk) {sum of clean values, sum of squared differences} */
__global__ void fma_partial_kernel(const float *x, int64_t b, int64_t kappa, int nblk, double2 *parts)
{
    for (int64_t i = blockIdx.y; i < b; i += gridDim.y) {
        const float *c = x + i * kappa, *d = x + (i + b) * kappa;
        double m = 0, s = 0;
        for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < kappa; k += (int64_t)nblk * blockDim.x) {
            m += c[k];
            double diff = (double)c[k] - d[k];
            s += diff * diff;
        }
        m = rft_block_sum(m);
        s = rft_block_sum(s);
        if (threadIdx.x == 0) parts[i * nblk + blockIdx.x] = make_double2(m, s);
    }
}

/* parts: (b, nblk); coef: (b) {coef_i, shift_i}; *total = sum_i S_i / (kappa m_i^2); one block */
__global__ void fma_coef_kernel(const double2 *parts, int nblk, int64_t b, int64_t kappa, float eps, int exact,
                                float scale, float2 *coef, double *total)
{
    double t = 0;
    for (int64_t i = threadIdx.x; i < b; i += blockDim.x) {
        double m = 0, s = 0;
        for (int p = 0; p < nblk; p++) { m += parts[i * nblk + p].x; s += parts[i * nblk + p].y; }
        m = m / (double)kappa + eps;
        double inv = 1.0 / ((double)kappa * m * m);
        t += s * inv;
        float cf = (float)(scale / (double)b * 2.0 * inv);
        float shift = exact ? (float)(-scale / (double)b * 2.0 * s * inv / ((double)kappa * m)) : 0.0f;
        coef[i] = make_float2(cf, shift);
    }
    t = rft_block_sum(t);
    if (threadIdx.x == 0) *total = t;
}

/* x, g: (2b, kappa) f32; coef: (b) */
__global__ void fma_grad_kernel(const float *x, int64_t b, int64_t kappa, const float2 *coef, float *g)
{
    const int64_t half = b * kappa;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < half; e += (int64_t)blockDim.x * gridDim.x) {
        const float2 cf = coef[e / kappa];
        const float diff = __fsub_rn(x[e], x[e + half]);
        const float gc = __fadd_rn(__fmul_rn(cf.x, diff), cf.y), gd = __fmul_rn(-cf.x, diff);
        g[e] = gc;                         /* after both reads: grad may be f itself */
        g[e + half] = gd;
    }
}

/* coef: (b) {coef_i, shift_i} -> the factored form of rft_fma_loss_factored: cf (2b, 3), ix (2b, 2) */
__global__ void fma_factored_kernel(const float2 *coef, int64_t b, float *cf, int32_t *ix)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < b; i += (int64_t)blockDim.x * gridDim.x) {
        const float2 k = coef[i];
        float *pc = cf + 3 * i, *pd = cf + 3 * (i + b);
        pc[0] = k.x, pc[1] = 0.0f, pc[2] = k.y;
        pd[0] = k.x, pd[1] = 0.0f, pd[2] = 0.0f;
        int32_t *qc = ix + 2 * i, *qd = ix + 2 * (i + b);
        qc[0] = (int32_t)(i + b), qc[1] = (int32_t)i;
        qd[0] = (int32_t)i, qd[1] = (int32_t)(i + b);
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

/* Blocks per image for the partial sums: enough to fill the device, none without work. */
static int fma_blocks_per_image(int64_t b, int64_t kappa)
{
    int64_t want = (kappa + RFT_CUDA_THREADS - 1) / RFT_CUDA_THREADS;
    int64_t fill = ((int64_t)rft_cuda.sm_count * 8 + b - 1) / b;
    if (want > fill) want = fill;
    if (want > 1024) want = 1024;
    return (int)(want > 0 ? want : 1);
}

/* grad: the gradient map; else (NULL) the factored form into fcoef, findex */
static int fma_run(const rft_fma_args *a, float scale, const rft_tensor *f, rft_tensor *grad, rft_tensor *fcoef,
                   rft_tensor *findex, int64_t b, int64_t kappa, char *scratch, int nblk, double *total)
{
    double *t = (double *)scratch;
    float2 *coef = (float2 *)(scratch + rft_align256(sizeof(double)));
    double2 *parts = (double2 *)(scratch + rft_align256(sizeof(double)) + rft_align256((size_t)b * sizeof(float2)));
    dim3 grid((unsigned)nblk, (unsigned)(b < 65535 ? b : 65535));
    RFT_LAUNCH(fma_partial_kernel, grid, RFT_CUDA_THREADS, rft_f32(f), b, kappa, nblk, parts);
    RFT_LAUNCH(fma_coef_kernel, 1, RFT_CUDA_THREADS, parts, nblk, b, kappa, a->eps, a->exact_normalizer, scale, coef, t);
    if (grad)
        RFT_LAUNCH(fma_grad_kernel, rft_cuda_blocks(b * kappa), RFT_CUDA_THREADS, rft_f32(f), b, kappa, coef,
                   rft_f32(grad));
    else
        RFT_LAUNCH(fma_factored_kernel, rft_cuda_blocks(b), RFT_CUDA_THREADS, coef, b, rft_f32(fcoef),
                   rft_i32(findex));
    RFT_CUDA_CHECK(cudaMemcpyAsync(total, t, sizeof *total, cudaMemcpyDeviceToHost, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaStreamSynchronize(rft_cuda.stream));
    return RFT_OK;
}

static int fma_loss(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *grad,
                    rft_tensor *fcoef, rft_tensor *findex)
{
    const int64_t b = f->shape[0] / 2, kappa = f->numel / f->shape[0];
    const int nblk = fma_blocks_per_image(b, kappa);
    void *scratch;
    RFT_TRY(rft_cuda_block(rft_align256(sizeof(double)) + rft_align256((size_t)b * sizeof(float2)) +
                           (size_t)b * (size_t)nblk * sizeof(double2), &scratch));
    double total = 0;                 /* kappa = 0 gives NaN, the CPU's 0/0 mean of no values */
    int rc = fma_run(a, scale, f, grad, fcoef, findex, b, kappa, (char *)scratch, nblk, &total);
    rft_cuda_free(scratch);
    RFT_TRY(rc);
    *loss += scale * total / (double)b;
    return RFT_OK;
}

int rft_cuda_fma_loss(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *grad)
{
    return fma_loss(a, scale, f, loss, grad, NULL, NULL);
}

int rft_cuda_fma_loss_factored(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *coef,
                               rft_tensor *index)
{
    return fma_loss(a, scale, f, loss, NULL, coef, index);
}
