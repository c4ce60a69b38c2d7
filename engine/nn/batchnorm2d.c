/* batchnorm2d.c: batch normalisation over (N,H,W) per channel (Ioffe and Szegedy 2015) with
 * PyTorch's nn.BatchNorm2d semantics, forward in training and evaluation mode and both gradients.
 *   x, y, dy, dx: (N,C,H,W); weight, bias, running_*, save_*, dweight, dbias: (C); M = N*H*W
 *   train:  mean = sum x / M,  var = sum (x - mean)^2 / M (biased),  invstd = 1/sqrt(var + eps)
 *           y = (x - mean) * invstd * weight + bias
 *           running_mean = (1 - momentum) running_mean + momentum mean
 *           running_var  = (1 - momentum) running_var  + momentum var * M/(M-1)   (unbiased)
 *   eval:   the same y with running_mean, 1/sqrt(running_var + eps)
 *   backward (train), xhat = (x - mean) * invstd:
 *           dbias += scale sum dy,  dweight += scale sum dy xhat
 *           dx = weight invstd (dy - sum dy / M - xhat sum(dy xhat) / M)
 *   backward (eval): dx = dy weight invstd, the statistics being constants.
 * Channel sums accumulate in double over planes (within a plane in vectorised f32), and the variance
 * takes a second pass over the centred values (no E[x^2] - E[x]^2 cancellation). Threads split the channels.
 * Fused with the ReLU that follows (a->relu; the *_relu_backward ops): the forward writes max(y, 0),
 * and the backward forms g = (dy + extra) [y > 0] one plane at a time in a per-thread row, then runs
 * the same sums and dx on it as the unfused backward does on ReLU's output: the same numbers, with
 * one pass over the map and one map-sized buffer fewer. The tap gradient may come in factored form
 * (rft_invariance_loss_factored): then it is formed from y in the same pass, never written out.
 * Not here: 1-D batch norm (N,C), momentum = None (cumulative averages), other normalisations. */
#include <stdlib.h>
#include "backend.h"
#include "ops_check.h"
#include <math.h>

static int check_x(const char *op, const rft_tensor *x)
{
    RFT_TRY(rft_check_dtype(op, "input", x, RFT_F32));
    if (x->ndim != 4) return rft_fail(RFT_ESHAPE, "%s: input must be (N,C,H,W), got %s", op, rft_shape_str(x));
    return RFT_OK;
}

static int check_args(const char *op, const rft_batchnorm_args *a)
{
    if (!a) return rft_fail(RFT_EARG, "%s: args is NULL", op);
    if (!(a->eps >= 0)) return rft_fail(RFT_EARG, "%s: eps = %g, expected >= 0", op, a->eps);
    if (!(a->momentum >= 0 && a->momentum <= 1))
        return rft_fail(RFT_EARG, "%s: momentum = %g, expected 0 <= momentum <= 1", op, a->momentum);
    return RFT_OK;
}

/* weight and bias are optional; when given, f32 [C] on x's device */
static int check_affine(const char *op, const rft_tensor *x, const rft_tensor *weight, const rft_tensor *bias)
{
    if (weight) RFT_TRY(ops_channel_vector(op, "weight", weight, x->shape[1], x));
    if (bias) RFT_TRY(ops_channel_vector(op, "bias", bias, x->shape[1], x));
    return RFT_OK;
}

int rft_batchnorm2d_forward_train(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                  const rft_tensor *bias, rft_tensor *running_mean, rft_tensor *running_var,
                                  rft_tensor *y, rft_tensor *save_mean, rft_tensor *save_invstd)
{
    const char *op = "batchnorm2d";
    RFT_TRY(check_args(op, a));
    RFT_TRY(check_x(op, x));
    int64_t c = x->shape[1], m = x->shape[0] * x->shape[2] * x->shape[3];
    if (m < 2)
        return rft_fail(RFT_ESHAPE, "%s: training needs more than one value per channel, input is %s", op,
                        rft_shape_str(x));
    RFT_TRY(check_affine(op, x, weight, bias));
    RFT_TRY(ops_channel_vector(op, "running_mean", running_mean, c, x));
    RFT_TRY(ops_channel_vector(op, "running_var", running_var, c, x));
    RFT_TRY(ops_f32_like(op, "output", y, x));
    RFT_TRY(ops_f32_like(op, "save_mean", save_mean, x));
    RFT_TRY(ops_f32_like(op, "save_invstd", save_invstd, x));
    if (y != x) RFT_TRY(rft_tensor_resize(y, 4, x->shape));
    RFT_TRY(rft_tensor_resize(save_mean, 1, &c));
    RFT_TRY(rft_tensor_resize(save_invstd, 1, &c));
    RFT_DISPATCH(op, x, batchnorm2d_forward_train, a, x, weight, bias, running_mean, running_var, y, save_mean, save_invstd);
}

