/* flip.c: horizontal flip per image, y[c,h,w] = x[c,h,W-1-w] where flip[n] != 0, else a copy
 * (the heavier scheme's flip with p = 0.5 draws flip per image; rft.aug's hflip{p=}). */
#include "aug_cpu.h"
#include <string.h>

int rft_aug_hflip(const rft_tensor *flip, const rft_tensor *x, rft_tensor *y)
{
    static const char *op = "aug_hflip";
    RFT_TRY(aug_check_io(op, x, y, false, true));
    RFT_TRY(aug_check_param(op, "flip", flip, x, -INFINITY, INFINITY, false));
    RFT_DISPATCH(op, x, aug_hflip, flip, x, y);
}

#if defined(__SSE__)
/* One row of W values (W % 4 = 0, b not a), clipped, mirrored or not; streaming stores need b
   16-byte aligned. */
static void row_sse(const float *a, float *b, int64_t W, bool mirror, bool stream)
{
    for (int64_t i = 0; i < W; i += 4) {
        __m128 v;
        if (mirror) {
            v = _mm_loadu_ps(a + W - 4 - i);
            v = _mm_shuffle_ps(v, v, _MM_SHUFFLE(0, 1, 2, 3));
        } else {
            v = _mm_loadu_ps(a + i);
        }
        if (stream) _mm_stream_ps(b + i, aug_clip4(v));
        else _mm_storeu_ps(b + i, aug_clip4(v));
    }
}
#endif

int rft_cpu_aug_hflip(const rft_tensor *flip, const rft_tensor *x, rft_tensor *y)
{
    int64_t N = x->shape[0], C = x->shape[1], W = x->shape[3], rows = C * x->shape[2];
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    rft_aug_pf f = aug_pf(flip);
#if defined(__SSE__)
    if (y->storage != x->storage && W % 4 == 0) {
        bool stream = rft_nbytes(y) > AUG_STREAM_BYTES && ((uintptr_t)ys & 15) == 0;
        #pragma omp parallel if (x->numel > RFT_PAR_MIN)
        {
            #pragma omp for schedule(static)
            for (int64_t t = 0; t < N * rows; t++)
                row_sse(xs + t * W, ys + t * W, W, rft_aug_get(f, t / rows) != 0.0f, stream);
            if (stream) _mm_sfence();
        }
        return RFT_OK;
    }
#endif
    /* x, y: (N, C*H rows, W); in place (y = x) swaps the two halves of each row */
    #pragma omp parallel for schedule(static) if (x->numel > RFT_PAR_MIN)
    for (int64_t t = 0; t < N * rows; t++) {
        const float *a = xs + t * W;
        float *b = ys + t * W;
        if (rft_aug_get(f, t / rows) != 0.0f) {
            for (int64_t i = 0; i < W / 2; i++) {
                float l = rft_aug_clip(a[i]), r = rft_aug_clip(a[W - 1 - i]);
                b[i] = r; b[W - 1 - i] = l;
            }
            if (W % 2) b[W / 2] = rft_aug_clip(a[W / 2]);
        } else {
            for (int64_t i = 0; i < W; i++) b[i] = rft_aug_clip(a[i]);
        }
    }
    return RFT_OK;
}
