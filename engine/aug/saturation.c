/* saturation.c: HSL saturation scaled by alpha, hue and lightness kept (DESIGN.md §4, S+ / S-;
 * paper Table 1: alpha = 6 / 0 on CIFAR-10). Closed form per pixel (aug_math.h, rft_aug_saturate):
 * c <- L + k (c - L), L = (max+min)/2, k = min(alpha, 1/S). alpha = 0 gives the HSL grey (L, L, L),
 * not the luma grey that torchvision's adjust_saturation blends toward. */
#include "aug_cpu.h"
#include <string.h>

int rft_aug_saturation(const rft_tensor *alpha, const rft_tensor *x, rft_tensor *y)
{
    static const char *op = "aug_saturation";
    RFT_TRY(aug_check_io(op, x, y, true, true));
    RFT_TRY(aug_check_param(op, "alpha", alpha, x, 0, INFINITY, false));
    RFT_DISPATCH(op, x, aug_saturation, alpha, x, y);
}

enum { CHUNK = 1024 };

/* Pixels [i0, i1) of one image (i1 - i0 <= CHUNK): r, g, b are its planes. The results go through
   local arrays, so the compiler needs no alias checks between six planes to vectorise (and y = x
   stays allowed). */
AUG_CLONES static void saturation_piece(float alpha, int64_t i0, int64_t i1, const float *r, const float *g,
                                        const float *b, float *ro, float *go, float *bo)
{
    float R[CHUNK], G[CHUNK], B[CHUNK];
    int n = (int)(i1 - i0);
    r += i0; g += i0; b += i0;
    for (int i = 0; i < n; i++) {
        R[i] = r[i]; G[i] = g[i]; B[i] = b[i];
        rft_aug_saturate(alpha, &R[i], &G[i], &B[i]);
    }
    memcpy(ro + i0, R, (size_t)n * sizeof(float));
    memcpy(go + i0, G, (size_t)n * sizeof(float));
    memcpy(bo + i0, B, (size_t)n * sizeof(float));
}

int rft_cpu_aug_saturation(const rft_tensor *alpha, const rft_tensor *x, rft_tensor *y)
{
    int64_t N = x->shape[0], hw = x->shape[2] * x->shape[3];
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    rft_aug_pf al = aug_pf(alpha);
    int64_t chunks = (hw + CHUNK - 1) / CHUNK;
    /* x, y: (N, 3 planes R G B, H*W); pieces of CHUNK pixels, so that small batches of large images
       still use every thread */
    #pragma omp parallel for schedule(static) if (x->numel > RFT_PAR_MIN)
    for (int64_t t = 0; t < N * chunks; t++) {
        int64_t n = t / chunks, i0 = (t % chunks) * CHUNK, i1 = i0 + CHUNK < hw ? i0 + CHUNK : hw;
        const float *r = xs + n * 3 * hw;
        float *ro = ys + n * 3 * hw;
        saturation_piece(rft_aug_get(al, n), i0, i1, r, r + hw, r + 2 * hw, ro, ro + hw, ro + 2 * hw);
    }
    return RFT_OK;
}
