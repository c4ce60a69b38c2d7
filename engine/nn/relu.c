/* relu.c: the rectifier, y = max(x, 0), and its gradient dx = dy * [y > 0]; for a tapped ReLU,
 * dx = (dy + extra) * [y > 0] in one pass (the tap's loss gradient joins at the output); extra may
 * also come in factored form (rft_invariance_loss_factored), formed here from y and never written.
 * The backward reads the forward's output y, not x, so that the forward may run in place (y = x)
 * and a network keeps one tensor per ReLU (those outputs are also the taps FMA reads).
 * rft_relu_forward_pairs also makes FMA's per-pair sums of a two-view batch as it writes each pair
 * (engine/loss/fma_sums.h), so that the loss need not read the map again (CPU only).
 * Any shape; f32. The gradient at 0 is taken as 0 (PyTorch's choice). NaN passes through the
 * forward, as in PyTorch, so a diverging run shows NaN instead of hiding it. */
#include "backend.h"
#include "ops_check.h"
#include "loss/fma_sums.h"

int rft_relu_forward(const rft_tensor *x, rft_tensor *y)
{
    RFT_TRY(rft_check_dtype("relu", "input", x, RFT_F32));
    RFT_TRY(ops_f32_like("relu", "output", y, x));
    if (y != x) RFT_TRY(rft_tensor_resize(y, x->ndim, x->shape));
    RFT_DISPATCH("relu", x, relu_forward, x, y);
}

int rft_relu_backward(const rft_tensor *y, const rft_tensor *dy, rft_tensor *dx)
{
    RFT_TRY(rft_check_dtype("relu_backward", "output y", y, RFT_F32));
    RFT_TRY(ops_f32_like("relu_backward", "dy", dy, y));
    RFT_TRY(ops_f32_like("relu_backward", "dx", dx, y));
    RFT_TRY(ops_same_shape("relu_backward", "dy", dy, "the output y", y));
    if (dx != dy) RFT_TRY(rft_tensor_resize(dx, y->ndim, y->shape));
    RFT_DISPATCH("relu_backward", y, relu_backward, y, dy, dx);
}

int rft_relu_backward_add(const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra, rft_tensor *dx)
{
    const char *op = "relu_backward_add";
    RFT_TRY(rft_check_dtype(op, "output y", y, RFT_F32));
    RFT_TRY(ops_f32_like(op, "dy", dy, y));
    RFT_TRY(ops_f32_like(op, "extra", extra, y));
    RFT_TRY(ops_f32_like(op, "dx", dx, y));
    RFT_TRY(ops_same_shape(op, "dy", dy, "the output y", y));
    RFT_TRY(ops_same_shape(op, "extra", extra, "the output y", y));
    if (dx == extra) return rft_fail(RFT_EARG, "%s: dx must not be extra (dx may be dy)", op);
    if (dx != dy) RFT_TRY(rft_tensor_resize(dx, y->ndim, y->shape));
    RFT_DISPATCH(op, y, relu_backward_add, y, dy, extra, dx);
}

int rft_relu_backward_add_factored(const rft_tensor *y, const rft_tensor *dy, const rft_tensor *coef,
                                   const rft_tensor *means, const rft_tensor *index, rft_tensor *dx)
{
    const char *op = "relu_backward_add_factored";
    RFT_TRY(rft_check_dtype(op, "output y", y, RFT_F32));
    RFT_TRY(ops_f32_like(op, "dy", dy, y));
    RFT_TRY(ops_f32_like(op, "dx", dx, y));
    RFT_TRY(ops_same_shape(op, "dy", dy, "the output y", y));
    RFT_TRY(ops_factored(op, y, coef, means, index, dx));
    if (dx != dy) RFT_TRY(rft_tensor_resize(dx, y->ndim, y->shape));
    RFT_DISPATCH(op, y, relu_backward_add_factored, y, dy, coef, means, index, dx);
}

RFT_CLONES
int rft_cpu_relu_forward(const rft_tensor *x, rft_tensor *y)
{
    const float *a = rft_f32(x);
    float *c = rft_f32(y);
    int64_t n = x->numel;
    /* written as x < 0 ? 0 : x so that NaN (every comparison false) passes through */
    #pragma omp parallel for simd if (n > RFT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) c[i] = a[i] < 0.0f ? 0.0f : a[i];
    return RFT_OK;
}

