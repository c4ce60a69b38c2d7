/* tensor_ops.cu: the CUDA twins of engine/core/tensor_ops.c: y += alpha*x, y *= alpha, and the row
 * gather (a batch from a dataset by sampled indices). Arguments arrive checked and out resized.
 *
 * Exactness: axpy and scale round as the CPU does (the CPU is C11, no contraction: alpha*x rounds,
 * then the add), written with __fmul_rn/__fadd_rn so that nvcc cannot fuse them: bit-identical.
 * gather copies bytes: bit-identical. Its indices are checked on the device (reduce.cuh's flag)
 * before anything is written, and a bad one fails with the CPU's sentence; that read-back makes
 * gather wait for the stream, as the CPU's check does.
 *
 * Not here: broadcasting or strides (tensors are dense), fill (tensor.cu).
 */
#include "cuda_util.h"
#include "reduce.cuh"
#include <stdint.h>

/* ---- kernels -------------------------------------------------------------------------------- */

/* x, y: (n) f32; y += alpha x */
__global__ void axpy_kernel(float alpha, const float *x, float *y, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        y[i] = __fadd_rn(y[i], __fmul_rn(alpha, x[i]));
}

/* y: (n) f32; y *= alpha */
__global__ void scale_kernel(float *y, float alpha, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        y[i] = __fmul_rn(y[i], alpha);
}

/* src: (rows, row) words of type T, ix: (batch) i32 in 0..rows-1, out: (batch, row);
 * out[i] = src[ix[i]]; nothing is written when the check refused an index */
template <typename T>
__global__ void gather_kernel(const T *src, const int32_t *ix, T *out, int64_t batch, int64_t row,
                              const rft_bad_word *bad)
{
    if (rft_bad_set(bad)) return;
    const int64_t n = batch * row;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)blockDim.x * gridDim.x) {
        const int64_t i = e / row, k = e - i * row;
        out[e] = src[(int64_t)ix[i] * row + k];
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_axpy(float alpha, const rft_tensor *x, rft_tensor *y)
{
    int64_t n = y->numel;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(axpy_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, alpha, rft_f32(x), rft_f32(y), n);
    return RFT_OK;
}

int rft_cuda_scale(rft_tensor *y, float alpha)
{
    int64_t n = y->numel;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(scale_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(y), alpha, n);
    return RFT_OK;
}

/* Copies rows of `bytes` bytes in words of T (T divides bytes and both addresses). */
template <typename T>
static int gather_launch(const rft_tensor *src, const int32_t *ix, rft_tensor *out, int64_t batch, size_t bytes,
                         const rft_bad_word *bad)
{
    const int64_t row = (int64_t)(bytes / sizeof(T));
    RFT_LAUNCH((gather_kernel<T>), rft_cuda_blocks(batch * row), RFT_CUDA_THREADS, (const T *)rft_ptr(src), ix,
               (T *)rft_ptr(out), batch, row, bad);
    return RFT_OK;
}

/* The widest word (16, 4 or 1 bytes) that divides the row and both base addresses. */
static size_t gather_word(const rft_tensor *src, const rft_tensor *out, size_t row)
{
    const uintptr_t a = (uintptr_t)rft_ptr(src) | (uintptr_t)rft_ptr(out) | (uintptr_t)row;
    return a % 16 == 0 ? 16 : a % 4 == 0 ? 4 : 1;
}

/* Queues the check and the copy, and reads the flag back into *word (waiting for the stream). */
static int gather_run(const rft_tensor *src, const int32_t *ix, rft_tensor *out, int64_t batch, size_t row,
                      rft_bad_word *bad, rft_bad_word *word)
{
    RFT_CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof *bad, rft_cuda.stream));
    RFT_TRY(rft_cuda_range_check(ix, batch, 0, src->shape[0], bad));
    if (row > 0) {
        switch (gather_word(src, out, row)) {
        case 16: RFT_TRY(gather_launch<uint4>(src, ix, out, batch, row, bad)); break;
        case 4: RFT_TRY(gather_launch<uint32_t>(src, ix, out, batch, row, bad)); break;
        default: RFT_TRY(gather_launch<uint8_t>(src, ix, out, batch, row, bad)); break;
        }
    }
    RFT_CUDA_CHECK(cudaMemcpyAsync(word, bad, sizeof *word, cudaMemcpyDeviceToHost, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaStreamSynchronize(rft_cuda.stream));
    return RFT_OK;
}

int rft_cuda_gather(const rft_tensor *src, const rft_tensor *idx, rft_tensor *out)
{
    const int64_t rows = src->shape[0], batch = idx->shape[0];
    if (batch == 0) return RFT_OK;
    const int32_t *ix = rft_i32(idx);
    const size_t row = rows ? rft_nbytes(src) / (size_t)rows : 0;   /* bytes per row */
    void *scratch;
    RFT_TRY(rft_cuda_block(sizeof(rft_bad_word), &scratch));
    rft_bad_word word = 0;
    int rc = gather_run(src, ix, out, batch, row, (rft_bad_word *)scratch, &word);
    rft_cuda_free(scratch);
    RFT_TRY(rc);
    if (word) {
        int64_t i;
        int32_t v;
        RFT_TRY(rft_cuda_bad_value(word, ix, batch, &i, &v));
        return rft_fail(RFT_EARG, "gather: idx[%lld] = %d is outside the %lld rows of src %s", (long long)i, v,
                        (long long)rows, rft_shape_str(src));
    }
    return RFT_OK;
}
