/* aug_cuda.cuh: what the augmentation kernels of the CUDA backend (kernels/aug_*.cu) share: the
 * per-pixel formulas of engine/aug/aug_math.h (the same host-device functions the CPU loops call,
 * so that a seed gives the same distorted images on both devices), a parameter tensor as the
 * kernels read it, and the image id of row n.
 *
 * Arguments reach the launchers checked by librft (engine/aug/<name>.c) and y resized, with one caveat:
 * parameter values that live on the device were not read on the host, so the kernels never index
 * memory with them unchecked (see aug_gaussian_blur.cu). Not here: any kernel.
 */
#ifndef RFT_AUG_CUDA_CUH
#define RFT_AUG_CUDA_CUH
#include "cuda_util.h"
#include "aug/aug_math.h"

/* A parameter tensor (f32, 1 value or one per image, on the device) as rft_aug_get reads it. */
static inline rft_aug_pf aug_param(const rft_tensor *t)
{
    rft_aug_pf p = { rft_f32(t), t->numel != 1 };
    return p;
}

/* ids: (N) i32 on the device, or NULL for 0..N-1 */
static inline const int32_t *aug_ids(const rft_tensor *ids) { return ids ? rft_i32(ids) : NULL; }
__device__ __forceinline__ int32_t aug_id_at(const int32_t *ids, int64_t n) { return ids ? ids[n] : (int32_t)n; }

/* The first index of this thread in a grid-stride loop, and the stride. */
__device__ __forceinline__ int64_t aug_first() { return blockIdx.x * (int64_t)blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t aug_stride() { return (int64_t)blockDim.x * gridDim.x; }

#endif
