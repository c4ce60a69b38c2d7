/* maxpool2d.c: 2-D max pooling over each (H,W) plane, forward and backward, as PyTorch's
 * nn.MaxPool2d with dilation 1 and floor mode:
 *   y[n,c,i,j] = max over kh x kw window at (i*stride_h - pad_h, j*stride_w - pad_w) of x[n,c,.,.]
 *   OH = (H + 2*pad_h - kh) / stride_h + 1, OW likewise (floor)
 * Padding is -infinity, so it is never selected; a pad of at most half the kernel (PyTorch's rule)
 * keeps at least one real element in every window. Ties: the first maximum in row-major order wins;
 * NaN propagates (PyTorch's rule). argmax keeps h*W + w per output (PyTorch's indices), so the
 * backward is a scatter: dx[n,c,argmax] += dy.
 * Not here: average pooling with a window (only global average pooling, global_avgpool.c),
 * ceil mode, dilation. */
#include "backend.h"
#include "ops_check.h"
#include <math.h>

/* Checks the arguments against x (N,C,H,W) and gives the output size. */
static int pool_shape(const char *op, const rft_pool2d_args *a, const rft_tensor *x, int64_t *oh, int64_t *ow)
{
    if (!a) return rft_fail(RFT_EARG, "%s: args is NULL", op);
    RFT_TRY(rft_check_dtype(op, "input", x, RFT_F32));
    if (x->ndim != 4)
        return rft_fail(RFT_ESHAPE, "%s: input must be (N,C,H,W), got %s", op, rft_shape_str(x));
    if (a->kh < 1 || a->kw < 1 || a->stride_h < 1 || a->stride_w < 1)
        return rft_fail(RFT_EARG, "%s: kernel %dx%d and stride %dx%d must be >= 1", op, a->kh, a->kw,
                        a->stride_h, a->stride_w);
    if (a->pad_h < 0 || a->pad_w < 0 || 2 * a->pad_h > a->kh || 2 * a->pad_w > a->kw)
        return rft_fail(RFT_EARG, "%s: padding %dx%d must be between 0 and half the kernel %dx%d", op, a->pad_h,
                        a->pad_w, a->kh, a->kw);
    int64_t h = x->shape[2] + 2 * a->pad_h, w = x->shape[3] + 2 * a->pad_w;
    if (h < a->kh || w < a->kw)
        return rft_fail(RFT_ESHAPE, "%s: kernel %dx%d is larger than the padded input %lldx%lld (input %s)", op,
                        a->kh, a->kw, (long long)h, (long long)w, rft_shape_str(x));
    *oh = (h - a->kh) / a->stride_h + 1;
    *ow = (w - a->kw) / a->stride_w + 1;
    return RFT_OK;
}

int rft_maxpool2d_forward(const rft_pool2d_args *a, const rft_tensor *x, rft_tensor *y, rft_tensor *argmax)
{
    int64_t oh = 0, ow = 0;
    RFT_TRY(pool_shape("maxpool2d", a, x, &oh, &ow));
    RFT_TRY(ops_f32_like("maxpool2d", "output", y, x));
    RFT_TRY(rft_check_dtype("maxpool2d", "argmax", argmax, RFT_I32));
    RFT_TRY(rft_check_same_device("maxpool2d", "argmax", x, argmax));
    if (x->shape[2] * x->shape[3] > INT32_MAX)
        return rft_fail(RFT_ESHAPE, "maxpool2d: planes of input %s do not fit i32 indices", rft_shape_str(x));
    int64_t shape[4] = { x->shape[0], x->shape[1], oh, ow };
    RFT_TRY(rft_tensor_resize(y, 4, shape));
    RFT_TRY(rft_tensor_resize(argmax, 4, shape));
    RFT_DISPATCH("maxpool2d", x, maxpool2d_forward, a, x, y, argmax);
}

int rft_maxpool2d_backward(const rft_pool2d_args *a, const rft_tensor *x, const rft_tensor *argmax,
                           const rft_tensor *dy, rft_tensor *dx)
{
    int64_t oh = 0, ow = 0;
    RFT_TRY(pool_shape("maxpool2d_backward", a, x, &oh, &ow));
    RFT_TRY(rft_check_dtype("maxpool2d_backward", "argmax", argmax, RFT_I32));
    RFT_TRY(rft_check_same_device("maxpool2d_backward", "argmax", x, argmax));
    RFT_TRY(ops_f32_like("maxpool2d_backward", "dy", dy, x));
    RFT_TRY(ops_f32_like("maxpool2d_backward", "dx", dx, x));
    int64_t shape[4] = { x->shape[0], x->shape[1], oh, ow };
    if (dy->ndim != 4 || dy->shape[0] != shape[0] || dy->shape[1] != shape[1] || dy->shape[2] != oh ||
        dy->shape[3] != ow)
        return rft_fail(RFT_ESHAPE, "maxpool2d_backward: dy has shape %s, expected [%lld,%lld,%lld,%lld] (the "
                        "output of input %s)", rft_shape_str(dy), (long long)shape[0], (long long)shape[1],
                        (long long)oh, (long long)ow, rft_shape_str(x));
    RFT_TRY(ops_same_shape("maxpool2d_backward", "argmax", argmax, "dy", dy));
    if (dx == dy) return rft_fail(RFT_EARG, "maxpool2d_backward: dx must not be dy");
    RFT_TRY(rft_tensor_resize(dx, 4, x->shape));
    RFT_DISPATCH("maxpool2d_backward", x, maxpool2d_backward, a, argmax, dy, dx);
}

