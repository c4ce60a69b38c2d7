/* global_avgpool.c: global average pooling, the last layer of All-CNN-C and a common head:
 *   y[n,c] = 1/(H*W) * sum_{h,w} x[n,c,h,w]        x: (N,C,H,W) -> y: (N,C)
 *   dx[n,c,h,w] = dy[n,c] / (H*W)
 * The sum of a plane accumulates in double, so the mean does not depend on the plane's size.
 * Not here: windowed average pooling. */
#include "backend.h"
#include "ops_check.h"

static int check_input(const char *op, const rft_tensor *x)
{
    RFT_TRY(rft_check_dtype(op, "input", x, RFT_F32));
    if (x->ndim != 4) return rft_fail(RFT_ESHAPE, "%s: input must be (N,C,H,W), got %s", op, rft_shape_str(x));
    if (x->shape[2] * x->shape[3] == 0)
        return rft_fail(RFT_ESHAPE, "%s: input %s has empty planes", op, rft_shape_str(x));
    return RFT_OK;
}

int rft_global_avgpool_forward(const rft_tensor *x, rft_tensor *y)
{
    RFT_TRY(check_input("global_avgpool", x));
    RFT_TRY(ops_f32_like("global_avgpool", "output", y, x));
    int64_t shape[2] = { x->shape[0], x->shape[1] };
    RFT_TRY(rft_tensor_resize(y, 2, shape));
    RFT_DISPATCH("global_avgpool", x, global_avgpool_forward, x, y);
}

int rft_global_avgpool_backward(const rft_tensor *x, const rft_tensor *dy, rft_tensor *dx)
{
    RFT_TRY(check_input("global_avgpool_backward", x));
    RFT_TRY(ops_f32_like("global_avgpool_backward", "dy", dy, x));
    RFT_TRY(ops_f32_like("global_avgpool_backward", "dx", dx, x));
    if (dy->ndim != 2 || dy->shape[0] != x->shape[0] || dy->shape[1] != x->shape[1])
        return rft_fail(RFT_ESHAPE, "global_avgpool_backward: dy has shape %s, expected [%lld,%lld] (input %s)",
                        rft_shape_str(dy), (long long)x->shape[0], (long long)x->shape[1], rft_shape_str(x));
    if (dx == dy) return rft_fail(RFT_EARG, "global_avgpool_backward: dx must not be dy");
    RFT_TRY(rft_tensor_resize(dx, 4, x->shape));
    RFT_DISPATCH("global_avgpool_backward", x, global_avgpool_backward, dy, dx);
}

RFT_CLONES
int rft_cpu_global_avgpool_forward(const rft_tensor *x, rft_tensor *y)
{
    const int64_t planes = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3];
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    #pragma omp parallel for if (planes * hw > RFT_PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = xs + p * hw;
        double s = 0;
        for (int64_t k = 0; k < hw; k++) s += xp[k];
        ys[p] = (float)(s / (double)hw);
    }
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_global_avgpool_backward(const rft_tensor *dy, rft_tensor *dx)
{
    /* dy: (N,C) -> dx: (N,C,H,W) */
    const int64_t planes = dx->shape[0] * dx->shape[1], hw = dx->shape[2] * dx->shape[3];
    const float *g = rft_f32(dy);
    float *d = rft_f32(dx);
    const float inv = 1.0f / (float)hw;
    #pragma omp parallel for if (planes * hw > RFT_PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        float v = g[p] * inv;
        float *dp = d + p * hw;
        for (int64_t k = 0; k < hw; k++) dp[k] = v;
    }
    return RFT_OK;
}
