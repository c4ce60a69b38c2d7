/* fma.c: the feature-map augmentation loss (paper eq. 6) for one tapped layer of a two-view batch.
 *
 *   f: (2B, D...) with rows [0,B) = f(x_i) (clean) and rows [B,2B) = f(x~_i) (distorted)
 *   kappa = values per image, m_i = mean_k f(x_i)_k, n_i = m_i + eps
 *   loss += scale / B * sum_i S_i / (kappa n_i^2),      S_i = sum_k (f(x_i)_k - f(x~_i)_k)^2
 *   d/df(x_i)_k  =  scale/B * 2 d_k / (kappa n_i^2)    [- 2 S_i / (kappa^2 n_i^3) if exact_normalizer]
 *   d/df(x~_i)_k = -scale/B * 2 d_k / (kappa n_i^2)
 * The layer set, the per-layer weights w_l / |L| and gamma are the caller's (lua/rft/loss.lua):
 * scale = gamma * w_l / |L|. Two passes per image: the sums (engine/loss/fma_sums.h), then both views'
 * gradients; the factored form (rft_fma_loss_factored) makes the first only, the tapped layer's
 * backward forming the gradient from the map, and rft_fma_loss_sums not even that: it takes the sums a
 * tapped ReLU made as it wrote the map (rft_relu_forward_pairs). Not here: choosing taps or summing
 * layers. */
#include "backend.h"
#include "loss/fma_sums.h"
#include <math.h>

/* The checks both entry points share: f a two-view batch, the arguments present and sane. */
static int check_args(const char *op, const rft_fma_args *a, const rft_tensor *f, const double *loss)
{
    RFT_TRY(rft_check_dtype(op, "feature map", f, RFT_F32));
    if (!a || !loss) return rft_fail(RFT_EARG, "%s: args and loss are required", op);
    if (f->shape[0] < 2 || f->shape[0] % 2)
        return rft_fail(RFT_ESHAPE, "%s: feature map %s must hold a two-view batch [x ; x~] (an even number "
                        "of rows >= 2)", op, rft_shape_str(f));
    if (!(a->eps >= 0)) return rft_fail(RFT_EARG, "%s: eps = %g, expected >= 0", op, a->eps);
    return RFT_OK;
}

int rft_fma_loss(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *grad)
{
    RFT_TRY(check_args("fma", a, f, loss));
    RFT_TRY(rft_check_dtype("fma", "grad", grad, RFT_F32));
    RFT_TRY(rft_check_same_device("fma", "grad", f, grad));
    RFT_TRY(rft_tensor_resize(grad, f->ndim, f->shape));
    RFT_TRY(RFT_CALL("fma", f, fma_loss, a, scale, f, loss, grad));
    *loss = rft_canonical(*loss);   /* a NaN map gives the quiet NaN, never a payload (rft.h) */
    return RFT_OK;
}

int rft_fma_loss_factored(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *coef,
                          rft_tensor *index)
{
    const char *op = "fma_loss_factored";
    RFT_TRY(check_args(op, a, f, loss));
    RFT_TRY(rft_check_dtype(op, "coef", coef, RFT_F32));
    RFT_TRY(rft_check_dtype(op, "index", index, RFT_I32));
    RFT_TRY(rft_check_same_device(op, "coef", f, coef));
    RFT_TRY(rft_check_same_device(op, "index", f, index));
    if (coef->storage == f->storage || index->storage == f->storage || coef->storage == index->storage)
        return rft_fail(RFT_EARG, "%s: coef, index and the feature map must not share memory", op);
    if (f->shape[0] > INT32_MAX) return rft_fail(RFT_ESHAPE, "%s: %s has too many rows for an i32 index", op,
                                                 rft_shape_str(f));
    RFT_TRY(rft_tensor_resize(coef, 2, (int64_t[]){f->shape[0], 3}));
    RFT_TRY(rft_tensor_resize(index, 2, (int64_t[]){f->shape[0], 2}));
    RFT_TRY(RFT_CALL(op, f, fma_loss_factored, a, scale, f, loss, coef, index));
    *loss = rft_canonical(*loss);
    return RFT_OK;
}

/* Pair i's coefficient and shift (both f32, as the gradient uses them) and its loss term S_i / (kappa
   m_i^2), from its sums (fma_pair_sums: sum of the clean row, S_i). */