int rft_batchnorm2d_forward_eval(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                 const rft_tensor *bias, const rft_tensor *running_mean,
                                 const rft_tensor *running_var, rft_tensor *y)
{
    const char *op = "batchnorm2d_eval";
    RFT_TRY(check_args(op, a));
    RFT_TRY(check_x(op, x));
    int64_t c = x->shape[1];
    RFT_TRY(check_affine(op, x, weight, bias));
    RFT_TRY(ops_channel_vector(op, "running_mean", running_mean, c, x));
    RFT_TRY(ops_channel_vector(op, "running_var", running_var, c, x));
    RFT_TRY(ops_f32_like(op, "output", y, x));
    if (y != x) RFT_TRY(rft_tensor_resize(y, 4, x->shape));
    RFT_DISPATCH(op, x, batchnorm2d_forward_eval, a, x, weight, bias, running_mean, running_var, y);
}

/* The checks both backward passes share: dy like x, dx resized (may be dy), dweight/dbias [C]. */
static int check_backward(const char *op, const rft_tensor *x, const rft_tensor *weight, const rft_tensor *dy,
                          rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias)
{
    RFT_TRY(check_x(op, x));
    if (weight) RFT_TRY(ops_channel_vector(op, "weight", weight, x->shape[1], x));
    RFT_TRY(ops_f32_like(op, "dy", dy, x));
    RFT_TRY(ops_same_shape(op, "dy", dy, "input", x));
    if (dweight) RFT_TRY(ops_channel_vector(op, "dweight", dweight, x->shape[1], x));
    if (dbias) RFT_TRY(ops_channel_vector(op, "dbias", dbias, x->shape[1], x));
    if (dx) {
        RFT_TRY(ops_f32_like(op, "dx", dx, x));
        if (dx == x) return rft_fail(RFT_EARG, "%s: dx must not be the input", op);
        if (dx != dy) RFT_TRY(rft_tensor_resize(dx, 4, x->shape));
    }
    return RFT_OK;
}

int rft_batchnorm2d_backward(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                             const rft_tensor *save_invstd, const rft_tensor *dy, float scale, rft_tensor *dx,
                             rft_tensor *dweight, rft_tensor *dbias)
{
    const char *op = "batchnorm2d_backward";
    RFT_TRY(check_x(op, x));
    RFT_TRY(ops_channel_vector(op, "save_mean", save_mean, x->shape[1], x));
    RFT_TRY(ops_channel_vector(op, "save_invstd", save_invstd, x->shape[1], x));
    RFT_TRY(check_backward(op, x, weight, dy, dx, dweight, dbias));
    RFT_DISPATCH(op, x, batchnorm2d_backward, x, weight, save_mean, save_invstd, dy, scale, dx, dweight, dbias);
}

int rft_batchnorm2d_backward_eval(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *running_mean,
                                  const rft_tensor *running_var, float eps, const rft_tensor *dy, float scale,
                                  rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias)
{
    const char *op = "batchnorm2d_backward_eval";
    RFT_TRY(check_x(op, x));
    if (!(eps >= 0)) return rft_fail(RFT_EARG, "%s: eps = %g, expected >= 0", op, eps);
    RFT_TRY(ops_channel_vector(op, "running_mean", running_mean, x->shape[1], x));
    RFT_TRY(ops_channel_vector(op, "running_var", running_var, x->shape[1], x));
    RFT_TRY(check_backward(op, x, weight, dy, dx, dweight, dbias));
    RFT_DISPATCH(op, x, batchnorm2d_backward_eval, x, weight, running_mean, running_var, eps, dy, scale, dx, dweight, dbias);
}

