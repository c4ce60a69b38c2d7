/* relu.cu: the CUDA twins of engine/nn/relu.c: y = max(x, 0), dx = dy * [y > 0] and
 * dx = (dy + extra) * [y > 0], extra a tensor or a factored tap gradient formed from y
 * (rft_factored_at). Arguments arrive checked and outputs resized by librft.
 *
 * Bit-identical to the CPU: the same comparisons, and the additions and the factored form rounded
 * as the CPU rounds them (__fadd_rn, __fmul_rn: nvcc cannot fuse them). Written as x < 0 ? 0 : x
 * so that NaN passes through the forward, as on the CPU. Both run in place (y = x, dx = dy): every element
 * is read and written by one thread.
 *
 * Not here: other activations.
 */
#include "cuda_util.h"

/* ---- kernels -------------------------------------------------------------------------------- */

/* x, y: (n) f32 */
__global__ void relu_forward_kernel(const float *x, float *y, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
        float v = x[i];
        y[i] = v < 0.0f ? 0.0f : v;
    }
}

/* y, dy, dx: (n) f32; the gradient at y = 0 is 0 */
__global__ void relu_backward_kernel(const float *y, const float *dy, float *dx, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* y, dy, extra, dx: (n) f32; the tap gradient extra joins dy at the output, summed as the CPU sums */
__global__ void relu_backward_add_kernel(const float *y, const float *dy, const float *extra, float *dx, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        dx[i] = y[i] > 0.0f ? __fadd_rn(dy[i], extra[i]) : 0.0f;
}

/* the same with the tap gradient in factored form, formed from y */
__global__ void relu_backward_add_factored_kernel(const float *y, const float *dy, rft_cuda_factored fx, float *dx,
                                                  int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        dx[i] = y[i] > 0.0f ? __fadd_rn(dy[i], rft_factored_at(fx, y[i], i)) : 0.0f;
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_relu_forward(const rft_tensor *x, rft_tensor *y)
{
    int64_t n = x->numel;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(relu_forward_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(x), rft_f32(y), n);
    return RFT_OK;
}

int rft_cuda_relu_backward(const rft_tensor *y, const rft_tensor *dy, rft_tensor *dx)
{
    int64_t n = y->numel;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(relu_backward_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(y), rft_f32(dy), rft_f32(dx), n);
    return RFT_OK;
}

int rft_cuda_relu_backward_add(const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra, rft_tensor *dx)
{
    int64_t n = y->numel;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(relu_backward_add_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(y), rft_f32(dy),
               rft_f32(extra), rft_f32(dx), n);
    return RFT_OK;
}

int rft_cuda_relu_backward_add_factored(const rft_tensor *y, const rft_tensor *dy, const rft_tensor *coef,
                                        const rft_tensor *means, const rft_tensor *index, rft_tensor *dx)
{
    int64_t n = y->numel;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(relu_backward_add_factored_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(y), rft_f32(dy),
               rft_cuda_factored_of(y, coef, means, index), rft_f32(dx), n);
    return RFT_OK;
}
