/* crop.c: random crop with padding as a per-image shift, y[c,h,w] = x[c, h+dy, w+dx], positions
 * outside x read under the border mode (zeros: the standard "pad 4, crop 32" of CIFAR training,
 * with dx, dy in [-4, 4]). The shifts are drawn by rft.aug (aug.crop{pad=4}); this kernel only
 * moves pixels. Not the data path's fused u8 crop-and-flip (engine/data/). */
#include "aug_cpu.h"

int rft_aug_crop(int border, const rft_tensor *dx, const rft_tensor *dy, const rft_tensor *x, rft_tensor *y)
{
    static const char *op = "aug_crop";
    RFT_TRY(aug_check_io(op, x, y, false, false));
    RFT_TRY(aug_check_border(op, border));
    RFT_TRY(aug_check_param(op, "dx", dx, x, -1e9, 1e9, true));
    RFT_TRY(aug_check_param(op, "dy", dy, x, -1e9, 1e9, true));
    RFT_DISPATCH(op, x, aug_crop, border, dx, dy, x, y);
}

#if defined(__SSE__)
/* One output row with streaming stores (b 16-byte aligned, W % 4 = 0): b[i] = a[border(i + sx)],
   zeros where a is NULL (a row outside under the constant border) or the border reads outside. */
static void row_stream(const float *a, int64_t sx, int64_t W, int border, float *b)
{
    for (int64_t i = 0; i < W; i += 4) {
        __m128 v;
        if (!a) v = _mm_setzero_ps();
        else if (i + sx >= 0 && i + 3 + sx < W) v = aug_clip4(_mm_loadu_ps(a + i + sx));
        else {
            float t[4];
            for (int k = 0; k < 4; k++) {
                int64_t j = rft_aug_border(i + k + sx, W, border);
                t[k] = j < 0 ? 0.0f : rft_aug_clip(a[j]);
            }
            v = _mm_loadu_ps(t);
        }
        _mm_stream_ps(b + i, v);
    }
}
#endif

int rft_cpu_aug_crop(int border, const rft_tensor *dx, const rft_tensor *dy, const rft_tensor *x, rft_tensor *y)
{
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], hw = H * W;
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    rft_aug_pf fx = aug_pf(dx), fy = aug_pf(dy);
#if defined(__SSE__)
    if (rft_nbytes(y) > AUG_STREAM_BYTES && W % 4 == 0 && ((uintptr_t)ys & 15) == 0) {
        #pragma omp parallel
        {
            #pragma omp for schedule(static)
            for (int64_t t = 0; t < N * C * H; t++) {
                int64_t n = t / (C * H), c = t / H % C, h = t % H;
                int64_t row = rft_aug_border(h + (int64_t)rft_aug_get(fy, n), H, border);
                row_stream(row < 0 ? NULL : xs + (n * C + c) * hw + row * W, (int64_t)rft_aug_get(fx, n), W, border,
                           ys + t * W);
            }
            _mm_sfence();
        }
        return RFT_OK;
    }
#endif
    /* x, y: (N*C planes, H, W); one plane per piece of work (the shifts are the image's) */
    #pragma omp parallel for schedule(static) if (x->numel > RFT_PAR_MIN)
    for (int64_t pl = 0; pl < N * C; pl++) {
        int64_t n = pl / C;
        int64_t sx = (int64_t)rft_aug_get(fx, n), sy = (int64_t)rft_aug_get(fy, n);
        int64_t lo = sx < 0 ? -sx : 0, hi = W - (sx > 0 ? sx : 0);     /* columns that read inside */
        if (lo > W) lo = W;
        if (hi < lo) hi = lo;
        const float *plane = xs + pl * hw;
        for (int64_t h = 0; h < H; h++) {
            float *b = ys + pl * hw + h * W;
            int64_t row = rft_aug_border(h + sy, H, border);
            if (row < 0) {
                for (int64_t i = 0; i < W; i++) b[i] = 0.0f;
                continue;
            }
            const float *a = plane + row * W;
            if (border == RFT_BORDER_CONSTANT) {      /* the usual zero padding: no border lookups */
                for (int64_t i = 0; i < lo; i++) b[i] = 0.0f;
                for (int64_t i = hi; i < W; i++) b[i] = 0.0f;
            } else {
                for (int64_t i = 0; i < lo; i++) { int64_t j = rft_aug_border(i + sx, W, border); b[i] = j < 0 ? 0.0f : rft_aug_clip(a[j]); }
                for (int64_t i = hi; i < W; i++) { int64_t j = rft_aug_border(i + sx, W, border); b[i] = j < 0 ? 0.0f : rft_aug_clip(a[j]); }
            }
            const float *src = a + sx;
            int64_t i = lo;
#if defined(__SSE__)
            for (; i + 4 <= hi; i += 4) _mm_storeu_ps(b + i, aug_clip4(_mm_loadu_ps(src + i)));
#endif
            for (; i < hi; i++) b[i] = rft_aug_clip(src[i]);
        }
    }
    return RFT_OK;
}