/* The fused ops' extra checks: y (the fused output) and extra like x; dx not y nor extra. */
static int check_relu(const char *op, const rft_tensor *x, const rft_tensor *y, const rft_tensor *extra,
                      const rft_tensor *dx)
{
    RFT_TRY(ops_f32_like(op, "y", y, x));
    RFT_TRY(ops_same_shape(op, "y", y, "input", x));
    if (extra) {
        RFT_TRY(ops_f32_like(op, "extra", extra, x));
        RFT_TRY(ops_same_shape(op, "extra", extra, "input", x));
    }
    if (dx && (dx == y || dx == extra)) return rft_fail(RFT_EARG, "%s: dx must not be y or extra (it may be dy)", op);
    return RFT_OK;
}

int rft_batchnorm2d_relu_backward(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                  const rft_tensor *save_invstd, const rft_tensor *y, const rft_tensor *dy,
                                  const rft_tensor *extra, float scale, rft_tensor *dx, rft_tensor *dweight,
                                  rft_tensor *dbias)
{
    const char *op = "batchnorm2d_relu_backward";
    RFT_TRY(check_x(op, x));
    RFT_TRY(ops_channel_vector(op, "save_mean", save_mean, x->shape[1], x));
    RFT_TRY(ops_channel_vector(op, "save_invstd", save_invstd, x->shape[1], x));
    RFT_TRY(check_relu(op, x, y, extra, dx));
    RFT_TRY(check_backward(op, x, weight, dy, dx, dweight, dbias));
    RFT_DISPATCH(op, x, batchnorm2d_relu_backward, x, weight, save_mean, save_invstd, y, dy, extra, scale, dx, dweight,
                 dbias);
}

/* A factored tap gradient over the fused output y (ops_factored), for a batch with rows. */
static int check_relu_factored(const char *op, const rft_tensor *x, const rft_tensor *y, const rft_tensor *coef,
                               const rft_tensor *means, const rft_tensor *index, const rft_tensor *dx)
{
    RFT_TRY(check_relu(op, x, y, NULL, dx));
    if (x->shape[0] == 0) return rft_fail(RFT_ESHAPE, "%s: the input %s has no rows", op, rft_shape_str(x));
    return ops_factored(op, y, coef, means, index, dx);
}

/* eps and the running statistics of the eval-mode backward ops */
static int check_running(const char *op, const rft_tensor *x, float eps, const rft_tensor *running_mean,
                         const rft_tensor *running_var)
{
    if (!(eps >= 0)) return rft_fail(RFT_EARG, "%s: eps = %g, expected >= 0", op, eps);
    RFT_TRY(ops_channel_vector(op, "running_mean", running_mean, x->shape[1], x));
    return ops_channel_vector(op, "running_var", running_var, x->shape[1], x);
}

int rft_batchnorm2d_relu_backward_factored(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                           const rft_tensor *save_invstd, const rft_tensor *y, const rft_tensor *dy,
                                           const rft_tensor *coef, const rft_tensor *means, const rft_tensor *index,
                                           float scale, rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias)
{
    const char *op = "batchnorm2d_relu_backward_factored";
    RFT_TRY(check_x(op, x));
    RFT_TRY(ops_channel_vector(op, "save_mean", save_mean, x->shape[1], x));
    RFT_TRY(ops_channel_vector(op, "save_invstd", save_invstd, x->shape[1], x));
    RFT_TRY(check_relu_factored(op, x, y, coef, means, index, dx));
    RFT_TRY(check_backward(op, x, weight, dy, dx, dweight, dbias));
    RFT_DISPATCH(op, x, batchnorm2d_relu_backward_factored, x, weight, save_mean, save_invstd, y, dy, coef, means,
                 index, scale, dx, dweight, dbias);
}

int rft_batchnorm2d_relu_backward_eval(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *running_mean,
                                       const rft_tensor *running_var, float eps, const rft_tensor *y,
                                       const rft_tensor *dy, const rft_tensor *extra, float scale, rft_tensor *dx,
                                       rft_tensor *dweight, rft_tensor *dbias)
{
    const char *op = "batchnorm2d_relu_backward_eval";
    RFT_TRY(check_x(op, x));
    RFT_TRY(check_running(op, x, eps, running_mean, running_var));
    RFT_TRY(check_relu(op, x, y, extra, dx));
    RFT_TRY(check_backward(op, x, weight, dy, dx, dweight, dbias));
    RFT_DISPATCH(op, x, batchnorm2d_relu_backward_eval, x, weight, running_mean, running_var, eps, y, dy, extra, scale,
                 dx, dweight, dbias);
}

