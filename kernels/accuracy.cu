/* accuracy.cu: the CUDA twins of engine/loss/accuracy.c, for evaluation:
 *   topk_correct: #{ rows r of logits (N,K) : #{ j : z_r[j] > z_r[label_r] } < k }, a NaN logit of the
 *     label never counting (ties count in the label's favour, independent of order);
 *   argmax_rows: per row the first index of the largest logit, the CPU's sequential scan
 *     `if (z[j] > z[best]) best = j` from best = 0: NaN values are never taken, a NaN at 0 stays.
 * One warp per row. Both are comparisons and integer counts only: the results are identical to the
 * CPU's. The labels of topk_correct are checked on the device first (reduce.cuh's flag) and a bad
 * one fails with the CPU's sentence.
 *
 * Not here: anything with a gradient.
 */
#include "cuda_util.h"
#include "reduce.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

enum { ACC_WARPS = RFT_CUDA_THREADS / 32 };          /* rows per block */

/* z: (n,K) f32, lab: (n) i32; *count += the rows whose label is among the k largest */
__global__ void topk_correct_kernel(const float *z, const int32_t *lab, int64_t n, int64_t K, int64_t k,
                                    unsigned long long *count, const rft_bad_word *bad)
{
    if (rft_bad_set(bad)) return;
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * ACC_WARPS;
    for (int64_t i = blockIdx.x * (int64_t)ACC_WARPS + (threadIdx.x >> 5); i < n; i += warps) {
        const float *zr = z + i * K, t = zr[lab[i]];
        long long above = 0;
        for (int64_t j = lane; j < K; j += 32) above += zr[j] > t;
        above = rft_warp_sum(above);
        if (lane == 0 && !isnan(t) && above < k) atomicAdd(count, 1ull);
    }
}

/* z: (n,K) f32, pred: (n) i32 */
__global__ void argmax_rows_kernel(const float *z, int64_t n, int64_t K, int32_t *pred)
{
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * ACC_WARPS;
    for (int64_t i = blockIdx.x * (int64_t)ACC_WARPS + (threadIdx.x >> 5); i < n; i += warps) {
        const float *zr = z + i * K;
        /* each lane: the first of its largest non-NaN values (its j increase) */
        float best = 0.0f;
        int64_t at = -1;                                  /* -1: no value seen yet */
        for (int64_t j = lane; j < K; j += 32) {
            const float v = zr[j];
            if (!isnan(v) && (at < 0 || v > best)) { best = v; at = j; }
        }
        /* across lanes: the larger value, on equal values (-0 == +0 too) the lower index */
        for (int o = 16; o > 0; o >>= 1) {
            const float ob = __shfl_xor_sync(0xffffffffu, best, o);
            const int64_t oa = __shfl_xor_sync(0xffffffffu, at, o);
            if (oa >= 0 && (at < 0 || ob > best || (ob == best && oa < at))) { best = ob; at = oa; }
        }
        /* the CPU's scan never leaves a NaN at 0; with a finite start it ends at the first largest */
        if (lane == 0) pred[i] = isnan(zr[0]) || at < 0 ? 0 : (int32_t)at;
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

/* Blocks for one warp per row of n rows. */
static unsigned row_blocks(int64_t n)
{
    int64_t blocks = (n + ACC_WARPS - 1) / ACC_WARPS, cap = (int64_t)rft_cuda.sm_count * 32;
    return (unsigned)(blocks < 1 ? 1 : blocks < cap ? blocks : cap);
}

/* What comes back to the host in one copy. */
typedef struct { rft_bad_word bad; unsigned long long count; } topk_result;

/* A deferred call's count into the device's totals, or its first refused label (one thread). */
__global__ void topk_defer_kernel(const topk_result *r, const int32_t *lab, int64_t n, int64_t k,
                                  rft_cuda_deferred *acc)
{
    if (r->bad) {
        if (!acc->bad_index_plus1) {
            const int64_t i = n - (int64_t)r->bad;
            acc->bad_index_plus1 = (unsigned long long)i + 1;
            acc->bad_op = RFT_DEFERRED_TOPK;
            acc->bad_label = lab[i];
            acc->bad_row0 = 0;
            acc->bad_classes = k;
        }
        return;
    }
    acc->correct += r->count;
}

static int topk_run(const rft_tensor *logits, const int32_t *lab, int k, topk_result *r, topk_result *res)
{
    const int64_t n = logits->shape[0], K = logits->shape[1];
    RFT_CUDA_CHECK(cudaMemsetAsync(r, 0, sizeof *r, rft_cuda.stream));
    RFT_TRY(rft_cuda_range_check(lab, n, 0, K, &r->bad));
    if (n > 0)
        RFT_LAUNCH(topk_correct_kernel, row_blocks(n), RFT_CUDA_THREADS, rft_f32(logits), lab, n, K, (int64_t)k,
                   &r->count, &r->bad);
    if (!res) {                                          /* deferred: folded on the device, nothing waits */
        rft_cuda_deferred *acc = NULL;
        RFT_TRY(rft_cuda_deferred_totals(&acc));
        RFT_LAUNCH(topk_defer_kernel, 1, 1, r, lab, n, K, acc);
        return RFT_OK;
    }
    RFT_CUDA_CHECK(cudaMemcpyAsync(res, r, sizeof *res, cudaMemcpyDeviceToHost, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaStreamSynchronize(rft_cuda.stream));
    return RFT_OK;
}

int rft_cuda_topk_correct(const rft_tensor *logits, const rft_tensor *labels, int k, int64_t *correct)
{
    const int64_t n = logits->shape[0], K = logits->shape[1];
    const int32_t *lab = rft_i32(labels);
    void *scratch;
    RFT_TRY(rft_cuda_block(sizeof(topk_result), &scratch));
    topk_result res = {0, 0};
    int rc = topk_run(logits, lab, k, (topk_result *)scratch, correct ? &res : NULL);
    rft_cuda_free(scratch);
    RFT_TRY(rc);
    if (res.bad) {
        int64_t i;
        int32_t v;
        RFT_TRY(rft_cuda_bad_value(res.bad, lab, n, &i, &v));
        return rft_fail(RFT_EARG, "topk_correct: labels[%lld] = %d (row %lld) is outside 0..%lld", (long long)i, v,
                        (long long)i, (long long)(K - 1));
    }
    if (correct) *correct = (int64_t)res.count;
    return RFT_OK;
}

int rft_cuda_argmax_rows(const rft_tensor *logits, rft_tensor *pred)
{
    const int64_t n = logits->shape[0], K = logits->shape[1];
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(argmax_rows_kernel, row_blocks(n), RFT_CUDA_THREADS, rft_f32(logits), n, K, rft_i32(pred));
    return RFT_OK;
}
