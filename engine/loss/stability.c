/* stability.c: the stability-training loss (Zheng et al. 2016) on the logits of a two-view batch.
 *
 *   z: (2B,K), rows [0,B) clean x_i, rows [B,2B) distorted x~_i; P = softmax(z_i), Q = softmax(z~_i)
 *   loss = alpha/B * sum_i -sum_j P_j log Q_j            (kl: alpha/B * sum_i sum_j P_j (log P_j - log Q_j))
 *   d/dz~_ij = alpha/B * (Q_j - P_j)                      (both forms)
 *   d/dz_ik  = alpha/B * -P_k (log Q_k - sum_j P_j log Q_j)          (cross-entropy form)
 *            = alpha/B *  P_k (r_k - sum_j P_j r_j), r = log P - log Q   (kl form)
 *   clean_const: d/dz = 0 (the clean branch is a fixed target).
 * Not here: the classification loss J0 on the clean rows (rft_cross_entropy). */
#include "backend.h"
#include <math.h>
#include <stdlib.h>

int rft_stability_loss(const rft_stability_args *a, const rft_tensor *logits, double *loss, rft_tensor *grad)
{
    RFT_TRY(rft_check_dtype("stability", "logits", logits, RFT_F32));
    RFT_TRY(rft_check_ndim("stability", "logits", logits, 2));
    if (logits->shape[1] < 1) return rft_fail(RFT_ESHAPE, "stability: logits %s have no classes", rft_shape_str(logits));
    RFT_TRY(rft_check_dtype("stability", "grad", grad, RFT_F32));
    RFT_TRY(rft_check_same_device("stability", "grad", logits, grad));
    if (!a || !loss) return rft_fail(RFT_EARG, "stability: args and loss are required");
    if (logits->shape[0] < 2 || logits->shape[0] % 2)
        return rft_fail(RFT_ESHAPE, "stability: logits %s must hold a two-view batch [x ; x~] (an even number "
                        "of rows >= 2)", rft_shape_str(logits));
    RFT_TRY(rft_tensor_resize(grad, 2, logits->shape));
    RFT_TRY(RFT_CALL("stability", logits, stability_loss, a, logits, loss, grad));
    *loss = rft_canonical(*loss);   /* Lua reads it (rft.h) */
    return RFT_OK;
}

/* log-softmax of one row into out */
static void log_softmax(const float *z, int64_t k, double *out)
{
    double mx = z[0], s = 0;
    for (int64_t j = 1; j < k; j++) mx = z[j] > mx ? z[j] : mx;
    for (int64_t j = 0; j < k; j++) s += exp((double)z[j] - mx);
    double lse = mx + log(s);
    for (int64_t j = 0; j < k; j++) out[j] = (double)z[j] - lse;
}

RFT_CLONES
int rft_cpu_stability_loss(const rft_stability_args *a, const rft_tensor *logits, double *loss, rft_tensor *grad)
{
    int64_t b = logits->shape[0] / 2, k = logits->shape[1];
    const float *z = rft_f32(logits);
    float *g = rft_f32(grad);
    double *tmp = malloc(sizeof(double) * 2 * (size_t)k);
    if (!tmp) return rft_fail(RFT_ENOMEM, "stability: out of memory");
    double *lp = tmp, *lq = tmp + k, total = 0, c = a->alpha / (double)b;
    for (int64_t i = 0; i < b; i++) {
        log_softmax(z + i * k, k, lp);
        log_softmax(z + (i + b) * k, k, lq);
        double ce = 0, kl = 0;
        for (int64_t j = 0; j < k; j++) {
            double p = exp(lp[j]);
            ce -= p * lq[j];
            kl += p * (lp[j] - lq[j]);
        }
        total += a->kl ? kl : ce;
        for (int64_t j = 0; j < k; j++) {
            double p = exp(lp[j]), q = exp(lq[j]);
            g[(i + b) * k + j] = (float)(c * (q - p));
            double gc = a->kl ? p * ((lp[j] - lq[j]) - kl) : -p * (lq[j] + ce);
            g[i * k + j] = a->clean_const ? 0.0f : (float)(c * gc);
        }
    }
    free(tmp);
    *loss = a->alpha * total / (double)b;
    return RFT_OK;
}
