/* sgd.cu: the CUDA twin of engine/optim/sgd.c, one step of torch.optim.SGD with dampening 0 over a
 * whole flat parameter buffer:
 *   g    = grad + weight_decay * param
 *   buf  = g on the first step (first_step = 1), else momentum * buf + g
 *   step = nesterov ? g + momentum * buf : buf          (g itself when momentum = 0: no buffer)
 *   param -= lr * step
 * Exactness: every product and sum rounds to float on its own, as the CPU's C11 build does (no
 * contraction): written with __fmul_rn/__fadd_rn/__fsub_rn so that nvcc cannot fuse them, so the
 * parameters and the buffer stay bit-identical to the CPU's step after step.
 *
 * Not here: the learning-rate schedule (Lua's), dampening, other optimizers.
 */
#include "cuda_util.h"

/* ---- kernels -------------------------------------------------------------------------------- */

/* g, p: (n) f32; momentum 0: p -= lr (g + wd p) */
__global__ void sgd_plain_kernel(const float *g, float *p, int64_t n, float lr, float wd)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
        const float pi = p[i];
        p[i] = __fsub_rn(pi, __fmul_rn(lr, __fadd_rn(g[i], __fmul_rn(wd, pi))));
    }
}

/* g, p, buf: (n) f32; with a momentum buffer */
__global__ void sgd_momentum_kernel(const float *g, float *p, float *buf, int64_t n, float lr, float mu, float wd,
                                    int first_step, int nesterov)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
        const float pi = p[i];
        const float gi = __fadd_rn(g[i], __fmul_rn(wd, pi));
        const float bi = first_step ? gi : __fadd_rn(__fmul_rn(mu, buf[i]), gi);
        buf[i] = bi;
        const float step = nesterov ? __fadd_rn(gi, __fmul_rn(mu, bi)) : bi;
        p[i] = __fsub_rn(pi, __fmul_rn(lr, step));
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_sgd_step(const rft_sgd_args *a, int first_step, const rft_tensor *grad, rft_tensor *param,
                      rft_tensor *momentum_buf)
{
    const int64_t n = param->numel;
    if (n == 0) return RFT_OK;
    if (!momentum_buf) {
        RFT_LAUNCH(sgd_plain_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(grad), rft_f32(param), n, a->lr,
                   a->weight_decay);
        return RFT_OK;
    }
    RFT_LAUNCH(sgd_momentum_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(grad), rft_f32(param),
               rft_f32(momentum_buf), n, a->lr, a->momentum, a->weight_decay, first_step, a->nesterov);
    return RFT_OK;
}
