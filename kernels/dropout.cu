/* dropout.cu: the CUDA twins of engine/nn/dropout.c, inverted dropout:
 *   mask[k] ~ Bernoulli(1 - p),  y[k] = x[k] * mask[k] / (1 - p),  dx[k] = dy[k] * mask[k] / (1 - p)
 * Arguments arrive checked and outputs resized by librft.
 *
 * Masks are bit-identical to the CPU's: mask[k] is word (offset + k) % 4 of the Philox block
 * (offset + k) / 4 of stream (seed, stream), through the host-device functions of engine/philox.h,
 * compared with keep = 1 - p as the CPU compares it. As on the CPU one thread draws one block and
 * fills the (up to) four elements it covers. y and dx are bit-identical too: one f32 product with
 * the scale 1/(1 - p) rounded on the host as the CPU rounds it (0 for p = 1). In place (y = x,
 * dx = dy) is fine: each element is read and written by one thread.
 *
 * Not here: evaluation mode (the identity, skipped by the Lua module), spatial dropout.
 */
#include "cuda_util.h"

/* ---- kernels -------------------------------------------------------------------------------- */

/* x, y: (n) f32, mask: (n) u8; blocks first .. first + nblocks - 1 of the Philox stream */
__global__ void dropout_forward_kernel(const float *x, float *y, uint8_t *mask, int64_t n, uint64_t seed,
                                       uint64_t stream, uint64_t offset, uint64_t first, int64_t nblocks, float keep,
                                       float scale)
{
    for (int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; b < nblocks; b += (int64_t)blockDim.x * gridDim.x) {
        const uint64_t q = first + (uint64_t)b;
        rft_philox4 r = rft_philox(seed, stream, q);
        for (int w = 0; w < 4; w++) {
            uint64_t pos = 4 * q + (uint64_t)w;
            if (pos < offset || pos - offset >= (uint64_t)n) continue;
            int64_t k = (int64_t)(pos - offset);
            uint8_t on = rft_u32_to_unit(r.v[w]) <= keep;
            mask[k] = on;
            y[k] = on ? __fmul_rn(x[k], scale) : 0.0f;
        }
    }
}

/* mask: (n) u8, dy, dx: (n) f32 */
__global__ void dropout_backward_kernel(const uint8_t *mask, const float *dy, float *dx, int64_t n, float scale)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        dx[i] = mask[i] ? __fmul_rn(dy[i], scale) : 0.0f;
}

/* ---- launchers ------------------------------------------------------------------------------ */

/* 1/(1-p), and 0 for p = 1 (every element dropped): engine/nn/dropout.c's keep_scale */
static float keep_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

int rft_cuda_dropout_forward(float p, uint64_t seed, uint64_t stream, uint64_t offset, const rft_tensor *x,
                             rft_tensor *y, rft_tensor *mask)
{
    int64_t n = x->numel;
    if (n == 0) return RFT_OK;
    const float keep = 1.0f - p, s = keep_scale(p);
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
               rft_f32(dx), n, keep_scale(p));
    return RFT_OK;
}
