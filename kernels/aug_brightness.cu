/* aug_brightness.cu: the CUDA twin of engine/aug/brightness.c: additive brightness,
 * y = clip(x + delta) on every channel (DESIGN.md §4, B+ / B-), delta per image or one for all.
 * One rounding per value (rft_aug_brightness_px), so the result is the CPU's bit for bit.
 *
 * Not here: argument checks (librft), the other photometric kernels (aug_contrast.cu,
 * aug_saturation.cu).
 */
#include "aug_cuda.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

/* x, y: (N, per = C*H*W) f32, y may be x; delta: 1 or N values */
__global__ void aug_brightness_kernel(rft_aug_pf delta, const float *x, float *y, int64_t per, int64_t total)
{
    for (int64_t i = aug_first(); i < total; i += aug_stride())
        y[i] = rft_aug_brightness_px(x[i], rft_aug_get(delta, i / per));
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_aug_brightness(const rft_tensor *delta, const rft_tensor *x, rft_tensor *y)
{
    int64_t total = x->numel, N = x->shape[0];
    if (total == 0) return RFT_OK;
    RFT_LAUNCH(aug_brightness_kernel, rft_cuda_blocks(total), RFT_CUDA_THREADS, aug_param(delta), rft_f32(x),
               rft_f32(y), total / N, total);
    return RFT_OK;
}