int rft_batchnorm2d_relu_backward_eval_factored(const rft_tensor *x, const rft_tensor *weight,
                                                const rft_tensor *running_mean, const rft_tensor *running_var,
                                                float eps, const rft_tensor *y, const rft_tensor *dy,
                                                const rft_tensor *coef, const rft_tensor *means,
                                                const rft_tensor *index, float scale, rft_tensor *dx,
                                                rft_tensor *dweight, rft_tensor *dbias)
{
    const char *op = "batchnorm2d_relu_backward_eval_factored";
    RFT_TRY(check_x(op, x));
    RFT_TRY(check_running(op, x, eps, running_mean, running_var));
    RFT_TRY(check_relu_factored(op, x, y, coef, means, index, dx));
    RFT_TRY(check_backward(op, x, weight, dy, dx, dweight, dbias));
    RFT_DISPATCH(op, x, batchnorm2d_relu_backward_eval_factored, x, weight, running_mean, running_var, eps, y, dy, coef,
                 means, index, scale, dx, dweight, dbias);
}

/* ---- CPU ------------------------------------------------------------------------------------- */

/* Sums over one plane (H*W values) vectorise in f32; planes add up in double. */
static inline double plane_sum(const float *p, int64_t n)
{
    float s = 0;
    #pragma omp simd reduction(+:s)
    for (int64_t k = 0; k < n; k++) s += p[k];
    return s;
}
static inline double plane_sq_dev(const float *p, int64_t n, float mu)
{
    float s = 0;
    #pragma omp simd reduction(+:s)
    for (int64_t k = 0; k < n; k++) { float d = p[k] - mu; s += d * d; }
    return s;
}
static inline double plane_dot_dev(const float *g, const float *x, int64_t n, float mu)
{
    float s = 0;
    #pragma omp simd reduction(+:s)
    for (int64_t k = 0; k < n; k++) s += g[k] * (x[k] - mu);
    return s;
}

static inline float weight_of(const rft_tensor *w, int64_t c) { return w ? rft_f32(w)[c] : 1.0f; }
static inline float bias_of(const rft_tensor *b, int64_t c) { return b ? rft_f32(b)[c] : 0.0f; }

