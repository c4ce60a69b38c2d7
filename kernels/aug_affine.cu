/* aug_affine.cu: the CUDA twin of engine/aug/affine.c: affine warp by inverse mapping (DESIGN.md §4,
 * the heavier scheme's geometric part): output pixel (u, v) (column, row) reads the input at
 * (a u + b v + c, d u + e v + f) (rft_aug_affine_src) with bilinear interpolation (rft_aug_bilinear);
 * what falls outside comes from the border mode. One matrix per image, theta [N,2,3] or [1,2,3].
 *
 * Exactness: the source position and the interpolation are rounded step by step (never fused), and
 * the CPU's fast paths (all four taps inside; edge-replicate as clamped indices) compute the same
 * numbers as rft_aug_bilinear, which every pixel uses here: the output is the CPU's bit for bit.
 *
 * theta on the device was not checked for finite values by librft; a NaN position reads a border
 * pixel (the indices stay in range whatever the position), never outside memory.
 * Not here: argument checks (librft: y is not x), building the matrices (rft.aug, Lua).
 */
#include "aug_cuda.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

/* x, y: (N, C, H, W) f32, y not x; theta: (N or 1, 2, 3). One thread per output pixel, all C
   channels (the position and weights are the same for each). */
__global__ void aug_affine_kernel(int border, const float *theta, int per_image, const float *x, float *y,
                                  int64_t C, int64_t H, int64_t W, int64_t pixels)
{
    int64_t hw = H * W;
    for (int64_t t = aug_first(); t < pixels; t += aug_stride()) {
        int64_t n = t / hw, v = t % hw / W, u = t % W;
        float xs, ys;
        rft_aug_affine_src(theta + (per_image ? n * 6 : 0), u, v, &xs, &ys);
        const float *in = x + n * C * hw;
        float *out = y + n * C * hw + v * W + u;
        for (int64_t c = 0; c < C; c++)
            out[c * hw] = rft_aug_clip(rft_aug_bilinear(in + c * hw, H, W, xs, ys, border));
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_aug_affine(int border, const rft_tensor *theta, const rft_tensor *x, rft_tensor *y)
{
    int64_t C = x->shape[1], H = x->shape[2], W = x->shape[3], pixels = x->shape[0] * H * W;
    if (x->numel == 0) return RFT_OK;
    RFT_LAUNCH(aug_affine_kernel, rft_cuda_blocks(pixels), RFT_CUDA_THREADS, border, rft_f32(theta),
               theta->shape[0] != 1, rft_f32(x), rft_f32(y), C, H, W, pixels);
    return RFT_OK;
}
