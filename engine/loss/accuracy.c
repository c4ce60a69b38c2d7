/* accuracy.c: the top-k accuracy count for evaluation (top-1 for CIFAR, top-5 for ImageNet), and
 * the predicted class of each row (for per-class accuracy):
 *   correct = #{ rows r of logits (N,K) : #{ j : z_r[j] > z_r[label_r] } < k }
 * i.e. the label is among the k largest logits, ties counting in the label's favour (PyTorch's topk
 * breaks ties arbitrarily; this rule does not depend on the order). A NaN logit of the label never
 * counts as correct. Not a loss: nothing here has a gradient. */
#include "backend.h"
#include "ops_check.h"
#include <math.h>

int rft_topk_correct(const rft_tensor *logits, const rft_tensor *labels, int k, int64_t *correct)
{
    const char *op = "topk_correct";
    RFT_TRY(rft_check_dtype(op, "logits", logits, RFT_F32));
    if (logits->ndim != 2 || logits->shape[1] < 1)
        return rft_fail(RFT_ESHAPE, "%s: logits must be (N,K) with K >= 1, got %s", op, rft_shape_str(logits));
    RFT_TRY(rft_check_dtype(op, "labels", labels, RFT_I32));
    RFT_TRY(rft_check_same_device(op, "labels", logits, labels));
    if (labels->ndim != 1 || labels->shape[0] != logits->shape[0])
        return rft_fail(RFT_ESHAPE, "%s: labels has shape %s, expected [%lld] (one per row of logits %s)", op,
                        rft_shape_str(labels), (long long)logits->shape[0], rft_shape_str(logits));
    if (k < 1 || k > logits->shape[1])
        return rft_fail(RFT_EARG, "%s: k = %d, expected 1 <= k <= %lld (the number of classes)", op, k,
                        (long long)logits->shape[1]);
    if (!correct) return rft_fail(RFT_EARG, "%s: correct is NULL", op);
    RFT_DISPATCH(op, logits, topk_correct, logits, labels, k, correct);
}

RFT_CLONES
int rft_cpu_topk_correct(const rft_tensor *logits, const rft_tensor *labels, int k, int64_t *correct)
{
    const int64_t n = logits->shape[0], K = logits->shape[1];
    const int32_t *lab = rft_i32(labels);
    for (int64_t i = 0; i < n; i++)
        if (lab[i] < 0 || lab[i] >= K)
            return rft_fail(RFT_EARG, "topk_correct: labels[%lld] = %d (row %lld) is outside 0..%lld", (long long)i,
                            lab[i], (long long)i, (long long)(K - 1));
    const float *z = rft_f32(logits);
    int64_t count = 0;
    #pragma omp parallel for reduction(+:count) if (n * K > RFT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float *zr = z + i * K, t = zr[lab[i]];
        int64_t above = 0;
        for (int64_t j = 0; j < K; j++) above += zr[j] > t;
        count += !isnan(t) && above < k;
    }
    *correct = count;
    return RFT_OK;
}

int rft_argmax_rows(const rft_tensor *logits, rft_tensor *pred)
{
    const char *op = "argmax_rows";
    RFT_TRY(rft_check_dtype(op, "logits", logits, RFT_F32));
    if (logits->ndim != 2 || logits->shape[1] < 1)
        return rft_fail(RFT_ESHAPE, "%s: logits must be (N,K) with K >= 1, got %s", op, rft_shape_str(logits));
    RFT_TRY(rft_check_dtype(op, "pred", pred, RFT_I32));
    RFT_TRY(rft_check_same_device(op, "pred", logits, pred));
    RFT_TRY(rft_tensor_resize(pred, 1, logits->shape));
    RFT_DISPATCH(op, logits, argmax_rows, logits, pred);
}

RFT_CLONES
int rft_cpu_argmax_rows(const rft_tensor *logits, rft_tensor *pred)
{
    const int64_t n = logits->shape[0], K = logits->shape[1];
    const float *z = rft_f32(logits);
    int32_t *p = rft_i32(pred);
    for (int64_t i = 0; i < n; i++) {
        const float *zr = z + i * K;
        int32_t best = 0;
        for (int64_t j = 1; j < K; j++) if (zr[j] > zr[best]) best = (int32_t)j;
        p[i] = best;
    }
    return RFT_OK;
}
