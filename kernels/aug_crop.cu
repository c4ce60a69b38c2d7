/* aug_crop.cu: the CUDA twin of engine/aug/crop.c: random crop with padding as a per-image shift,
 * y[c,h,w] = clip(x[c, border(h+dy), border(w+dx)]), zeros where the border mode reads outside
 * (RFT_BORDER_CONSTANT: the standard "pad 4, crop 32"). dx, dy per image or one for all. Integer
 * indices only: the output is the CPU's bit for bit.
 *
 * dx, dy on the device were not checked for whole numbers by librft: they are truncated as the CPU
 * does ((int64_t) of the float), and rft_aug_border keeps any shift inside the image.
 * Not here: argument checks (librft: y is not x), drawing the shifts (rft.aug: aug.crop{pad=}), the
 * data path's fused u8 crop-and-flip.
 */
#include "aug_cuda.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

/* x, y: (N, C, H, W) f32, y not x; dx, dy: 1 or N values. One thread per output value. */
__global__ void aug_crop_kernel(int border, rft_aug_pf dx, rft_aug_pf dy, const float *x, float *y, int64_t C,
                                int64_t H, int64_t W, int64_t total)
{
    int64_t hw = H * W;
    for (int64_t t = aug_first(); t < total; t += aug_stride()) {
        int64_t p = t / hw, h = t % hw / W, i = t % W, n = p / C;
        int64_t row = rft_aug_border(h + (int64_t)rft_aug_get(dy, n), H, border);
        int64_t col = rft_aug_border(i + (int64_t)rft_aug_get(dx, n), W, border);
        y[t] = row < 0 || col < 0 ? 0.0f : rft_aug_clip(x[p * hw + row * W + col]);
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_aug_crop(int border, const rft_tensor *dx, const rft_tensor *dy, const rft_tensor *x, rft_tensor *y)
{
    int64_t total = x->numel;
    if (total == 0) return RFT_OK;
    RFT_LAUNCH(aug_crop_kernel, rft_cuda_blocks(total), RFT_CUDA_THREADS, border, aug_param(dx), aug_param(dy),
               rft_f32(x), rft_f32(y), x->shape[1], x->shape[2], x->shape[3], total);
    return RFT_OK;
}
