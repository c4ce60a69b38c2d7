/* tensor.cu: the CUDA twins of engine/core/tensor.c's element-wise entries: fill, u8 -> f32 and
 * the min/max/mean summary. Arguments arrive checked and outputs resized by librft.
 *
 * Kernels first, then launchers. Every loop is grid-stride with 64-bit indices, so any size runs
 * on a grid sized to the device (rft_cuda_blocks).
 *
 * Not here: copies (copy.cu), random fills (rand.cu).
 */
#include "cuda_util.h"
#include <string.h>

/* ---- kernels -------------------------------------------------------------------------------- */

/* p: (n) 32-bit words, all set to `bits` (an f32 or an i32 value) */
__global__ void fill_u32_kernel(uint32_t *p, uint32_t bits, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        p[i] = bits;
}

/* x: (n) u8, y: (n) f32; y = x * scale, one rounding as on the CPU */
__global__ void u8_to_f32_kernel(const uint8_t *x, float scale, float *y, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        y[i] = __fmul_rn((float)x[i], scale);
}

/* One block's share of min, max and sum, in double as on the CPU. min and max skip NaN (the
 * comparisons are false for it) and `nan` records that one was seen: the CPU reports NaN for both. */
typedef struct { double lo, hi, sum; int nan; } stats_part;

__device__ void stats_merge(stats_part *a, const stats_part *b)
{
    a->lo = b->lo < a->lo ? b->lo : a->lo;
    a->hi = b->hi > a->hi ? b->hi : a->hi;
    a->sum += b->sum;
    a->nan |= b->nan;
}

/* Reduces the block's RFT_CUDA_THREADS parts in shared memory; thread 0 writes *out. */
__device__ void stats_block_reduce(stats_part mine, stats_part *out)
{
    __shared__ stats_part s[RFT_CUDA_THREADS];
    s[threadIdx.x] = mine;
    __syncthreads();
    for (int step = RFT_CUDA_THREADS / 2; step > 0; step /= 2) {
        if ((int)threadIdx.x < step) stats_merge(&s[threadIdx.x], &s[threadIdx.x + step]);
        __syncthreads();
    }
    if (threadIdx.x == 0) *out = s[0];
}

/* p: (n) elements of type T; parts: (gridDim.x) */
template <typename T>
__device__ void stats_partial(const T *p, int64_t n, stats_part *parts)
{
    stats_part m = {INFINITY, -INFINITY, 0.0, 0};
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
        double v = (double)p[i];
        m.lo = v < m.lo ? v : m.lo;
        m.hi = v > m.hi ? v : m.hi;
        m.sum += v;
        m.nan |= isnan(v);
    }
    stats_block_reduce(m, &parts[blockIdx.x]);
}

__global__ void stats_f32_kernel(const float *p, int64_t n, stats_part *parts) { stats_partial(p, n, parts); }
__global__ void stats_u8_kernel(const uint8_t *p, int64_t n, stats_part *parts) { stats_partial(p, n, parts); }
__global__ void stats_i32_kernel(const int32_t *p, int64_t n, stats_part *parts) { stats_partial(p, n, parts); }

/* parts: (nparts) -> parts[0]; one block */
__global__ void stats_final_kernel(stats_part *parts, int nparts)
{
    stats_part m = {INFINITY, -INFINITY, 0.0, 0};
    for (int i = threadIdx.x; i < nparts; i += blockDim.x) stats_merge(&m, &parts[i]);
    __syncthreads();                              /* every read of parts[0] is done before it is written */
    stats_block_reduce(m, &parts[0]);
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_fill(rft_tensor *t, double value)
{
    int64_t n = t->numel;
    if (n == 0) return RFT_OK;
    uint32_t bits;
    switch (t->dtype) {
    case RFT_F32: { float v = (float)value; memcpy(&bits, &v, 4); break; }
    case RFT_I32: { int32_t v = (int32_t)value; memcpy(&bits, &v, 4); break; }
    default:                                      /* u8: the same conversion as the CPU's memset */
        RFT_CUDA_CHECK(cudaMemsetAsync(rft_ptr(t), (uint8_t)value, (size_t)n, rft_cuda.stream));
        return RFT_OK;
    }
    RFT_LAUNCH(fill_u32_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, (uint32_t *)rft_ptr(t), bits, n);
    return RFT_OK;
}

int rft_cuda_u8_to_f32(const rft_tensor *x, float scale, rft_tensor *y)
{
    int64_t n = x->numel;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(u8_to_f32_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_u8(x), scale, rft_f32(y), n);
    return RFT_OK;
}

static int stats_launch(const rft_tensor *t, unsigned blocks, stats_part *parts)
{
    int64_t n = t->numel;
    switch (t->dtype) {
    case RFT_F32: RFT_LAUNCH(stats_f32_kernel, blocks, RFT_CUDA_THREADS, rft_f32(t), n, parts); break;
    case RFT_U8: RFT_LAUNCH(stats_u8_kernel, blocks, RFT_CUDA_THREADS, rft_u8(t), n, parts); break;
    case RFT_I32: RFT_LAUNCH(stats_i32_kernel, blocks, RFT_CUDA_THREADS, rft_i32(t), n, parts); break;
    }
    RFT_LAUNCH(stats_final_kernel, 1, RFT_CUDA_THREADS, parts, (int)blocks);
    return RFT_OK;
}

int rft_cuda_stats(const rft_tensor *t, double *out)
{
    unsigned blocks = rft_cuda_blocks(t->numel);  /* numel > 0: librft refuses empty tensors */
    void *scratch;
    RFT_TRY(rft_cuda_block(blocks * sizeof(stats_part), &scratch));
    stats_part m;
    int rc = stats_launch(t, blocks, (stats_part *)scratch);
    if (rc == RFT_OK) rc = rft_cuda_copy(&m, RFT_CPU, scratch, RFT_CUDA, sizeof m);   /* waits for it */
    rft_cuda_free(scratch);
    RFT_TRY(rc);
    out[0] = m.nan ? NAN : m.lo;
    out[1] = m.nan ? NAN : m.hi;
    out[2] = m.sum / (double)t->numel;
    return RFT_OK;
}
