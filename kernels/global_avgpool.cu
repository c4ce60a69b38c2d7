/* global_avgpool.cu: the CUDA twins of engine/nn/global_avgpool.c:
 *   y[n,c] = 1/(H*W) * sum_{h,w} x[n,c,h,w]        x: (N,C,H,W) -> y: (N,C)
 *   dx[n,c,h,w] = dy[n,c] / (H*W)
 * Arguments arrive checked (planes are never empty) and outputs resized by librft.
 *
 * Bit-identical to the CPU: one thread sums one plane in double, in the CPU's order, and divides as
 * it does; the backward multiplies by the same f32 1/(H*W), rounded on the host as the CPU rounds
 * it. The planes this layer sees (the last feature maps of a CNN) are small, so a thread per plane
 * keeps the device busy enough, and exactness is worth more here than a tree reduction.
 *
 * Not here: windowed average pooling.
 */
#include "cuda_util.h"

/* ---- kernels -------------------------------------------------------------------------------- */

/* x: (planes, hw) -> y: (planes) */
__global__ void global_avgpool_forward_kernel(const float *x, float *y, int64_t planes, int64_t hw)
{
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < planes; p += (int64_t)blockDim.x * gridDim.x) {
        const float *xp = x + p * hw;
        double s = 0;
        for (int64_t k = 0; k < hw; k++) s += xp[k];
        y[p] = (float)(s / (double)hw);
    }
}

/* dy: (planes) -> dx: (planes, hw), dx = dy * inv */
__global__ void global_avgpool_backward_kernel(const float *dy, float inv, float *dx, int64_t planes, int64_t hw)
{
    int64_t n = planes * hw;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        dx[i] = __fmul_rn(dy[i / hw], inv);
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_global_avgpool_forward(const rft_tensor *x, rft_tensor *y)
{
    const int64_t planes = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3];
    if (planes == 0) return RFT_OK;
    RFT_LAUNCH(global_avgpool_forward_kernel, rft_cuda_blocks(planes), RFT_CUDA_THREADS, rft_f32(x), rft_f32(y),
               planes, hw);
    return RFT_OK;
}

int rft_cuda_global_avgpool_backward(const rft_tensor *dy, rft_tensor *dx)
{
    const int64_t planes = dx->shape[0] * dx->shape[1], hw = dx->shape[2] * dx->shape[3];
    if (planes * hw == 0) return RFT_OK;
    const float inv = 1.0f / (float)hw;               /* as the CPU rounds it */
    RFT_LAUNCH(global_avgpool_backward_kernel, rft_cuda_blocks(planes * hw), RFT_CUDA_THREADS, rft_f32(dy), inv,
               rft_f32(dx), planes, hw);
    return RFT_OK;
}
