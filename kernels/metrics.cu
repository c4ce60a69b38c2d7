/* metrics.cu: the CUDA backend's deferred totals (engine/loss/metrics.c says what they are for).
 * One record in device memory, made zeroed on first use: cross_entropy.cu and accuracy.cu fold a
 * deferred call's result into it with a one-thread kernel queued behind the call's own, so nothing
 * waits; rft_cuda_metrics_take copies it to the host, zeroes it and waits for the stream once. A
 * deferred call whose labels are refused adds nothing; the record keeps the first such label and the
 * take fails with the sentence the immediate call gives, marked as deferred.
 * Not here: the loss and count kernels. */
#include "cuda_util.h"

static rft_cuda_deferred *totals;       /* device memory */

int rft_cuda_deferred_totals(rft_cuda_deferred **out)
{
    if (!totals) {
        void *p;
        RFT_CUDA_CHECK(cudaMalloc(&p, sizeof(rft_cuda_deferred)));
        RFT_CUDA_CHECK(cudaMemsetAsync(p, 0, sizeof(rft_cuda_deferred), rft_cuda.stream));
        totals = (rft_cuda_deferred *)p;
    }
    *out = totals;
    return RFT_OK;
}

int rft_cuda_metrics_take(double *loss_sum, int64_t *correct)
{
    rft_cuda_deferred *d = NULL;
    RFT_TRY(rft_cuda_deferred_totals(&d));
    rft_cuda_deferred h;
    RFT_CUDA_CHECK(cudaMemcpyAsync(&h, d, sizeof h, cudaMemcpyDeviceToHost, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaMemsetAsync(d, 0, sizeof h, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaStreamSynchronize(rft_cuda.stream));
    if (h.bad_index_plus1) {
        const long long i = (long long)h.bad_index_plus1 - 1;
        if (h.bad_op == RFT_DEFERRED_CROSS_ENTROPY)
            return rft_fail(RFT_EARG, "cross_entropy: labels[%lld] = %d (row %lld of logits) is outside 0..%lld "
                            "(a deferred call, reported by metrics_take)", i, h.bad_label, h.bad_row0 + i,
                            h.bad_classes - 1);
        return rft_fail(RFT_EARG, "topk_correct: labels[%lld] = %d (row %lld) is outside 0..%lld (a deferred "
                        "call, reported by metrics_take)", i, h.bad_label, i, h.bad_classes - 1);
    }
    *loss_sum = h.loss;
    *correct = (int64_t)h.correct;
    return RFT_OK;
}
