/* aug_salt_pepper.cu: the CUDA twin of engine/aug/salt_pepper.c: additive salt-and-pepper,
 * y = clip(x + rho·m·(2b - 1)), m ~ Bernoulli(p), b ~ Bernoulli(q) (DESIGN.md §4, SAP); p, q, rho
 * per image or one for all. Per value by default; per pixel (per_pixel = 1) draw e is pixel e
 * (h·W + w) and all its channels share it.
 *
 * Draws: draw e of image id takes (m, b) from rft_aug_sap_words(seed, id << 32 | stream, e): tiles of
 * 512 draws on 256 consecutive Philox blocks. One thread per Philox block: block i of tile T gives
 * draws 512T + i (words 0, 1) and 512T + 256 + i (words 2, 3).
 *
 * Exactness: the words are integers, u = ((w >> 8) + 1) / 2^24 is exact, so the masks and signs
 * (u <= p, u <= q) are the CPU's; rho·m·(2b - 1) and the sum are rounded as there: bit for bit.
 *
 * Not here: argument checks (librft).
 */
#include "aug_cuda.cuh"

/* ---- kernels -------------------------------------------------------------------------------- */

enum { TILE_DRAWS = 2 * RFT_AUG_TILE };

/* x, y: (N, per) f32 (per = C·hw), y may be x; ids: (N) or NULL; p, q, rho: 1 or N values. draws
   per image: per (per value) or hw (per pixel, applied to `planes` = C planes of stride hw). Work
   item t = (image n, Philox block b of that image). */
__global__ void aug_sap_kernel(uint64_t seed, uint32_t stream, const int32_t *ids, rft_aug_pf p, rft_aug_pf q,
                               rft_aug_pf rho, const float *x, float *y, int64_t per, int64_t draws, int64_t planes,
                               int64_t hw, int64_t blocks_per_image, int64_t total)
{
    for (int64_t t = aug_first(); t < total; t += aug_stride()) {
        int64_t n = t / blocks_per_image, b = t % blocks_per_image;
        int64_t e0 = b / RFT_AUG_TILE * TILE_DRAWS + b % RFT_AUG_TILE;    /* draw of words 0, 1 */
        rft_philox4 r = rft_philox(seed, rft_aug_stream(aug_id_at(ids, n), stream), (uint64_t)b);
        float pv = rft_aug_get(p, n), qv = rft_aug_get(q, n), rv = rft_aug_get(rho, n);
        const float *a = x + n * per;
        float *o = y + n * per;
        for (int k = 0; k < 2; k++) {
            int64_t e = e0 + k * RFT_AUG_TILE;
            if (e >= draws) break;
            float add = rft_aug_sap_add(r.v[2 * k], r.v[2 * k + 1], pv, qv, rv);
            for (int64_t c = 0; c < planes; c++) o[c * hw + e] = rft_aug_sap(a[c * hw + e], add);
        }
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_aug_salt_pepper(int per_pixel, uint64_t seed, uint32_t stream, const rft_tensor *ids,
                             const rft_tensor *p, const rft_tensor *q, const rft_tensor *rho, const rft_tensor *x,
                             rft_tensor *y)
{
    int64_t N = x->shape[0], per = N ? x->numel / N : 0, hw = x->shape[2] * x->shape[3];
    int64_t draws = per_pixel ? hw : per, planes = per_pixel ? x->shape[1] : 1;
    if (per == 0) return RFT_OK;
    int64_t blocks_per_image = (draws + TILE_DRAWS - 1) / TILE_DRAWS * RFT_AUG_TILE, total = N * blocks_per_image;
    RFT_LAUNCH(aug_sap_kernel, rft_cuda_blocks(total), RFT_CUDA_THREADS, seed, stream, aug_ids(ids), aug_param(p),
               aug_param(q), aug_param(rho), rft_f32(x), rft_f32(y), per, draws, planes, hw, blocks_per_image,
               total);
    return RFT_OK;
}