/* Pair by pair: both rows written, then their sums read back while they are still in cache. */
RFT_CLONES
static int cpu_relu_forward_pairs(const rft_tensor *x, rft_tensor *y, int64_t b, int64_t kappa, double *sums)
{
    const float *a = rft_f32(x);
    float *c = rft_f32(y);
    #pragma omp parallel for schedule(static) if (x->numel > RFT_PAR_MIN)
    for (int64_t i = 0; i < b; i++) {
        for (int v = 0; v < 2; v++) {
            const float *ap = a + (i + v * b) * kappa;
            float *cp = c + (i + v * b) * kappa;
            #pragma omp simd
            for (int64_t k = 0; k < kappa; k++) cp[k] = ap[k] < 0.0f ? 0.0f : ap[k];
        }
        fma_pair_sums(c + i * kappa, c + (i + b) * kappa, kappa, sums + 2 * i);
    }
    return RFT_OK;
}

int rft_relu_forward_pairs(const rft_tensor *x, rft_tensor *y, double *sums)
{
    const char *op = "relu_forward_pairs";
    RFT_TRY(rft_check_cpu(op, "input", x));
    RFT_TRY(rft_check_dtype(op, "input", x, RFT_F32));
    RFT_TRY(ops_f32_like(op, "output", y, x));
    if (x->ndim < 1 || x->shape[0] < 2 || x->shape[0] % 2)
        return rft_fail(RFT_ESHAPE, "%s: input %s must hold a two-view batch [x ; x~] (an even number of rows >= 2)",
                        op, rft_shape_str(x));
    if (!sums) return rft_fail(RFT_EARG, "%s: sums is missing (NULL)", op);
    if (y != x) RFT_TRY(rft_tensor_resize(y, x->ndim, x->shape));
    const int64_t b = x->shape[0] / 2, kappa = x->numel / x->shape[0];
    return cpu_relu_forward_pairs(x, y, b, kappa, sums);
}

RFT_CLONES
int rft_cpu_relu_backward(const rft_tensor *y, const rft_tensor *dy, rft_tensor *dx)
{
    const float *o = rft_f32(y), *g = rft_f32(dy);
    float *d = rft_f32(dx);
    int64_t n = y->numel;
    #pragma omp parallel for simd if (n > RFT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) d[i] = o[i] > 0.0f ? g[i] : 0.0f;
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_relu_backward_add(const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra, rft_tensor *dx)
{
    const float *o = rft_f32(y), *g = rft_f32(dy), *e = rft_f32(extra);
    float *d = rft_f32(dx);
    int64_t n = y->numel;
    #pragma omp parallel for simd if (n > RFT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) d[i] = ops_relu_keep(o[i], g[i] + e[i]);     /* vectorised on AVX2 too */
    return RFT_OK;
}

/* The tap gradient formed from y row by row (rft_factored_grad's values), never written out. */
RFT_CLONES
int rft_cpu_relu_backward_add_factored(const rft_tensor *y, const rft_tensor *dy, const rft_tensor *coef,
                                       const rft_tensor *means, const rft_tensor *index, rft_tensor *dx)
{
    RFT_TRY(ops_factored_rows("relu_backward_add_factored", index, means->shape[0]));
    const int64_t b = y->shape[0], dim = b ? y->numel / b : 0, ncol = coef->shape[1];
    const float *o = rft_f32(y), *g = rft_f32(dy), *fm = rft_f32(means), *cf = rft_f32(coef);
    const int32_t *ix = rft_i32(index);
    float *d = rft_f32(dx);
    #pragma omp parallel for schedule(static) if (y->numel > RFT_PAR_MIN)
    for (int64_t t = 0; t < b; t++) {
        const int64_t i = ops_pair_row(t, b);     /* a two-view batch's partner rows one after the other */
        const float *yp = o + i * dim, *gp = g + i * dim, *gm = fm + ix[2 * i] * dim, *rm = fm + ix[2 * i + 1] * dim;
        const ops_row_coef k = ops_factored_coef(cf, ncol, i);
        float *dp = d + i * dim;
        #pragma omp simd
        for (int64_t e = 0; e < dim; e++) dp[e] = ops_relu_keep(yp[e], gp[e] + ops_factored_value(yp[e], gm[e], rm[e], k));
    }
    return RFT_OK;
}
