/* aug_contrast.cu: the CUDA twin of engine/aug/contrast.c: contrast about each channel's mean,
 * y = clip((x - m)·gamma + m), m the mean of that channel of that image (DESIGN.md §4, the heavier
 * scheme), gamma per image or one for all.
 *
 * Exactness: the means are summed in the CPU's order (rft_aug_mean_finish: 8 float lanes, each by
 * one thread here, then the lanes and the tail in double), and the formula is rounded step by step
 * (rft_aug_contrast_px), so the output is the CPU's bit for bit.
 *
 * Two kernels: the plane means into scratch, then the values (so y may be x).
 * Not here: argument checks (librft).
 */
#include "aug_cuda.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

enum { PLANES_PER_BLOCK = (int)RFT_CUDA_THREADS / (int)RFT_AUG_MEAN_LANES };

/* x: (planes, hw) f32; means: (planes). Thread (plane, lane k) sums values k, k+8, ... of the first
   hw - hw % 8 of its plane; lane 0 adds up the plane's lanes. One pass, no grid stride: the grid
   covers planes·8 threads. */
__global__ void aug_contrast_mean_kernel(const float *x, int64_t planes, int64_t hw, float *means)
{
    __shared__ float part[RFT_CUDA_THREADS];
    int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    int64_t p = t / RFT_AUG_MEAN_LANES;
    int k = (int)(t % RFT_AUG_MEAN_LANES);
    float s = 0.0f;
    if (p < planes) {
        const float *a = x + p * hw;
        int64_t full = hw - hw % RFT_AUG_MEAN_LANES;
        for (int64_t i = k; i < full; i += RFT_AUG_MEAN_LANES) s = rft_aug_add(s, a[i]);
    }
    part[threadIdx.x] = s;
    __syncthreads();
    if (p < planes && k == 0) means[p] = rft_aug_mean_finish(&part[threadIdx.x], x + p * hw, hw);
}

/* x, y: (N*C planes, hw) f32, y may be x; means: (N*C); gamma: 1 or N values */
__global__ void aug_contrast_kernel(rft_aug_pf gamma, const float *means, const float *x, float *y, int64_t C,
                                    int64_t hw, int64_t total)
{
    for (int64_t i = aug_first(); i < total; i += aug_stride()) {
        int64_t p = i / hw;
        y[i] = rft_aug_contrast_px(x[i], means[p], rft_aug_get(gamma, p / C));
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

static int contrast_launch(const rft_tensor *gamma, const rft_tensor *x, rft_tensor *y, float *means)
{
    int64_t C = x->shape[1], hw = x->shape[2] * x->shape[3], planes = x->shape[0] * C, total = x->numel;
    unsigned mean_blocks = (unsigned)((planes + PLANES_PER_BLOCK - 1) / PLANES_PER_BLOCK);
    RFT_LAUNCH(aug_contrast_mean_kernel, mean_blocks, RFT_CUDA_THREADS, rft_f32(x), planes, hw, means);
    RFT_LAUNCH(aug_contrast_kernel, rft_cuda_blocks(total), RFT_CUDA_THREADS, aug_param(gamma), means, rft_f32(x),
               rft_f32(y), C, hw, total);
    return RFT_OK;
}

int rft_cuda_aug_contrast(const rft_tensor *gamma, const rft_tensor *x, rft_tensor *y)
{
    if (x->numel == 0) return RFT_OK;
    void *means;                    /* (N*C) f32 */
    RFT_TRY(rft_cuda_block((size_t)(x->shape[0] * x->shape[1]) * sizeof(float), &means));
    int rc = contrast_launch(gamma, x, y, (float *)means);
    rft_cuda_free(means);           /* stream-ordered: the kernels queued above read it first */
    return rc;
}
