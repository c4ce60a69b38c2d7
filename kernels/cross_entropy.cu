/* cross_entropy.cu: the CUDA twin of engine/loss/cross_entropy.c, softmax cross-entropy over the
 * rows [row0, row1) of a logits matrix:
 *   logits z: (N,K), n = row1 - row0, labels: [n] in 0..K-1
 *   loss = 1/n sum_r (logsumexp(z_r) - z_r[label_r])             (summed in double, as on the CPU)
 *   dlogits_r = scale/n (softmax(z_r) - onehot(label_r)) for r in the range, 0 elsewhere
 * or, with label smoothing e, against q = (1 - e) onehot + e/K (the CPU's formulas, e = 0 the same
 * arithmetic as before smoothing existed).
 * One warp per row. Each step is the CPU's: the row maximum in float, exp of (z - max) taken in
 * float then widened, lse = max + log(sum) in double, dlogits = g * (float)exp((double)z - lse)
 * with g = scale/n in float, then g subtracted at the label (two roundings, __fmul_rn/__fsub_rn so
 * nvcc cannot fuse them). The sums run in another order and CUDA's exp/log are within an ulp of
 * glibc's: the loss agrees to ~1e-15 relative, dlogits to an ulp or so.
 *
 * The labels are checked on the device first (reduce.cuh's flag); the compute kernel does nothing
 * when one is refused, and the launcher fails with the CPU's sentence naming it. The rows outside
 * the range are zeroed only after that, so a failed call leaves dlogits alone as on the CPU.
 * With loss NULL (deferred, engine/loss/metrics.c) nothing is read back: the loss is folded into the
 * device's totals (metrics.cu), a refused label is reported by rft_metrics_take, and the rows outside
 * the range are zeroed at once.
 *
 * Not here: class weights, ignore_index (none exist on the CPU either).
 */
#include "cuda_util.h"
#include "reduce.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

enum { CE_WARPS = RFT_CUDA_THREADS / 32 };          /* rows per block */

/* z: (N,K) f32, lab: (n) i32, rows row0 + [0,n); row_loss: (n) doubles; d: (N,K) f32 or NULL, only
 * rows in the range written here */
__global__ void cross_entropy_kernel(const float *z, const int32_t *lab, int64_t row0, int64_t n, int64_t k, float g,
                                     float e, float *d, double *row_loss, const rft_bad_word *bad)
{
    if (rft_bad_set(bad)) return;
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * CE_WARPS;
    for (int64_t i = blockIdx.x * (int64_t)CE_WARPS + (threadIdx.x >> 5); i < n; i += warps) {
        const float *zr = z + (row0 + i) * k;
        float mx = -INFINITY;
        for (int64_t j = lane; j < k; j += 32) mx = zr[j] > mx ? zr[j] : mx;
        mx = rft_warp_max(mx);
        double s = 0;
        for (int64_t j = lane; j < k; j += 32) s += exp((double)(zr[j] - mx));
        s = rft_warp_sum(s);
        const double lse = mx + log(s);
        const int32_t label = lab[i];
        const double off = (double)e / (double)k, on = 1 - (double)e;
        if (e == 0) {
            if (lane == 0) row_loss[i] = lse - zr[label];
        } else {
            double sum = 0;
            for (int64_t j = lane; j < k; j += 32) sum += zr[j];
            sum = rft_warp_sum(sum);
            if (lane == 0) row_loss[i] = lse - on * zr[label] - off * sum;
        }
        if (d) {
            float *dr = d + (row0 + i) * k;
            const float g_on = __fmul_rn(g, (float)on), g_off = __fmul_rn(g, (float)off);
            for (int64_t j = lane; j < k; j += 32) {
                float v = __fmul_rn(g, (float)exp((double)zr[j] - lse));
                if (e != 0) v = __fsub_rn(v, g_off);
                dr[j] = j == label ? __fsub_rn(v, e == 0 ? g : g_on) : v;
            }
        }
    }
}

/* What comes back to the host in one copy. */
typedef struct { rft_bad_word bad; double total; } ce_result;