RFT_CLONES
int rft_cpu_batchnorm2d_forward_train(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                      const rft_tensor *bias, rft_tensor *running_mean, rft_tensor *running_var,
                                      rft_tensor *y, rft_tensor *save_mean, rft_tensor *save_invstd)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3], m = n * hw;
    const float *xs = rft_f32(x);
    float *mean = rft_f32(save_mean), *invstd = rft_f32(save_invstd);
    float *rm = rft_f32(running_mean), *rv = rft_f32(running_var);
    const float mom = a->momentum;
    #pragma omp parallel for if (x->numel > RFT_PAR_MIN)
    for (int64_t ch = 0; ch < c; ch++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++) s += plane_sum(xs + (i * c + ch) * hw, hw);
        const double mu = s / (double)m;
        for (int64_t i = 0; i < n; i++) s2 += plane_sq_dev(xs + (i * c + ch) * hw, hw, (float)mu);
        const double var = s2 / (double)m;
        mean[ch] = (float)mu;
        invstd[ch] = (float)(1.0 / sqrt(var + (double)a->eps));
        rm[ch] = (1.0f - mom) * rm[ch] + mom * (float)mu;
        rv[ch] = (1.0f - mom) * rv[ch] + mom * (float)(s2 / (double)(m - 1));
    }
    /* y = x (invstd w) + (b - mean invstd w), from the statistics as rounded to f32: exactly those
       the backward will read */
    float *ys = rft_f32(y);
    #pragma omp parallel for if (x->numel > RFT_PAR_MIN)
    for (int64_t p = 0; p < n * c; p++) {
        const int64_t ch = p % c;
        const float k = invstd[ch] * weight_of(weight, ch);
        const float d = bias_of(bias, ch) - mean[ch] * k;
        const float *xp = xs + p * hw;
        float *yp = ys + p * hw;
        if (a->relu)
            for (int64_t i = 0; i < hw; i++) { const float v = xp[i] * k + d; yp[i] = v < 0.0f ? 0.0f : v; }
        else
            for (int64_t i = 0; i < hw; i++) yp[i] = xp[i] * k + d;
    }
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_batchnorm2d_forward_eval(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                     const rft_tensor *bias, const rft_tensor *running_mean,
                                     const rft_tensor *running_var, rft_tensor *y)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    const float *rm = rft_f32(running_mean), *rv = rft_f32(running_var);
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    #pragma omp parallel for if (x->numel > RFT_PAR_MIN)
    for (int64_t p = 0; p < n * c; p++) {
        const int64_t ch = p % c;
        const float k = weight_of(weight, ch) / sqrtf(rv[ch] + a->eps);
        const float d = bias_of(bias, ch) - rm[ch] * k;
        const float *xp = xs + p * hw;
        float *yp = ys + p * hw;
        if (a->relu)
            for (int64_t i = 0; i < hw; i++) { const float v = xp[i] * k + d; yp[i] = v < 0.0f ? 0.0f : v; }
        else
            for (int64_t i = 0; i < hw; i++) yp[i] = xp[i] * k + d;
    }
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_batchnorm2d_backward(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                 const rft_tensor *save_invstd, const rft_tensor *dy, float scale, rft_tensor *dx,
                                 rft_tensor *dweight, rft_tensor *dbias)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3], m = n * hw;
    const float *xs = rft_f32(x), *g = rft_f32(dy);
    const float *mean = rft_f32(save_mean), *invstd = rft_f32(save_invstd);
    float *d = dx ? rft_f32(dx) : NULL;
    #pragma omp parallel for if (x->numel > RFT_PAR_MIN)
    for (int64_t ch = 0; ch < c; ch++) {
        const float mu = mean[ch], is = invstd[ch];
        double sg = 0, sgx = 0;                     /* sum dy, sum dy (x - mean) */
        for (int64_t i = 0; i < n; i++) {
            const int64_t off = (i * c + ch) * hw;
            sg += plane_sum(g + off, hw);
            sgx += plane_dot_dev(g + off, xs + off, hw, mu);
        }
        const double sgxhat = sgx * is;             /* sum dy xhat */
        if (dweight) rft_f32(dweight)[ch] += scale * (float)sgxhat;
        if (dbias) rft_f32(dbias)[ch] += scale * (float)sg;
        if (!d) continue;
        /* dx = k (dy - sg/M - (x - mean) is sgxhat/M) with k = weight invstd */
        const float k = weight_of(weight, ch) * is;
        const float g0 = (float)(sg / (double)m), gx = (float)(sgxhat * is / (double)m);
        for (int64_t i = 0; i < n; i++) {
            const float *xp = xs + (i * c + ch) * hw, *gp = g + (i * c + ch) * hw;
            float *dp = d + (i * c + ch) * hw;
            for (int64_t j = 0; j < hw; j++) dp[j] = k * (gp[j] - g0 - (xp[j] - mu) * gx);
        }
    }
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_batchnorm2d_backward_eval(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *running_mean,
                                      const rft_tensor *running_var, float eps, const rft_tensor *dy, float scale,
                                      rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    const float *xs = rft_f32(x), *g = rft_f32(dy);
    const float *rm = rft_f32(running_mean), *rv = rft_f32(running_var);
    float *d = dx ? rft_f32(dx) : NULL;
    #pragma omp parallel for if (x->numel > RFT_PAR_MIN)
    for (int64_t ch = 0; ch < c; ch++) {
        const float mu = rm[ch], is = 1.0f / sqrtf(rv[ch] + eps), k = weight_of(weight, ch) * is;
        double sg = 0, sgx = 0;
        for (int64_t i = 0; i < n; i++) {
            const int64_t off = (i * c + ch) * hw;
            sg += plane_sum(g + off, hw);
            sgx += plane_dot_dev(g + off, xs + off, hw, mu);
            if (d) {                                 /* after the sums: dx may be dy */
                float *dp = d + off;
                const float *gp = g + off;
                for (int64_t j = 0; j < hw; j++) dp[j] = gp[j] * k;
            }
        }
        if (dweight) rft_f32(dweight)[ch] += scale * (float)(sgx * is);
        if (dbias) rft_f32(dbias)[ch] += scale * (float)sg;
    }
    return RFT_OK;
}

/* A tap gradient in factored form (rft_invariance_loss_factored, rft_fma_loss_factored), or none:
   row i's values at plane offset o are ops_factored_value(y, means[index[2i]], means[index[2i+1]],
   row i of coef [B,ncol]). */
