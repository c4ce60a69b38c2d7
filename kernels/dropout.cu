/* dropout.cu: the CUDA twins of engine/nn/dropout.c, inverted dropout:
 *   mask[k] ~ Bernoulli(1 - p),  y[k] = x[k] * mask[k] / (1 - p),  dx[k] = dy[k] * mask[k] / (1 - p)
 * Arguments arrive checked and outputs resized by librft.
 *
 * Masks are bit-identical to the CPU's: mask[k] is word (offset + k) % 4 of the Philox block
 * (offset + k) / 4 of stream (seed, stream): one thread per block calls rft_dropout_block of
 * engine/nn/dropout_math.h, the function the CPU calls, which fills the (up to) four elements it covers. y and dx are bit-identical too: one f32 product with
 * the scale 1/(1 - p) rounded on the host as the CPU rounds it (0 for p = 1). In place (y = x,
 * dx = dy) is fine: each element is read and written by one thread.
 *
 * Not here: evaluation mode (the identity, skipped by the Lua module), spatial dropout.
 */
#include "cuda_util.h"
#include "nn/dropout_math.h"

/* ---- kernels -------------------------------------------------------------------------------- */

/* x, y: (n) f32, mask: (n) u8; blocks first .. first + nblocks - 1 of the Philox stream */
__global__ void dropout_forward_kernel(const float *x, float *y, uint8_t *mask, int64_t n, uint64_t seed,
                                       uint64_t stream, uint64_t offset, uint64_t first, int64_t nblocks, float keep,
                                       float scale)
{
    for (int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; b < nblocks; b += (int64_t)blockDim.x * gridDim.x)
        rft_dropout_block(seed, stream, offset, n, first + (uint64_t)b, keep, scale, x, y, mask);
}

/* mask: (n) u8, dy, dx: (n) f32 */
__global__ void dropout_backward_kernel(const uint8_t *mask, const float *dy, float *dx, int64_t n, float scale)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        dx[i] = mask[i] ? __fmul_rn(dy[i], scale) : 0.0f;
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_dropout_forward(float p, uint64_t seed, uint64_t stream, uint64_t offset, const rft_tensor *x,
                             rft_tensor *y, rft_tensor *mask)
{
    int64_t n = x->numel;
    if (n == 0) return RFT_OK;
    const float keep = 1.0f - p, s = rft_dropout_scale(p);
    const uint64_t first = offset >> 2, last = (offset + (uint64_t)n - 1) >> 2;
    const int64_t nblocks = (int64_t)(last - first + 1);
    RFT_LAUNCH(dropout_forward_kernel, rft_cuda_blocks(nblocks), RFT_CUDA_THREADS, rft_f32(x), rft_f32(y),
               rft_u8(mask), n, seed, stream, offset, first, nblocks, keep, s);
    return RFT_OK;
}

int rft_cuda_dropout_backward(float p, const rft_tensor *mask, const rft_tensor *dy, rft_tensor *dx)
{
    int64_t n = dy->numel;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(dropout_backward_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_u8(mask), rft_f32(dy),
               rft_f32(dx), n, rft_dropout_scale(p));
    return RFT_OK;
}
