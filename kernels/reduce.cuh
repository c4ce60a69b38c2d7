/* reduce.cuh: small device helpers shared by the loss, metric, tensor-op and data-path kernels
 * (tensor_ops.cu, cross_entropy.cu, accuracy.cu, fma.cu, stability.cu, invariance.cu, crop_flip.cu):
 *   - warp and block reductions (sums in double for loss values, as the CPU sums in double);
 *   - the refused-index flag: a kernel that checks an i32 array's values records the lowest bad
 *     index in a device word, the op's compute kernels do nothing once it is set, and the launcher
 *     reads it back and fails with the same sentence the CPU gives (the CPU checks every value
 *     before writing anything, so a failed call leaves its outputs alone on both devices);
 *   - one-block final sums of per-row or per-block doubles (a fixed order: run to run the same).
 *
 * Every block reduction expects blockDim.x to be a multiple of 32, at most 1024, and to be called
 * by every thread of the block (it synchronises). Kernels here are `static`: each file that
 * includes this header gets its own copy, so nothing clashes at link time.
 *
 * Not here: any op.
 */
#ifndef RFT_REDUCE_CUH
#define RFT_REDUCE_CUH
#include "cuda_util.h"

/* ---- warp and block reductions ------------------------------------------------------------- */

template <typename T>
__device__ __forceinline__ T rft_warp_sum(T v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* The largest of the warp's values; NaN is skipped (fmaxf), as is a lane's -INFINITY. */
__device__ __forceinline__ float rft_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* The sum of v over the block; every thread gets it. */
template <typename T>
__device__ __forceinline__ T rft_block_sum(T v)
{
    __shared__ T part[32];
    __shared__ T total;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = rft_warp_sum(v);
    __syncthreads();                      /* a previous call's readers of part and total are done */
    if (lane == 0) part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        T w = lane < nwarps ? part[lane] : (T)0;
        w = rft_warp_sum(w);
        if (lane == 0) total = w;
    }
    __syncthreads();
    return total;
}

/* ---- the refused-index flag ----------------------------------------------------------------- */

/* The word holds 0 when every value passed, else n - i for the lowest refused index i of n values
 * (atomicMax keeps the lowest i): so a zeroed word (cudaMemsetAsync 0, as for the other results
 * an op reads back with it) means "all good". */
typedef unsigned long long rft_bad_word;

/* Whether the check kernel queued before this one on the stream refused a value. */
__device__ __forceinline__ bool rft_bad_set(const rft_bad_word *bad) { return *bad != 0; }

/* v: (n) i32; records the lowest i with v[i] outside [lo, hi) in *bad */
static __global__ void rft_range_check_kernel(const int32_t *v, int64_t n, int64_t lo, int64_t hi, rft_bad_word *bad)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        if ((int64_t)v[i] < lo || (int64_t)v[i] >= hi) atomicMax(bad, (rft_bad_word)(n - i));
}

/* Queues the check of v's n values against [lo, hi) into *bad, which the caller has zeroed. */
static inline int rft_cuda_range_check(const int32_t *v, int64_t n, int64_t lo, int64_t hi, rft_bad_word *bad)
{
    if (n > 0) RFT_LAUNCH(rft_range_check_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, v, n, lo, hi, bad);
    return RFT_OK;
}

/* After the word came back as `word` (non-zero): the refused index in *i and its value in *value,
 * read from the device array v (a small synchronous copy: only on the way to an error). */
static inline int rft_cuda_bad_value(rft_bad_word word, const int32_t *v, int64_t n, int64_t *i, int32_t *value)
{
    *i = n - (int64_t)word;
    RFT_CUDA_CHECK(cudaMemcpyAsync(value, v + *i, sizeof *value, cudaMemcpyDeviceToHost, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaStreamSynchronize(rft_cuda.stream));
    return RFT_OK;
}

/* ---- final sums ------------------------------------------------------------------------------- */

/* v: (n) doubles -> *out = their sum; one block (always the same order) */
static __global__ void rft_sum_kernel(const double *v, int64_t n, double *out)
{
    double s = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += v[i];
    s = rft_block_sum(s);
    if (threadIdx.x == 0) *out = s;
}

/* Bytes rounded up to 256, for laying out several arrays in one scratch block. */
static inline size_t rft_align256(size_t n) { return (n + 255) & ~(size_t)255; }

#endif