typedef struct { const float *coef, *means; const int32_t *index; int64_t dim, ncol; } bn_factored;
static bn_factored factored_of(const rft_tensor *y, const rft_tensor *coef, const rft_tensor *means,
                               const rft_tensor *index)
{
    return (bn_factored){ rft_f32(coef), rft_f32(means), rft_i32(index), y->numel / y->shape[0], coef->shape[1] };
}

/* g = (dy + extra) [y > 0] for one plane, as rft_relu_backward(_add) writes it; with fx, extra is
   the factored tap gradient of row i at offset o within the row (rft_relu_backward_add_factored's values) */
static inline void relu_grad_plane(const float *yp, const float *gp, const float *ep, float *out, int64_t n,
                                   const bn_factored *fx, int64_t i, int64_t o)
{
    if (fx) {
        const float *gm = fx->means + fx->index[2 * i] * fx->dim + o, *rm = fx->means + fx->index[2 * i + 1] * fx->dim + o;
        const ops_row_coef k = ops_factored_coef(fx->coef, fx->ncol, i);
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) out[j] = ops_relu_keep(yp[j], gp[j] + ops_factored_value(yp[j], gm[j], rm[j], k));
    } else if (ep) {
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) out[j] = ops_relu_keep(yp[j], gp[j] + ep[j]);
    } else {
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) out[j] = yp[j] > 0.0f ? gp[j] : 0.0f;
    }
}

/* Per-thread scratch for one channel's g over the batch (N*H*W floats), kept between calls: a
   training step calls once per layer with the same sizes, and fresh pages every call would cost page
   faults. */
static _Thread_local struct { float *p; size_t n; } bn_ws;

static float *bn_workspace(size_t n)
{
    if (n > bn_ws.n) {
        free(bn_ws.p);
        bn_ws.p = malloc(n * sizeof(float));
        bn_ws.n = bn_ws.p ? n : 0;
    }
    return bn_ws.p;
}

/* The fused backward of both modes. train: statistics from save_mean/save_invstd and dx through the
   batch statistics; eval (train = 0): the running statistics, dx = g k, written as g is formed. In
   training, per channel, one pass forms g from y, dy (and the tap gradient) into the thread's scratch
   and sums it; the second reads g back from there (a channel's g over a batch of 128 32x32 maps is
   512 KB, within the core's L2) instead of reading y and dy again. */
RFT_CLONES
static int bn_relu_backward(int train, const rft_tensor *x, const rft_tensor *weight, const float *mean,
                            const float *invstd, const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra,
                            const bn_factored *fx, float scale, rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3], m = n * hw;
    const int64_t need = train ? m : hw;   /* scratch for g: a channel's over the batch, or one plane's */
    const float *xs = rft_f32(x), *g = rft_f32(dy), *ys = rft_f32(y), *es = extra ? rft_f32(extra) : NULL;
    float *d = dx ? rft_f32(dx) : NULL;
    int failed = 0;
    #pragma omp parallel reduction(|:failed) if (x->numel > RFT_PAR_MIN)
    {
        float *buf = bn_workspace((size_t)(need > 0 ? need : 1));
        if (!buf) failed = 1;
        #pragma omp for
        for (int64_t ch = 0; ch < c; ch++) {
            if (!buf) continue;
            const float mu = mean[ch], is = invstd[ch];
            const float k = weight_of(weight, ch) * is;
            double sg = 0, sgx = 0;
            for (int64_t i = 0; i < n; i++) {
                const int64_t off = (i * c + ch) * hw;
                float *row = buf + (train ? i * hw : 0);
                relu_grad_plane(ys + off, g + off, es ? es + off : NULL, row, hw, fx, i, ch * hw);
                sg += plane_sum(row, hw);
                sgx += plane_dot_dev(row, xs + off, hw, mu);
                if (!train && d) {       /* eval: dx = g k needs no sum, so it is written in this pass */
                    float *dp = d + off;
                    for (int64_t j = 0; j < hw; j++) dp[j] = row[j] * k;
                }
            }
            const double sgxhat = sgx * is;
            if (dweight) rft_f32(dweight)[ch] += scale * (float)sgxhat;
            if (dbias) rft_f32(dbias)[ch] += scale * (float)sg;
            if (!d || !train) continue;
            const float g0 = (float)(sg / (double)m), gx = (float)(sgxhat * is / (double)m);
            for (int64_t i = 0; i < n; i++) {
                const int64_t off = (i * c + ch) * hw;
                const float *row = buf + i * hw, *xp = xs + off;
                float *dp = d + off;
                for (int64_t j = 0; j < hw; j++) dp[j] = k * (row[j] - g0 - (xp[j] - mu) * gx);
            }
        }
    }
    if (failed) return rft_fail(RFT_ENOMEM, "batchnorm2d_relu_backward: out of memory for %lld values of g",
                                (long long)need);
    return RFT_OK;
}

