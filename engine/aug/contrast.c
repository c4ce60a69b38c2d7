/* contrast.c: contrast about each channel's mean, y = clip((x - m)·gamma + m), m the mean of that
 * channel of that image (DESIGN.md §4, the heavier scheme's gamma in [0.5, 1.5]). torchvision's
 * adjust_contrast pivots on the grey mean instead; this is the formula of the second paper's code. */
#include "aug_cpu.h"

int rft_aug_contrast(const rft_tensor *gamma, const rft_tensor *x, rft_tensor *y)
{
    static const char *op = "aug_contrast";
    RFT_TRY(aug_check_io(op, x, y, false, true));
    RFT_TRY(aug_check_param(op, "gamma", gamma, x, -INFINITY, INFINITY, false));
    RFT_DISPATCH(op, x, aug_contrast, gamma, x, y);
}

int rft_cpu_aug_contrast(const rft_tensor *gamma, const rft_tensor *x, rft_tensor *y)
{
    int64_t N = x->shape[0], C = x->shape[1], hw = x->shape[2] * x->shape[3];
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    rft_aug_pf g = aug_pf(gamma);
    /* x, y: (N*C planes, H*W); a plane's mean is summed by one thread in the order of rft_aug_mean_finish */
    #pragma omp parallel for schedule(static) if (x->numel > RFT_PAR_MIN)
    for (int64_t r = 0; r < N * C; r++) {
        const float gv = rft_aug_get(g, r / C), *a = xs + r * hw;
        float *b = ys + r * hw;
        float part[RFT_AUG_MEAN_LANES] = { 0 };
        for (int64_t i = 0; i + RFT_AUG_MEAN_LANES <= hw; i += RFT_AUG_MEAN_LANES)
            for (int k = 0; k < RFT_AUG_MEAN_LANES; k++) part[k] += a[i + k];
        const float m = rft_aug_mean_finish(part, a, hw);
        for (int64_t i = 0; i < hw; i++) b[i] = rft_aug_contrast_px(a[i], m, gv);
    }
    return RFT_OK;
}