/* A deferred call's loss into the device's totals, or its first refused label (one thread). */
__global__ void ce_defer_kernel(const ce_result *r, const int32_t *lab, int64_t n, int64_t row0, int64_t k,
                                rft_cuda_deferred *acc)
{
    if (r->bad) {
        if (!acc->bad_index_plus1) {
            const int64_t i = n - (int64_t)r->bad;
            acc->bad_index_plus1 = (unsigned long long)i + 1;
            acc->bad_op = RFT_DEFERRED_CROSS_ENTROPY;
            acc->bad_label = lab[i];
            acc->bad_row0 = row0;
            acc->bad_classes = k;
        }
        return;
    }
    acc->loss += r->total / (double)n;
}

/* ---- launchers ------------------------------------------------------------------------------ */

static int ce_run(const rft_tensor *logits, const int32_t *lab, int64_t row0, int64_t n, float g, float e, rft_tensor *dlogits,
                  char *scratch, ce_result *res)
{
    const int64_t k = logits->shape[1];
    ce_result *r = (ce_result *)scratch;
    double *row_loss = (double *)(scratch + rft_align256(sizeof *r));
    RFT_CUDA_CHECK(cudaMemsetAsync(r, 0, sizeof *r, rft_cuda.stream));
    RFT_TRY(rft_cuda_range_check(lab, n, 0, k, &r->bad));
    int64_t blocks = (n + CE_WARPS - 1) / CE_WARPS, cap = (int64_t)rft_cuda.sm_count * 32;
    RFT_LAUNCH(cross_entropy_kernel, (unsigned)(blocks < cap ? blocks : cap), RFT_CUDA_THREADS, rft_f32(logits), lab,
               row0, n, k, g, e, dlogits ? rft_f32(dlogits) : NULL, row_loss, &r->bad);
    RFT_LAUNCH(rft_sum_kernel, 1, RFT_CUDA_THREADS, row_loss, n, &r->total);
    if (!res) {                                          /* deferred: folded on the device, nothing waits */
        rft_cuda_deferred *acc = NULL;
        RFT_TRY(rft_cuda_deferred_totals(&acc));
        RFT_LAUNCH(ce_defer_kernel, 1, 1, r, lab, n, row0, k, acc);
        return RFT_OK;
    }
    RFT_CUDA_CHECK(cudaMemcpyAsync(res, r, sizeof *res, cudaMemcpyDeviceToHost, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaStreamSynchronize(rft_cuda.stream));
    return RFT_OK;
}

int rft_cuda_cross_entropy(const rft_tensor *logits, const rft_tensor *labels, int64_t row0, int64_t row1,
                           float smoothing, float scale, double *loss, rft_tensor *dlogits)
{
    const int64_t rows = logits->shape[0], k = logits->shape[1], n = row1 - row0;
    const int32_t *lab = rft_i32(labels);
    const float g = scale / (float)n;                   /* in float, as the CPU computes it */
    void *scratch;
    RFT_TRY(rft_cuda_block(rft_align256(sizeof(ce_result)) + (size_t)n * sizeof(double), &scratch));
    ce_result res = {0, 0};
    int rc = ce_run(logits, lab, row0, n, g, smoothing, dlogits, (char *)scratch, loss ? &res : NULL);
    rft_cuda_free(scratch);
    RFT_TRY(rc);
    if (res.bad) {
        int64_t i;
        int32_t v;
        RFT_TRY(rft_cuda_bad_value(res.bad, lab, n, &i, &v));
        return rft_fail(RFT_EARG, "cross_entropy: labels[%lld] = %d (row %lld of logits) is outside 0..%lld",
                        (long long)i, v, (long long)(row0 + i), (long long)(k - 1));
    }
    if (dlogits) {                                       /* the rows outside the range get no gradient */
        float *d = rft_f32(dlogits);
        if (row0 > 0) RFT_CUDA_CHECK(cudaMemsetAsync(d, 0, (size_t)(row0 * k) * sizeof *d, rft_cuda.stream));
        if (row1 < rows)
            RFT_CUDA_CHECK(cudaMemsetAsync(d + row1 * k, 0, (size_t)((rows - row1) * k) * sizeof *d, rft_cuda.stream));
    }
    if (loss) *loss = res.total / (double)n;
    return RFT_OK;
}
