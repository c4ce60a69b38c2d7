/* salt_pepper.c: additive salt-and-pepper, y = clip(x + rho·m·(2b - 1)), m ~ Bernoulli(p),
 * b ~ Bernoulli(q) (DESIGN.md §4, SAP; paper Table 1: p = 0.025, q = 0.5, rho = 0.5 on CIFAR-10).
 * Per value by default: value e of image id takes m, b from rft_aug_sap_words(seed, id << 32 |
 * stream, e) (aug_math.h; tiles of 512 draws on 256 Philox blocks). Per pixel (option): pixel e
 * (h·W + w) draws the same way and all its channels share (m, b). */
#include "aug_cpu.h"

int rft_aug_salt_pepper(int per_pixel, uint64_t seed, uint32_t stream, const rft_tensor *ids,
                        const rft_tensor *p, const rft_tensor *q, const rft_tensor *rho, const rft_tensor *x,
                        rft_tensor *y)
{
    static const char *op = "aug_salt_pepper";
    RFT_TRY(aug_check_io(op, x, y, false, true));
    if (per_pixel != 0 && per_pixel != 1)
        return rft_fail(RFT_EARG, "%s: per_pixel = %d, expected 0 (per value) or 1 (per pixel)", op, per_pixel);
    RFT_TRY(aug_check_ids(op, ids, x->shape[0], x));
    RFT_TRY(aug_check_param(op, "p", p, x, 0, 1, false));
    RFT_TRY(aug_check_param(op, "q", q, x, 0, 1, false));
    RFT_TRY(aug_check_param(op, "rho", rho, x, -INFINITY, INFINITY, false));
    RFT_DISPATCH(op, x, aug_salt_pepper, per_pixel, seed, stream, ids, p, q, rho, x, y);
}

enum { CHUNK = 2 * RFT_AUG_TILE };      /* draws per piece of work: one tile */

/* Draws e0 .. e0+len-1 (e0 a multiple of CHUNK) applied to `planes` planes of stride hw (1 plane
   per value, C per pixel). */
AUG_CLONES static void sap_piece(uint64_t seed, uint64_t stream, int64_t e0, int len, int64_t planes, int64_t hw,
                                 float p, float q, float rho, const float *a, float *b)
{
    uint32_t w[4][AUG_LANES];
    float add[2][AUG_LANES];
    int nb = len < AUG_LANES ? len : AUG_LANES;
    aug_philox_lanes(seed, stream, (uint64_t)e0 / 2, nb, w);
    /* rho·m·(2b - 1), computed once per draw */
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < nb; i++) add[k][i] = rft_aug_sap_add(w[2 * k][i], w[2 * k + 1][i], p, q, rho);
    const float *af = &add[0][0];        /* draw j of the tile is add[j / 256][j % 256] */
    for (int64_t c = 0; c < planes; c++)
        for (int j = 0; j < len; j++) b[c * hw + j] = rft_aug_sap(a[c * hw + j], af[j]);
}

int rft_cpu_aug_salt_pepper(int per_pixel, uint64_t seed, uint32_t stream, const rft_tensor *ids,
                            const rft_tensor *p, const rft_tensor *q, const rft_tensor *rho, const rft_tensor *x,
                            rft_tensor *y)
{
    int64_t N = x->shape[0], per = N ? x->numel / N : 0, hw = x->shape[2] * x->shape[3];
    int64_t draws = per_pixel ? hw : per, planes = per_pixel ? x->shape[1] : 1;
    int64_t pieces = (draws + CHUNK - 1) / CHUNK;
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    rft_aug_pf pp = aug_pf(p), qq = aug_pf(q), rr = aug_pf(rho);
    /* x, y: (N, C*H*W values); draws cut into pieces of CHUNK */
    #pragma omp parallel for schedule(static) if (x->numel > RFT_PAR_MIN / 8)
    for (int64_t t = 0; t < N * pieces; t++) {
        int64_t n = t / pieces, e0 = (t % pieces) * CHUNK;
        int len = (int)(draws - e0 < CHUNK ? draws - e0 : CHUNK);
        sap_piece(seed, rft_aug_stream(aug_id(ids, n), stream), e0, len, planes, hw, rft_aug_get(pp, n),
                  rft_aug_get(qq, n), rft_aug_get(rr, n), xs + n * per + e0, ys + n * per + e0);
    }
    return RFT_OK;
}
