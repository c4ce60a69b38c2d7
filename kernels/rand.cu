/* rand.cu: the CUDA twins of engine/core/rand.c's random fills. Element i takes counter position
 * offset + i of the Philox stream (seed, stream), through the same host-device functions of
 * engine/philox.h that the CPU calls, so a fill does not depend on the device.
 *
 * Exactness: uniform and Bernoulli values are bit-identical to the CPU's: the Philox words are
 * integers, the word-to-float conversion is exact, and lo + span * u is written with __fmul_rn and
 * __fadd_rn so that nvcc cannot contract it into one fused multiply-add (the CPU rounds twice).
 * Normal values go through logf and cosf, whose CUDA versions are within 1 and 2 ulp of the
 * correctly rounded result and glibc's within 1: they agree with the CPU to a few ulp, not bit
 * for bit.
 *
 * Not here: rft_rand_permutation (CPU only: a sequential Fisher-Yates shuffle of indices).
 */
#include "cuda_util.h"

/* ---- kernels -------------------------------------------------------------------------------- */

/* p: (n) f32; p[i] = lo + span * U(offset + i), U in (0, 1] */
__global__ void rand_uniform_kernel(float *p, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset,
                                    float lo, float span)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        p[i] = __fadd_rn(lo, __fmul_rn(span, rft_philox_uniform(seed, stream, offset + (uint64_t)i)));
}

/* p: (n) f32; p[i] = mean + std * Z(offset + i), Z standard normal (Box-Muller) */
__global__ void rand_normal_kernel(float *p, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset,
                                   float mean, float std)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        p[i] = __fadd_rn(mean, __fmul_rn(std, rft_philox_normal(seed, stream, offset + (uint64_t)i)));
}

/* p: (n) of dtype f32, u8 or i32; p[i] = 1 if U(offset + i) <= prob else 0: U in (0,1] on the
 * 2^-24 grid gives probability prob exactly there, and never 1 for prob = 0 */
__global__ void rand_bernoulli_kernel(void *p, int dtype, int64_t n, uint64_t seed, uint64_t stream,
                                      uint64_t offset, float prob)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
        int v = rft_philox_uniform(seed, stream, offset + (uint64_t)i) <= prob;
        switch (dtype) {
        case RFT_F32: ((float *)p)[i] = (float)v; break;
        case RFT_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
        case RFT_I32: ((int32_t *)p)[i] = v; break;
        }
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_rand_uniform(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi)
{
    int64_t n = t->numel;
    if (n == 0) return RFT_OK;
    float span = hi - lo;                         /* in float, as the CPU computes it */
    RFT_LAUNCH(rand_uniform_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(t), n, seed, stream, offset,
               lo, span);
    return RFT_OK;
}

int rft_cuda_rand_normal(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std)
{
    int64_t n = t->numel;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(rand_normal_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(t), n, seed, stream, offset,
               mean, std);
    return RFT_OK;
}

int rft_cuda_rand_bernoulli(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float p)
{
    int64_t n = t->numel;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(rand_bernoulli_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_ptr(t), t->dtype, n, seed, stream,
               offset, p);
    return RFT_OK;
}
