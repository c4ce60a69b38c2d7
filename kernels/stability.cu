/* stability.cu: the CUDA twin of engine/loss/stability.c, the stability-training loss (Zheng et
 * al. 2016) on the logits of a two-view batch:
 *   z: (2B,K), rows [0,B) clean x_i, rows [B,2B) distorted x~_i; P = softmax(z_i), Q = softmax(z~_i)
 *   loss = alpha/B * sum_i -sum_j P_j log Q_j           (kl: alpha/B * sum_i sum_j P_j (log P_j - log Q_j))
 *   d/dz~_ij = alpha/B (Q_j - P_j)                                               (both forms)
 *   d/dz_ik  = alpha/B * -P_k (log Q_k - sum_j P_j log Q_j)                      (cross-entropy form)
 *            = alpha/B *  P_k (r_k - sum_j P_j r_j), r = log P - log Q           (kl form)
 *   clean_const: d/dz = 0. The loss is overwritten, the gradient too (every element).
 * One warp per pair (i, B+i): log-softmax in double from the row maximum, as the CPU's
 * log_softmax, then the pair's two sums and the gradient with the CPU's expressions. The sums run in
 * another order and CUDA's double exp/log are within an ulp of glibc's: loss and gradient agree to
 * ~1e-15 relative before the gradient's rounding to float.
 *
 * Not here: the classification loss J0 on the clean rows (cross_entropy.cu).
 */
#include "cuda_util.h"
#include "reduce.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

enum { ST_WARPS = RFT_CUDA_THREADS / 32 };           /* pairs per block */

/* log-sum-exp of one row zr: (k), the whole warp working, every lane getting it */
__device__ double st_logsumexp(const float *zr, int64_t k, int lane)
{
    float mx = -INFINITY;
    for (int64_t j = lane; j < k; j += 32) mx = zr[j] > mx ? zr[j] : mx;
    const double m = rft_warp_max(mx);
    double s = 0;
    for (int64_t j = lane; j < k; j += 32) s += exp((double)zr[j] - m);
    return m + log(rft_warp_sum(s));
}

/* z, g: (2b,k) f32; pair: (b) the pair's cross-entropy or KL; c = alpha/b */
__global__ void stability_kernel(const float *z, int64_t b, int64_t k, double c, int kl, int clean_const, float *g,
                                 double *pair)
{
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * ST_WARPS;
    for (int64_t i = blockIdx.x * (int64_t)ST_WARPS + (threadIdx.x >> 5); i < b; i += warps) {
        const float *zp = z + i * k, *zq = z + (i + b) * k;
        const double lsep = st_logsumexp(zp, k, lane), lseq = st_logsumexp(zq, k, lane);
        double ce = 0, kld = 0;
        for (int64_t j = lane; j < k; j += 32) {
            const double lp = (double)zp[j] - lsep, lq = (double)zq[j] - lseq, p = exp(lp);
            ce -= p * lq;
            kld += p * (lp - lq);
        }
        ce = rft_warp_sum(ce);
        kld = rft_warp_sum(kld);
        if (lane == 0) pair[i] = kl ? kld : ce;
        float *gp = g + i * k, *gq = g + (i + b) * k;
        for (int64_t j = lane; j < k; j += 32) {
            const double lp = (double)zp[j] - lsep, lq = (double)zq[j] - lseq, p = exp(lp), q = exp(lq);
            gq[j] = (float)(c * (q - p));
            const double gc = kl ? p * ((lp - lq) - kld) : -p * (lq + ce);
            gp[j] = clean_const ? 0.0f : (float)(c * gc);
        }
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

static int stability_run(const rft_stability_args *a, const rft_tensor *logits, rft_tensor *grad, char *scratch,
                         double *total)
{
    const int64_t b = logits->shape[0] / 2, k = logits->shape[1];
    double *t = (double *)scratch, *pair = (double *)(scratch + rft_align256(sizeof(double)));
    const double c = a->alpha / (double)b;               /* as the CPU computes it */
    int64_t blocks = (b + ST_WARPS - 1) / ST_WARPS, cap = (int64_t)rft_cuda.sm_count * 32;
    RFT_LAUNCH(stability_kernel, (unsigned)(blocks < cap ? blocks : cap), RFT_CUDA_THREADS, rft_f32(logits), b, k, c,
               a->kl, a->clean_const, rft_f32(grad), pair);
    RFT_LAUNCH(rft_sum_kernel, 1, RFT_CUDA_THREADS, pair, b, t);
    RFT_CUDA_CHECK(cudaMemcpyAsync(total, t, sizeof *total, cudaMemcpyDeviceToHost, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaStreamSynchronize(rft_cuda.stream));
    return RFT_OK;
}

int rft_cuda_stability_loss(const rft_stability_args *a, const rft_tensor *logits, double *loss, rft_tensor *grad)
{
    const int64_t b = logits->shape[0] / 2;
    void *scratch;
    RFT_TRY(rft_cuda_block(rft_align256(sizeof(double)) + (size_t)b * sizeof(double), &scratch));
    double total = 0;
    int rc = stability_run(a, logits, grad, (char *)scratch, &total);
    rft_cuda_free(scratch);
    RFT_TRY(rc);
    *loss = a->alpha * total / (double)b;
    return RFT_OK;
}