/* The common 2x2 stride-2 unpadded window, branch-light: same results as the general loop (first
 * maximum wins, NaN wins), several times faster. */
RFT_CLONES
/* The common 2x2 stride-2 unpadded window, written so that a row of windows vectorises: same results
 * as the general loop (first maximum wins, NaN wins). A later value v replaces the running maximum m
 * when m is not NaN and !(v <= m): v > m, or v NaN. */
static void pool2x2_row(const float *restrict r0, const float *restrict r1, float *restrict yr,
                        int32_t *restrict ir, int ow, int32_t base, int32_t w)
{
    #pragma omp simd
    for (int j = 0; j < ow; j++) {
        const float v0 = r0[2 * j], v1 = r0[2 * j + 1], v2 = r1[2 * j], v3 = r1[2 * j + 1];
        float m = v0;
        int32_t k = 0;                       /* offset of the maximum from the window's corner */
        if (m == m && !(v1 <= m)) { m = v1; k = 1; }
        if (m == m && !(v2 <= m)) { m = v2; k = w; }
        if (m == m && !(v3 <= m)) { m = v3; k = w + 1; }
        yr[j] = m;
        ir[j] = base + 2 * j + k;
    }
}

static void pool2x2(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, const float *xs, float *ys,
                    int32_t *is)
{
    #pragma omp parallel for if (planes * h * w > RFT_PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = xs + p * h * w;
        float *yp = ys + p * oh * ow;
        int32_t *ip = is + p * oh * ow;
        for (int64_t i = 0; i < oh; i++)
            pool2x2_row(xp + 2 * i * w, xp + (2 * i + 1) * w, yp + i * ow, ip + i * ow, (int)ow,
                        (int32_t)(2 * i * w), (int32_t)w);
    }
}

RFT_CLONES
int rft_cpu_maxpool2d_forward(const rft_pool2d_args *a, const rft_tensor *x, rft_tensor *y, rft_tensor *argmax)
{
    /* x: (N,C,H,W) -> y, argmax: (N,C,OH,OW) */
    const int64_t planes = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    const int64_t oh = y->shape[2], ow = y->shape[3];
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    int32_t *is = rft_i32(argmax);
    if (a->kh == 2 && a->kw == 2 && a->stride_h == 2 && a->stride_w == 2 && a->pad_h == 0 && a->pad_w == 0) {
        pool2x2(planes, h, w, oh, ow, xs, ys, is);
        return RFT_OK;
    }
    #pragma omp parallel for if (planes * oh * ow * a->kh * a->kw > RFT_PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = xs + p * h * w;
        float *yp = ys + p * oh * ow;
        int32_t *ip = is + p * oh * ow;
        for (int64_t i = 0; i < oh; i++) {
            int64_t h0 = i * a->stride_h - a->pad_h, h1 = h0 + a->kh;
            if (h0 < 0) h0 = 0;
            if (h1 > h) h1 = h;
            for (int64_t j = 0; j < ow; j++) {
                int64_t w0 = j * a->stride_w - a->pad_w, w1 = w0 + a->kw;
                if (w0 < 0) w0 = 0;
                if (w1 > w) w1 = w;
                float best = -INFINITY;
                int64_t at = h0 * w + w0;      /* a real element even if all are -inf */
                for (int64_t u = h0; u < h1; u++)
                    for (int64_t v = w0; v < w1; v++) {
                        float val = xp[u * w + v];
                        if (val > best || isnan(val)) { best = val; at = u * w + v; }
                        if (isnan(val)) goto found;
                    }
            found:
                yp[i * ow + j] = best;
                ip[i * ow + j] = (int32_t)at;
            }
        }
    }
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_maxpool2d_backward(const rft_pool2d_args *a, const rft_tensor *argmax, const rft_tensor *dy,
                               rft_tensor *dx)
{
    (void)a;
    /* dy, argmax: (N,C,OH,OW) -> dx: (N,C,H,W); one plane per iteration, so no two threads add to
       the same element */
    const int64_t planes = dx->shape[0] * dx->shape[1], hw = dx->shape[2] * dx->shape[3];
    const int64_t ohw = dy->shape[2] * dy->shape[3];
    const float *g = rft_f32(dy);
    const int32_t *is = rft_i32(argmax);
    float *d = rft_f32(dx);
    int64_t bad = -1;                 /* the last position of an argmax outside its plane */
    #pragma omp parallel for reduction(max:bad) if (planes * hw > RFT_PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        float *dp = d + p * hw;
        for (int64_t k = 0; k < hw; k++) dp[k] = 0.0f;
        for (int64_t k = 0; k < ohw; k++) {
            int32_t at = is[p * ohw + k];
            if (at >= 0 && at < hw) dp[at] += g[p * ohw + k];
            else bad = p * ohw + k;
        }
    }
    if (bad >= 0)
        return rft_fail(RFT_EARG, "maxpool2d_backward: argmax element %lld is %d, outside the plane of %lld "
                        "elements (not the argmax of this input?)", (long long)bad, is[bad], (long long)hw);
    return RFT_OK;
}