int rft_cpu_batchnorm2d_relu_backward(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                      const rft_tensor *save_invstd, const rft_tensor *y, const rft_tensor *dy,
                                      const rft_tensor *extra, float scale, rft_tensor *dx, rft_tensor *dweight,
                                      rft_tensor *dbias)
{
    return bn_relu_backward(1, x, weight, rft_f32(save_mean), rft_f32(save_invstd), y, dy, extra, NULL, scale, dx,
                            dweight, dbias);
}

int rft_cpu_batchnorm2d_relu_backward_factored(const rft_tensor *x, const rft_tensor *weight,
                                               const rft_tensor *save_mean, const rft_tensor *save_invstd,
                                               const rft_tensor *y, const rft_tensor *dy, const rft_tensor *coef,
                                               const rft_tensor *means, const rft_tensor *index, float scale,
                                               rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias)
{
    RFT_TRY(ops_factored_rows("batchnorm2d_relu_backward_factored", index, means->shape[0]));
    const bn_factored fx = factored_of(y, coef, means, index);
    return bn_relu_backward(1, x, weight, rft_f32(save_mean), rft_f32(save_invstd), y, dy, NULL, &fx, scale, dx,
                            dweight, dbias);
}

/* The eval-mode backward: 1 / sqrt(running_var + eps) per channel, as the unfused eval backward
   computes it, then bn_relu_backward with the running statistics. */
static int eval_backward(const char *op, const rft_tensor *x, const rft_tensor *weight, const rft_tensor *running_mean,
                         const rft_tensor *running_var, float eps, const rft_tensor *y, const rft_tensor *dy,
                         const rft_tensor *extra, const bn_factored *fx, float scale, rft_tensor *dx,
                         rft_tensor *dweight, rft_tensor *dbias)
{
    const int64_t c = x->shape[1];
    const float *rv = rft_f32(running_var);
    float *is = malloc((size_t)(c > 0 ? c : 1) * sizeof(float));
    if (!is) return rft_fail(RFT_ENOMEM, "%s: out of memory", op);
    for (int64_t ch = 0; ch < c; ch++) is[ch] = 1.0f / sqrtf(rv[ch] + eps);
    int rc = bn_relu_backward(0, x, weight, rft_f32(running_mean), is, y, dy, extra, fx, scale, dx, dweight, dbias);
    free(is);
    return rc;
}

int rft_cpu_batchnorm2d_relu_backward_eval(const rft_tensor *x, const rft_tensor *weight,
                                           const rft_tensor *running_mean, const rft_tensor *running_var, float eps,
                                           const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra,
                                           float scale, rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias)
{
    return eval_backward("batchnorm2d_relu_backward_eval", x, weight, running_mean, running_var, eps, y, dy, extra,
                         NULL, scale, dx, dweight, dbias);
}

int rft_cpu_batchnorm2d_relu_backward_eval_factored(const rft_tensor *x, const rft_tensor *weight,
                                                    const rft_tensor *running_mean, const rft_tensor *running_var,
                                                    float eps, const rft_tensor *y, const rft_tensor *dy,
                                                    const rft_tensor *coef, const rft_tensor *means,
                                                    const rft_tensor *index, float scale, rft_tensor *dx,
                                                    rft_tensor *dweight, rft_tensor *dbias)
{
    const char *op = "batchnorm2d_relu_backward_eval_factored";
    RFT_TRY(ops_factored_rows(op, index, means->shape[0]));
    const bn_factored fx = factored_of(y, coef, means, index);
    return eval_backward(op, x, weight, running_mean, running_var, eps, y, dy, NULL, &fx, scale, dx, dweight, dbias);
}