static inline double pair_terms(const rft_fma_args *a, float scale, const double *sums, int64_t kappa, int64_t b,
                                float *coef, float *shift)
{
    double m = sums[0] / (double)kappa + a->eps, s = sums[1];
    double inv = 1.0 / ((double)kappa * m * m);
    *coef = (float)(scale / (double)b * 2.0 * inv);
    *shift = a->exact_normalizer ? (float)(-scale / (double)b * 2.0 * s * inv / ((double)kappa * m)) : 0.0f;
    return s * inv;
}

/* The factored form's rows for pair i of b (rft_fma_loss_factored): {c, 0, shift} and {B + i, i} for the
   clean row, {c, 0, 0} and {i, B + i} for the distorted one. */
static inline void factored_rows(int64_t i, int64_t b, float c, float shift, float *cf, int32_t *ix)
{
    float *pc = cf + 3 * i, *pd = cf + 3 * (i + b);
    pc[0] = c, pc[1] = 0.0f, pc[2] = shift;
    pd[0] = c, pd[1] = 0.0f, pd[2] = 0.0f;
    int32_t *qc = ix + 2 * i, *qd = ix + 2 * (i + b);
    qc[0] = (int32_t)(i + b), qc[1] = (int32_t)i;
    qd[0] = (int32_t)i, qd[1] = (int32_t)(i + b);
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
        float coef, shift;
        double sums[2];
        fma_pair_sums(c, d, kappa, sums);
        total += pair_terms(a, scale, sums, kappa, b, &coef, &shift);
        for (int64_t k = 0; k < kappa; k++) {
            float diff = c[k] - d[k];
            gc[k] = coef * diff + shift;
            gd[k] = -coef * diff;
        }
    }
    *loss += scale * total / (double)b;
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_fma_loss_factored(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *coef,
                              rft_tensor *index)
{
    int64_t b = f->shape[0] / 2, kappa = f->numel / f->shape[0];
    const float *x = rft_f32(f);
    float *cf = rft_f32(coef);
    int32_t *ix = rft_i32(index);
    double total = 0;
    #pragma omp parallel for reduction(+:total) if (f->numel > RFT_PAR_MIN)
    for (int64_t i = 0; i < b; i++) {
        float c, shift;
        double sums[2];
        fma_pair_sums(x + i * kappa, x + (i + b) * kappa, kappa, sums);
        total += pair_terms(a, scale, sums, kappa, b, &c, &shift);
        factored_rows(i, b, c, shift, cf, ix);
    }
    *loss += scale * total / (double)b;
    return RFT_OK;
}

/* The factored form from sums made by rft_relu_forward_pairs: no read of the map. */
int rft_fma_loss_sums(const rft_fma_args *a, float scale, const rft_tensor *f, const double *sums, double *loss,
                      rft_tensor *coef, rft_tensor *index)
{
    const char *op = "fma_loss_sums";
    RFT_TRY(check_args(op, a, f, loss));
    RFT_TRY(rft_check_cpu(op, "feature map", f));
    RFT_TRY(rft_check_cpu(op, "coef", coef));
    RFT_TRY(rft_check_cpu(op, "index", index));
    RFT_TRY(rft_check_dtype(op, "coef", coef, RFT_F32));
    RFT_TRY(rft_check_dtype(op, "index", index, RFT_I32));
    if (!sums) return rft_fail(RFT_EARG, "%s: sums is missing (NULL)", op);
    if (coef->storage == index->storage) return rft_fail(RFT_EARG, "%s: coef and index must not share memory", op);
    if (f->shape[0] > INT32_MAX) return rft_fail(RFT_ESHAPE, "%s: %s has too many rows for an i32 index", op,
                                                 rft_shape_str(f));
    RFT_TRY(rft_tensor_resize(coef, 2, (int64_t[]){f->shape[0], 3}));
    RFT_TRY(rft_tensor_resize(index, 2, (int64_t[]){f->shape[0], 2}));
    const int64_t b = f->shape[0] / 2, kappa = f->numel / f->shape[0];
    float *cf = rft_f32(coef);
    int32_t *ix = rft_i32(index);
    double total = 0;
    #pragma omp parallel for reduction(+:total) if (f->numel > RFT_PAR_MIN)   /* as rft_cpu_fma_loss_factored */
    for (int64_t i = 0; i < b; i++) {
        float c, shift;
        total += pair_terms(a, scale, sums + 2 * i, kappa, b, &c, &shift);
        factored_rows(i, b, c, shift, cf, ix);
    }
    *loss = rft_canonical(*loss + scale * total / (double)b);
    return RFT_OK;
}
