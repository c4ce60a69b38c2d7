/* fma.c: the feature-map augmentation loss (paper eq. 6) for one tapped layer of a two-view batch.
 *
 *   f: (2B, D...) with rows [0,B) = f(x_i) (clean) and rows [B,2B) = f(x~_i) (distorted)
 *   kappa = values per image, m_i = mean_k f(x_i)_k, n_i = m_i + eps
 *   loss += scale / B * sum_i S_i / (kappa n_i^2),      S_i = sum_k (f(x_i)_k - f(x~_i)_k)^2
 *   d/df(x_i)_k  =  scale/B * 2 d_k / (kappa n_i^2)    [- 2 S_i / (kappa^2 n_i^3) if exact_normalizer]
 *   d/df(x~_i)_k = -scale/B * 2 d_k / (kappa n_i^2)
 * The layer set, the per-layer weights w_l / |L| and gamma are the caller's (lua/rft/loss.lua):
 * scale = gamma * w_l / |L|. Two passes per image: the sums (double lanes), then both views'
 * gradients. Not here: choosing taps or summing layers. */
#include "backend.h"
#include <math.h>

int rft_fma_loss(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *grad)
{
    RFT_TRY(rft_check_dtype("fma", "feature map", f, RFT_F32));
    RFT_TRY(rft_check_dtype("fma", "grad", grad, RFT_F32));
    RFT_TRY(rft_check_same_device("fma", "grad", f, grad));
    if (!a || !loss) return rft_fail(RFT_EARG, "fma: args and loss are required");
    if (f->shape[0] < 2 || f->shape[0] % 2)
        return rft_fail(RFT_ESHAPE, "fma: feature map %s must hold a two-view batch [x ; x~] (an even number "
                        "of rows >= 2)", rft_shape_str(f));
    if (!(a->eps >= 0)) return rft_fail(RFT_EARG, "fma: eps = %g, expected >= 0", a->eps);
    RFT_TRY(rft_tensor_resize(grad, f->ndim, f->shape));
    RFT_TRY(RFT_CALL("fma", f, fma_loss, a, scale, f, loss, grad));
    *loss = rft_canonical(*loss);   /* a NaN map gives the quiet NaN, never a payload (rft.h) */
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_fma_loss(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *grad)
{
    int64_t b = f->shape[0] / 2, kappa = f->numel / f->shape[0];
    const float *x = rft_f32(f);
    float *g = rft_f32(grad);
    double total = 0;
    #pragma omp parallel for reduction(+:total) if (f->numel > RFT_PAR_MIN)
    for (int64_t i = 0; i < b; i++) {
        const float *c = x + i * kappa, *d = x + (i + b) * kappa;
        float *gc = g + i * kappa, *gd = g + (i + b) * kappa;
        /* one pass reads both views: the clean sum and the squared differences, in double lanes */
        double m = 0, s = 0;
        #pragma omp simd reduction(+:m, s)
        for (int64_t k = 0; k < kappa; k++) {
            double diff = (double)c[k] - d[k];
            m += c[k];
            s += diff * diff;
        }
        m = m / (double)kappa + a->eps;
        double inv = 1.0 / ((double)kappa * m * m);
        total += s * inv;
        float coef = (float)(scale / (double)b * 2.0 * inv);
        float shift = a->exact_normalizer ? (float)(-scale / (double)b * 2.0 * s * inv / ((double)kappa * m)) : 0.0f;
        for (int64_t k = 0; k < kappa; k++) {
            float diff = c[k] - d[k];
            gc[k] = coef * diff + shift;
            gd[k] = -coef * diff;
        }
    }
    *loss += scale * total / (double)b;
    return RFT_OK;
}
