/* gaussian_noise.c: additive Gaussian noise, y = clip(x + n), n = mean + sigma·z, z standard normal
 * per value (DESIGN.md §4, GN; paper Table 1: sigma = 0.075 on CIFAR-10). z for element e of image
 * id is rft_aug_normal_at(seed, id << 32 | stream, e) (aug_math.h): the kernel computes the same
 * numbers a tile of 1024 at a time from 256 consecutive Philox blocks. */
#include "aug_cpu.h"

int rft_aug_gaussian_noise(uint64_t seed, uint32_t stream, const rft_tensor *ids, const rft_tensor *mean,
                           const rft_tensor *sigma, const rft_tensor *x, rft_tensor *y)
{
    static const char *op = "aug_gaussian_noise";
    RFT_TRY(aug_check_io(op, x, y, false, true));
    RFT_TRY(aug_check_ids(op, ids, x->shape[0], x));
    RFT_TRY(aug_check_param(op, "mean", mean, x, -INFINITY, INFINITY, false));
    RFT_TRY(aug_check_param(op, "sigma", sigma, x, 0, INFINITY, false));
    RFT_DISPATCH(op, x, aug_gaussian_noise, seed, stream, ids, mean, sigma, x, y);
}

enum { CHUNK = 4 * RFT_AUG_TILE };      /* values per piece of work: one tile */

/* Values e0 .. e0+len-1 of one image (e0 a multiple of CHUNK), a: input, b: output. */
AUG_CLONES static void noise_piece(uint64_t seed, uint64_t stream, int64_t e0, int len, float mean, float sd,
                                   const float *a, float *b)
{
    uint32_t w[4][AUG_LANES];
    float r[2][AUG_LANES], z[4][AUG_LANES];
    int nb = len < AUG_LANES ? len : AUG_LANES;
    aug_philox_lanes(seed, stream, (uint64_t)e0 / 4, nb, w);
    /* rft_aug_box_muller in three loops: sqrtf (with its errno branch) stays out of the two that
       vectorise */
    for (int i = 0; i < nb; i++) {
        r[0][i] = -2.0f * rft_aug_log(rft_u32_to_unit(w[0][i]));
        r[1][i] = -2.0f * rft_aug_log(rft_u32_to_unit(w[2][i]));
    }
    for (int i = 0; i < nb; i++) { r[0][i] = sqrtf(r[0][i]); r[1][i] = sqrtf(r[1][i]); }
    for (int i = 0; i < nb; i++) {
        float s, c;
        rft_aug_sincos2pi(rft_u32_to_unit(w[1][i]), &s, &c);
        z[0][i] = r[0][i] * c; z[1][i] = r[0][i] * s;
        rft_aug_sincos2pi(rft_u32_to_unit(w[3][i]), &s, &c);
        z[2][i] = r[1][i] * c; z[3][i] = r[1][i] * s;
    }
    const float *zf = &z[0][0];          /* value j of the tile is z[j / 256][j % 256] */
    for (int j = 0; j < len; j++) b[j] = rft_aug_noise_px(a[j], zf[j], mean, sd);
}

int rft_cpu_aug_gaussian_noise(uint64_t seed, uint32_t stream, const rft_tensor *ids, const rft_tensor *mean,
                               const rft_tensor *sigma, const rft_tensor *x, rft_tensor *y)
{
    int64_t N = x->shape[0], per = N ? x->numel / N : 0, pieces = (per + CHUNK - 1) / CHUNK;
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    rft_aug_pf mu = aug_pf(mean), sd = aug_pf(sigma);
    /* x, y: (N, C*H*W values), cut into pieces of CHUNK values */
    #pragma omp parallel for schedule(static) if (x->numel > RFT_PAR_MIN / 8)
    for (int64_t t = 0; t < N * pieces; t++) {
        int64_t n = t / pieces, e0 = (t % pieces) * CHUNK;
        int len = (int)(per - e0 < CHUNK ? per - e0 : CHUNK);
        noise_piece(seed, rft_aug_stream(aug_id(ids, n), stream), e0, len, rft_aug_get(mu, n),
                    rft_aug_get(sd, n), xs + n * per + e0, ys + n * per + e0);
    }
    return RFT_OK;
}
