/* brightness.c: additive brightness, y = clip(x + delta) on every channel (DESIGN.md §4, B+ / B-;
 * paper Table 1: delta = 0.39 / -0.36 on CIFAR-10). delta per image or one for all. Not the
 * multiplicative brightness of torchvision. */
#include "aug_cpu.h"

int rft_aug_brightness(const rft_tensor *delta, const rft_tensor *x, rft_tensor *y)
{
    static const char *op = "aug_brightness";
    RFT_TRY(aug_check_io(op, x, y, false, true));
    RFT_TRY(aug_check_param(op, "delta", delta, x, -INFINITY, INFINITY, false));
    RFT_DISPATCH(op, x, aug_brightness, delta, x, y);
}

int rft_cpu_aug_brightness(const rft_tensor *delta, const rft_tensor *x, rft_tensor *y)
{
    int64_t N = x->shape[0], C = x->shape[1], hw = x->shape[2] * x->shape[3];
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    rft_aug_pf d = aug_pf(delta);
    /* x, y: (N*C planes, H*W) */
    #pragma omp parallel for schedule(static) if (x->numel > RFT_PAR_MIN)
    for (int64_t r = 0; r < N * C; r++) {
        const float dv = rft_aug_get(d, r / C), *a = xs + r * hw;
        float *b = ys + r * hw;
        for (int64_t i = 0; i < hw; i++) b[i] = rft_aug_brightness_px(a[i], dv);
    }
    return RFT_OK;
}
