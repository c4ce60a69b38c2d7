/* crop_flip.cu: the CUDA twin of engine/data/crop_flip.c, the standard CIFAR training augmentation
 * (pad, random crop back to HxW, horizontal flip with probability 1/2) fused with the u8 -> f32
 * conversion:
 *   x: (N,C,H,W) u8 or f32, ids: [N] i32 dataset indices >= 0, y: (N,C,H,W) f32
 *   r = rft_philox(seed, stream = ids[i], position 0): one block of four words per image
 *   oy = floor(r[0] (2 pad + 1) / 2^32) - pad, ox = floor(r[1] (2 pad + 1) / 2^32) - pad
 *   flipped = flip and r[2] >= 2^31
 *   y[i,c,h,w] = s x[i,c, h + oy, (flipped ? W-1-w : w) + ox], 0 outside; s = 1/255 (u8) or 1 (f32)
 * The words come from engine/philox.h's host-device rft_philox, the function the CPU calls, and
 * the value is one float product (u8) or a copy (f32): the output is bit-identical to the CPU's.
 * The ids are checked on the device first (reduce.cuh's flag); a negative one fails with the CPU's
 * sentence and nothing is written. Reading that flag back waits for the device; ids handed over on
 * the host (the data path has them there) were checked by librft instead, and are sent along with
 * the batch's other host-to-device copies, so the call returns without waiting.
 *
 * Not here: the photometric augmentations (kernels/aug_*.cu), resizing crops.
 */
#include "cuda_util.h"
#include "reduce.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

/* floor(w * m / 2^32): a 32-bit word to 0 .. m-1, as the CPU's draw_below */
__device__ __forceinline__ int64_t draw_below(uint32_t w, int64_t m) { return (int64_t)(((uint64_t)w * (uint64_t)m) >> 32); }

/* A source value as the CPU writes it: u8 times s (one rounding), f32 copied (NaNs keep their bits). */
__device__ __forceinline__ float crop_value(uint8_t v, float s) { return __fmul_rn((float)v, s); }
__device__ __forceinline__ float crop_value(float v, float) { return v; }

/* x: (n, chw) of T, y: (n, chw) f32, id: (n) i32; blockIdx.y walks the images, blockIdx.x and the
 * threads the values of one image, so each thread draws an image's words once */
template <typename T>
__global__ void crop_flip_kernel(const T *x, const int32_t *id, float *y, int64_t n, int64_t h, int64_t w,
                                 int64_t chw, int pad, int flip, uint64_t seed, float s, const rft_bad_word *bad)
{
    if (rft_bad_set(bad)) return;
    for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
        const rft_philox4 r = rft_philox(seed, (uint64_t)id[i], 0);
        const int64_t oy = draw_below(r.v[0], 2 * (int64_t)pad + 1) - pad;
        const int64_t ox = draw_below(r.v[1], 2 * (int64_t)pad + 1) - pad;
        const bool flipped = flip && (r.v[2] >> 31);
        const T *xi = x + i * chw;
        float *yi = y + i * chw;
        for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < chw; e += (int64_t)blockDim.x * gridDim.x) {
            const int64_t col = e % w, t = e / w, row = t % h, plane = t / h;
            const int64_t sr = row + oy, sc = (flipped ? w - 1 - col : col) + ox;
            float v = 0.0f;
            if (sr >= 0 && sr < h && sc >= 0 && sc < w) v = crop_value(xi[(plane * h + sr) * w + sc], s);
            yi[e] = v;
        }
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

/* ids_d: the ids on the device; word NULL: they were checked on the host (nothing to read back) */
static int crop_flip_run(int pad, int flip, uint64_t seed, const rft_tensor *x, const int32_t *ids_d, rft_tensor *y,
                         rft_bad_word *bad, rft_bad_word *word)
{
    const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3], chw = c * h * w;
    RFT_CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof *bad, rft_cuda.stream));
    if (word) RFT_TRY(rft_cuda_range_check(ids_d, n, 0, (int64_t)INT32_MAX + 1, bad));
    if (chw > 0) {
        int64_t per = (chw + RFT_CUDA_THREADS - 1) / RFT_CUDA_THREADS, fill = ((int64_t)rft_cuda.sm_count * 8 + n - 1) / n;
        if (per > fill) per = fill;
        dim3 grid((unsigned)(per > 0 ? per : 1), (unsigned)(n < 65535 ? n : 65535));
        if (x->dtype == RFT_U8)                       /* s: the CPU's 1.0f / 255.0f, rounded once */
            RFT_LAUNCH((crop_flip_kernel<uint8_t>), grid, RFT_CUDA_THREADS, rft_u8(x), ids_d, rft_f32(y), n, h, w,
                       chw, pad, flip, seed, 1.0f / 255.0f, bad);
        else
            RFT_LAUNCH((crop_flip_kernel<float>), grid, RFT_CUDA_THREADS, rft_f32(x), ids_d, rft_f32(y), n, h, w,
                       chw, pad, flip, seed, 1.0f, bad);
    }
    if (!word) return RFT_OK;
    RFT_CUDA_CHECK(cudaMemcpyAsync(word, bad, sizeof *word, cudaMemcpyDeviceToHost, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaStreamSynchronize(rft_cuda.stream));
    return RFT_OK;
}

int rft_cuda_crop_flip(int pad, int flip, uint64_t seed, const rft_tensor *x, const rft_tensor *ids, rft_tensor *y)
{
    const int64_t n = x->shape[0];
    if (n == 0) return RFT_OK;
    void *scratch;
    if (ids->device == RFT_CPU) {                 /* checked by librft: sent along, nothing read back */
        const size_t off = rft_align256(sizeof(rft_bad_word)), bytes = (size_t)n * sizeof(int32_t);
        RFT_TRY(rft_cuda_block(off + bytes, &scratch));
        int32_t *ids_d = (int32_t *)((char *)scratch + off);
        int rc = rft_cuda_copy(ids_d, RFT_CUDA, rft_i32(ids), RFT_CPU, bytes);
        if (rc == RFT_OK) rc = crop_flip_run(pad, flip, seed, x, ids_d, y, (rft_bad_word *)scratch, NULL);
        rft_cuda_free(scratch);                   /* stream order keeps it alive for the kernel */
        return rc;
    }
    RFT_TRY(rft_cuda_block(sizeof(rft_bad_word), &scratch));
    rft_bad_word word = 0;
    int rc = crop_flip_run(pad, flip, seed, x, rft_i32(ids), y, (rft_bad_word *)scratch, &word);
    rft_cuda_free(scratch);
    RFT_TRY(rc);
    if (word) {
        int64_t i;
        int32_t v;
        RFT_TRY(rft_cuda_bad_value(word, rft_i32(ids), n, &i, &v));
        return rft_fail(RFT_EARG, "crop_flip: ids[%lld] = %d, expected a dataset index >= 0", (long long)i, v);
    }
    return RFT_OK;
}
