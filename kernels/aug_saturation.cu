/* aug_saturation.cu: the CUDA twin of engine/aug/saturation.c: HSL saturation scaled by alpha, hue
 * and lightness kept (DESIGN.md §4, S+ / S-), per pixel with rft_aug_saturate:
 * c <- L + k (c - L), L = (max+min)/2, k = min(alpha, 1/S). alpha per image or one for all.
 *
 * Exactness: rft_aug_saturate uses selects, one correctly rounded division and products and sums
 * that are never fused, so every pixel is the CPU's bit for bit.
 *
 * Not here: argument checks (librft: x has 3 channels).
 */
#include "aug_cuda.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

/* x, y: (N, 3 planes R G B, hw) f32, y may be x; alpha: 1 or N values. One thread per pixel. */
__global__ void aug_saturation_kernel(rft_aug_pf alpha, const float *x, float *y, int64_t hw, int64_t pixels)
{
    for (int64_t t = aug_first(); t < pixels; t += aug_stride()) {
        int64_t n = t / hw, i = n * 3 * hw + t % hw;
        float r = x[i], g = x[i + hw], b = x[i + 2 * hw];
        rft_aug_saturate(rft_aug_get(alpha, n), &r, &g, &b);
        y[i] = r; y[i + hw] = g; y[i + 2 * hw] = b;
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_aug_saturation(const rft_tensor *alpha, const rft_tensor *x, rft_tensor *y)
{
    int64_t hw = x->shape[2] * x->shape[3], pixels = x->shape[0] * hw;
    if (pixels == 0) return RFT_OK;
    RFT_LAUNCH(aug_saturation_kernel, rft_cuda_blocks(pixels), RFT_CUDA_THREADS, aug_param(alpha), rft_f32(x),
               rft_f32(y), hw, pixels);
    return RFT_OK;
}
