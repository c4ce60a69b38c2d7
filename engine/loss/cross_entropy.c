/* cross_entropy.c: softmax cross-entropy, the log-softmax and the negative log-likelihood fused, over
 * a range of rows of a logits matrix (PyTorch's F.cross_entropy with mean reduction on those rows):
 *   logits z: (N,K), rows r in [row0, row1), n = row1 - row0, labels: [n] in 0..K-1
 *   loss = 1/n sum_r (logsumexp(z_r) - z_r[label_r])
 *   dlogits_r = scale/n (softmax(z_r) - onehot(label_r)) for r in the range, 0 elsewhere
 * With label smoothing e (rft_cross_entropy_smoothed; PyTorch's label_smoothing) the target is
 * q = (1 - e) onehot(label) + e/K instead of the one-hot row:
 *   loss = 1/n sum_r (logsumexp(z_r) - (1 - e) z_r[label_r] - e/K sum_j z_r[j])
 *   dlogits_r = scale/n (softmax(z_r) - q_r)
 * e = 0 computes exactly what it computed before smoothing existed.
 * The range lets AT and ST use the clean half (or the whole) of a two-view batch [x ; x~] while
 * the other rows get a zero gradient to add to. logsumexp subtracts the row maximum first; the loss
 * sums in double. Not here: class weights, ignore_index. */
#include "backend.h"
#include "ops_check.h"
#include <math.h>
#include <string.h>

int rft_cross_entropy(const rft_tensor *logits, const rft_tensor *labels, int64_t row0, int64_t row1, float scale,
                      double *loss, rft_tensor *dlogits)
{
    return rft_cross_entropy_smoothed(logits, labels, row0, row1, 0, scale, loss, dlogits);
}

int rft_cross_entropy_smoothed(const rft_tensor *logits, const rft_tensor *labels, int64_t row0, int64_t row1,
                               float smoothing, float scale, double *loss, rft_tensor *dlogits)
{
    const char *op = "cross_entropy";
    if (!(smoothing >= 0 && smoothing <= 1))
        return rft_fail(RFT_EARG, "%s: label smoothing must be in [0, 1], got %g", op, (double)smoothing);
    RFT_TRY(rft_check_dtype(op, "logits", logits, RFT_F32));
    if (logits->ndim != 2 || logits->shape[1] < 1)
        return rft_fail(RFT_ESHAPE, "%s: logits must be (N,K) with K >= 1, got %s", op, rft_shape_str(logits));
    RFT_TRY(rft_check_dtype(op, "labels", labels, RFT_I32));
    RFT_TRY(rft_check_same_device(op, "labels", logits, labels));
    if (row0 < 0 || row1 <= row0 || row1 > logits->shape[0])
        return rft_fail(RFT_EARG, "%s: rows [%lld, %lld) are not a non-empty range of the %lld rows of logits %s",
                        op, (long long)row0, (long long)row1, (long long)logits->shape[0], rft_shape_str(logits));
    if (labels->ndim != 1 || labels->shape[0] != row1 - row0)
        return rft_fail(RFT_ESHAPE, "%s: labels has shape %s, expected [%lld] (one per row in [%lld, %lld))", op,
                        rft_shape_str(labels), (long long)(row1 - row0), (long long)row0, (long long)row1);
    if (dlogits) {
        RFT_TRY(ops_f32_like(op, "dlogits", dlogits, logits));
        if (dlogits->storage == logits->storage)
            return rft_fail(RFT_EARG, "%s: dlogits shares memory with logits", op);
        RFT_TRY(rft_tensor_resize(dlogits, 2, logits->shape));
    }
    RFT_TRY(RFT_CALL(op, logits, cross_entropy, logits, labels, row0, row1, smoothing, scale, loss, dlogits));
    if (loss) *loss = rft_canonical(*loss);       /* NULL: deferred, read through rft_metrics_take */
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_cross_entropy(const rft_tensor *logits, const rft_tensor *labels, int64_t row0, int64_t row1,
                          float smoothing, float scale, double *loss, rft_tensor *dlogits)
{
    const int64_t rows = logits->shape[0], k = logits->shape[1], n = row1 - row0;
    const int32_t *lab = rft_i32(labels);
    for (int64_t i = 0; i < n; i++)
        if (lab[i] < 0 || lab[i] >= k)
            return rft_fail(RFT_EARG, "cross_entropy: labels[%lld] = %d (row %lld of logits) is outside 0..%lld",
                            (long long)i, lab[i], (long long)(row0 + i), (long long)(k - 1));
    const float *z = rft_f32(logits);
    float *d = dlogits ? rft_f32(dlogits) : NULL;
    if (d) {
        memset(d, 0, (size_t)(row0 * k) * sizeof *d);
        memset(d + row1 * k, 0, (size_t)((rows - row1) * k) * sizeof *d);
    }
    const float g = scale / (float)n;
    const double off = (double)smoothing / (double)k, on = 1 - (double)smoothing;   /* the target q */
    const float g_on = g * (float)on, g_off = g * (float)off;
    double total = 0;
    #pragma omp parallel for reduction(+:total) if (n * k > RFT_PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        const float *zr = z + (row0 + i) * k;
        float mx = zr[0];
        for (int64_t j = 1; j < k; j++) mx = zr[j] > mx ? zr[j] : mx;
        double s = 0;
        for (int64_t j = 0; j < k; j++) s += exp((double)(zr[j] - mx));
        const double lse = mx + log(s);
        if (smoothing == 0) {
            total += lse - zr[lab[i]];
        } else {
            double sum = 0;
            for (int64_t j = 0; j < k; j++) sum += zr[j];
            total += lse - on * zr[lab[i]] - off * sum;
        }
        if (d) {
            float *dr = d + (row0 + i) * k;
            if (smoothing == 0) {
                for (int64_t j = 0; j < k; j++) dr[j] = g * (float)exp((double)zr[j] - lse);
                dr[lab[i]] -= g;
            } else {
                for (int64_t j = 0; j < k; j++) dr[j] = g * (float)exp((double)zr[j] - lse) - g_off;
                dr[lab[i]] -= g_on;
            }
        }
    }
    if (loss) *loss = total / (double)n;
    else rft_cpu_defer(total / (double)n, 0);       /* engine/loss/metrics.c */
    return RFT_OK;
}
