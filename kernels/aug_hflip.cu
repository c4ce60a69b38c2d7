/* aug_hflip.cu: the CUDA twin of engine/aug/flip.c: horizontal flip per image,
 * y[c,h,w] = clip(x[c,h,W-1-w]) where flip[n] != 0, else clip(x) (the heavier scheme's flip). Only
 * moves and clips values: the output is the CPU's bit for bit.
 *
 * y may be x: one thread takes the pair of columns (w, W-1-w) of a row and reads both before it
 * writes either.
 * Not here: argument checks (librft), drawing flip (rft.aug: aug.hflip{p=} draws Bernoulli(p)).
 */
#include "aug_cuda.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

/* x, y: (N, rows = C·H, W) f32; flip: 1 or N values. Work item t = (row, column pair i < ⌈W/2⌉). */
__global__ void aug_hflip_kernel(rft_aug_pf flip, const float *x, float *y, int64_t rows, int64_t W,
                                 int64_t pairs, int64_t total)
{
    for (int64_t t = aug_first(); t < total; t += aug_stride()) {
        int64_t row = t / pairs, i = t % pairs, j = W - 1 - i;
        const float *a = x + row * W;
        float *b = y + row * W;
        float l = rft_aug_clip(a[i]), r = rft_aug_clip(a[j]);
        if (rft_aug_get(flip, row / rows) != 0.0f) { float s = l; l = r; r = s; }
        b[i] = l;
        b[j] = r;
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_aug_hflip(const rft_tensor *flip, const rft_tensor *x, rft_tensor *y)
{
    int64_t W = x->shape[3], rows = x->shape[1] * x->shape[2], pairs = (W + 1) / 2;
    int64_t total = x->shape[0] * rows * pairs;
    if (total == 0) return RFT_OK;
    RFT_LAUNCH(aug_hflip_kernel, rft_cuda_blocks(total), RFT_CUDA_THREADS, aug_param(flip), rft_f32(x), rft_f32(y),
               rows, W, pairs, total);
    return RFT_OK;
}
