/* aug_gaussian_blur.cu: the CUDA twin of engine/aug/gaussian_blur.c: Gaussian blur, each channel
 * convolved with the normalised size x size kernel exp(-(u²+v²)/2σ²) (DESIGN.md §4, GB), as a row
 * pass into scratch and a column pass, then clipped; size and σ per image or one for all; the
 * border mode (reflect-101, reflect, replicate, constant zeros, wrap) says what lies outside.
 *
 * Exactness: every output sums its taps in the CPU's order (u = -r .. r; inside the image from the
 * first tap, at the border from 0 skipping taps outside under the constant border), each tap
 * rounded as s + w·v (rft_aug_tap, never fused), and the row pass is rounded to float before the
 * column pass, as on the CPU. The 1-D weights come from rft_aug_gauss_weights, whose expf is
 * CUDA's (within 2 ulp) here and glibc's on the CPU: the weights, and so the outputs, may differ
 * from the CPU's by a few ulp; σ = 0 (the identity) is exact.
 *
 * size and σ on the device were not checked by librft (it reads only host parameters): the kernels
 * clamp size to an odd number in [1, MAX_SIZE] so that no value can index past the weights.
 * Not here: argument checks (librft).
 */
#include "aug_cuda.cuh"

enum { MAX_SIZE = 255 };        /* the CPU's bound on size (gaussian_blur.c) */

/* ---- kernels -------------------------------------------------------------------------------- */

/* The kernel size of a parameter value: an odd whole number in [1, MAX_SIZE] (checked values pass
   unchanged; NaN converts to 0). */
__device__ __forceinline__ int blur_size(float v)
{
    int s = (int)v;
    s = s < 1 ? 1 : s > MAX_SIZE ? MAX_SIZE : s;
    return s | 1;
}

/* w: (nw, MAX_SIZE) f32, the 1-D weights of image n (nw = 1 when size and sigma are shared) */
__global__ void aug_blur_weights_kernel(rft_aug_pf size, rft_aug_pf sigma, int64_t nw, float *w)
{
    for (int64_t n = aug_first(); n < nw; n += aug_stride())
        rft_aug_gauss_weights(blur_size(rft_aug_get(size, n)), rft_aug_get(sigma, n), w + n * MAX_SIZE);
}

/* Output i of a line of n values read with stride `step` (the CPU's blur_at and interior loops):
   inside (r <= i < n - r) the sum starts from the first tap, elsewhere from 0. */
__device__ __forceinline__ float blur_line(const float *src, int64_t step, int64_t n, int64_t i, const float *w,
                                           int r, int border)
{
    float s = 0.0f;
    int u = -r;
    if (i >= r && i < n - r) {
        s = rft_aug_mul(w[0], src[(i - r) * step]);
        u = -r + 1;
    }
    for (; u <= r; u++) {
        int64_t j = rft_aug_border(i + u, n, border);
        if (j >= 0) s = rft_aug_tap(s, w[u + r], src[j * step]);
    }
    return s;
}

/* x, tmp: (N*C planes, H, W) f32; tmp = the row pass of x (not clipped) */
__global__ void aug_blur_rows_kernel(int border, rft_aug_pf size, const float *w, int64_t per_image_w,
                                     const float *x, float *tmp, int64_t C, int64_t H, int64_t W, int64_t total)
{
    for (int64_t t = aug_first(); t < total; t += aug_stride()) {
        int64_t line = t / W, i = t % W, n = line / (H * C);
        int r = blur_size(rft_aug_get(size, n)) / 2;
        tmp[t] = blur_line(x + line * W, 1, W, i, w + (per_image_w ? n : 0) * MAX_SIZE, r, border);
    }
}

/* tmp, y: (N*C planes, H, W) f32; y = clip(the column pass of tmp); y may be x */
__global__ void aug_blur_cols_kernel(int border, rft_aug_pf size, const float *w, int64_t per_image_w,
                                     const float *tmp, float *y, int64_t C, int64_t H, int64_t W, int64_t total)
{
    int64_t hw = H * W;
    for (int64_t t = aug_first(); t < total; t += aug_stride()) {
        int64_t p = t / hw, h = t % hw / W, i = t % W, n = p / C;
        int r = blur_size(rft_aug_get(size, n)) / 2;
        float s = blur_line(tmp + p * hw + i, W, H, h, w + (per_image_w ? n : 0) * MAX_SIZE, r, border);
        y[t] = rft_aug_clip(s);
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

static int blur_launch(int border, const rft_tensor *size, const rft_tensor *sigma, const rft_tensor *x,
                       rft_tensor *y, int64_t nw, float *w, float *tmp)
{
    int64_t C = x->shape[1], H = x->shape[2], W = x->shape[3], total = x->numel;
    rft_aug_pf sz = aug_param(size);
    int64_t per_image_w = nw != 1;
    RFT_LAUNCH(aug_blur_weights_kernel, rft_cuda_blocks(nw), RFT_CUDA_THREADS, sz, aug_param(sigma), nw, w);
    RFT_LAUNCH(aug_blur_rows_kernel, rft_cuda_blocks(total), RFT_CUDA_THREADS, border, sz, w, per_image_w,
               rft_f32(x), tmp, C, H, W, total);
    RFT_LAUNCH(aug_blur_cols_kernel, rft_cuda_blocks(total), RFT_CUDA_THREADS, border, sz, w, per_image_w, tmp,
               rft_f32(y), C, H, W, total);
    return RFT_OK;
}

int rft_cuda_aug_gaussian_blur(int border, const rft_tensor *size, const rft_tensor *sigma, const rft_tensor *x,
                               rft_tensor *y)
{
    if (x->numel == 0) return RFT_OK;
    int64_t nw = size->numel == 1 && sigma->numel == 1 ? 1 : x->shape[0];
    void *w, *tmp;                  /* w: (nw, MAX_SIZE); tmp: like x */
    RFT_TRY(rft_cuda_block((size_t)nw * MAX_SIZE * sizeof(float), &w));
    int rc = rft_cuda_block((size_t)x->numel * sizeof(float), &tmp);
    if (rc == RFT_OK) {
        rc = blur_launch(border, size, sigma, x, y, nw, (float *)w, (float *)tmp);
        rft_cuda_free(tmp);         /* stream-ordered: the kernels queued above read it first */
    }
    rft_cuda_free(w);
    return rc;
}
