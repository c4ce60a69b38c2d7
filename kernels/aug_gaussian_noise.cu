/* aug_gaussian_noise.cu: the CUDA twin of engine/aug/gaussian_noise.c: additive Gaussian noise,
 * y = clip(x + (mean + sigma·z)), z standard normal per value (DESIGN.md §4, GN), mean and sigma
 * per image or one for all.
 *
 * Draws: value e of image id takes z = rft_aug_normal_at(seed, id << 32 | stream, e) (aug_math.h):
 * tiles of 1024 values on 256 consecutive Philox blocks. One thread per Philox block: block i of
 * tile T gives, by Box-Muller on words (0,1) and (2,3), the values 1024T + i, + 256, + 512, + 768,
 * so consecutive threads read and write consecutive values.
 *
 * Exactness: Philox is integer arithmetic, and the polynomial log and sin/cos of aug_math.h are
 * rounded step by step (never fused), sqrtf is correctly rounded: the noise, and so the output,
 * is the CPU's bit for bit.
 *
 * Not here: argument checks (librft).
 */
#include "aug_cuda.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

enum { TILE_VALUES = 4 * RFT_AUG_TILE };

/* x, y: (N, per) f32, y may be x; ids: (N) or NULL; mean, sigma: 1 or N values. Work item t =
   (image n, Philox block b of that image), blocks_per_image = tiles · RFT_AUG_TILE. */
__global__ void aug_noise_kernel(uint64_t seed, uint32_t stream, const int32_t *ids, rft_aug_pf mean,
                                 rft_aug_pf sigma, const float *x, float *y, int64_t per, int64_t blocks_per_image,
                                 int64_t total)
{
    for (int64_t t = aug_first(); t < total; t += aug_stride()) {
        int64_t n = t / blocks_per_image, b = t % blocks_per_image;
        int64_t e0 = b / RFT_AUG_TILE * TILE_VALUES + b % RFT_AUG_TILE;   /* value of pair k = 0 */
        rft_philox4 r = rft_philox(seed, rft_aug_stream(aug_id_at(ids, n), stream), (uint64_t)b);
        float z[4];
        rft_aug_box_muller(r.v[0], r.v[1], &z[0], &z[1]);
        rft_aug_box_muller(r.v[2], r.v[3], &z[2], &z[3]);
        float mu = rft_aug_get(mean, n), sd = rft_aug_get(sigma, n);
        const float *a = x + n * per;
        float *o = y + n * per;
        for (int k = 0; k < 4; k++) {
            int64_t e = e0 + k * RFT_AUG_TILE;
            if (e < per) o[e] = rft_aug_noise_px(a[e], z[k], mu, sd);
        }
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_aug_gaussian_noise(uint64_t seed, uint32_t stream, const rft_tensor *ids, const rft_tensor *mean,
                                const rft_tensor *sigma, const rft_tensor *x, rft_tensor *y)
{
    int64_t N = x->shape[0], per = N ? x->numel / N : 0;
    if (per == 0) return RFT_OK;
    int64_t blocks_per_image = (per + TILE_VALUES - 1) / TILE_VALUES * RFT_AUG_TILE, total = N * blocks_per_image;
    RFT_LAUNCH(aug_noise_kernel, rft_cuda_blocks(total), RFT_CUDA_THREADS, seed, stream, aug_ids(ids),
               aug_param(mean), aug_param(sigma), rft_f32(x), rft_f32(y), per, blocks_per_image, total);
    return RFT_OK;
}
