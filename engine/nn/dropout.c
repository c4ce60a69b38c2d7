/* dropout.c: inverted dropout (Srivastava et al. 2014, scaled at training time as PyTorch does):
 *   mask[k] ~ Bernoulli(1 - p),  y[k] = x[k] * mask[k] / (1 - p),  dx[k] = dy[k] * mask[k] / (1 - p)
 * mask[k] is the Philox draw at position offset + k of stream (seed, stream), exactly the values
 * rft_rand_bernoulli(mask, seed, stream, offset, 1 - p) gives, so a mask depends only on
 * (seed, stream, offset + k), never on threads or device. p = 1 drops everything (y = 0, no
 * division by zero). Any shape; x, y f32, mask u8 0/1.
 * Not here: evaluation mode (the identity: the Lua module skips the call) or spatial dropout. */
#include "backend.h"
#include "ops_check.h"
#include "dropout_math.h"

static int check_p(const char *op, float p)
{
    if (!(p >= 0.0f && p <= 1.0f)) return rft_fail(RFT_EARG, "%s: p = %g, expected 0 <= p <= 1", op, p);
    return RFT_OK;
}

int rft_dropout_forward(float p, uint64_t seed, uint64_t stream, uint64_t offset, const rft_tensor *x,
                        rft_tensor *y, rft_tensor *mask)
{
    RFT_TRY(check_p("dropout", p));
    RFT_TRY(rft_check_dtype("dropout", "input", x, RFT_F32));
    RFT_TRY(ops_f32_like("dropout", "output", y, x));
    RFT_TRY(rft_check_dtype("dropout", "mask", mask, RFT_U8));
    RFT_TRY(rft_check_same_device("dropout", "mask", x, mask));
    if (y != x) RFT_TRY(rft_tensor_resize(y, x->ndim, x->shape));
    RFT_TRY(rft_tensor_resize(mask, x->ndim, x->shape));
    RFT_DISPATCH("dropout", x, dropout_forward, p, seed, stream, offset, x, y, mask);
}

int rft_dropout_backward(float p, const rft_tensor *mask, const rft_tensor *dy, rft_tensor *dx)
{
    RFT_TRY(check_p("dropout_backward", p));
    RFT_TRY(rft_check_dtype("dropout_backward", "mask", mask, RFT_U8));
    RFT_TRY(ops_f32_like("dropout_backward", "dy", dy, mask));
    RFT_TRY(ops_f32_like("dropout_backward", "dx", dx, mask));
    RFT_TRY(ops_same_shape("dropout_backward", "dy", dy, "the mask", mask));
    if (dx != dy) RFT_TRY(rft_tensor_resize(dx, dy->ndim, dy->shape));
    RFT_DISPATCH("dropout_backward", dy, dropout_backward, p, mask, dy, dx);
}

RFT_CLONES
int rft_cpu_dropout_forward(float p, uint64_t seed, uint64_t stream, uint64_t offset, const rft_tensor *x,
                            rft_tensor *y, rft_tensor *mask)
{
    const float keep = 1.0f - p, s = rft_dropout_scale(p);
    const float *a = rft_f32(x);
    float *c = rft_f32(y);
    uint8_t *m = rft_u8(mask);
    int64_t n = x->numel;
    if (n == 0) return RFT_OK;
    const uint64_t first = offset >> 2, last = (offset + (uint64_t)n - 1) >> 2;
    #pragma omp parallel for if (n > RFT_PAR_MIN / 8)
    for (uint64_t q = first; q <= last; q++) rft_dropout_block(seed, stream, offset, n, q, keep, s, a, c, m);
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_dropout_backward(float p, const rft_tensor *mask, const rft_tensor *dy, rft_tensor *dx)
{
    const float s = rft_dropout_scale(p);
    const uint8_t *m = rft_u8(mask);
    const float *g = rft_f32(dy);
    float *d = rft_f32(dx);
    int64_t n = dy->numel;
    #pragma omp parallel for simd if (n > RFT_PAR_MIN)
    for (int64_t k = 0; k < n; k++) d[k] = m[k] ? g[k] * s : 0.0f;
    return RFT_OK;
}
