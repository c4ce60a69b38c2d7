/* aug_math.h: the per-pixel and per-element formulas of the augmentation kernels (DESIGN.md §4), as
 * inline functions that both the C compiler and nvcc build (like engine/philox.h), so that the CPU
 * loops of engine/aug and the CUDA kernels compute the same numbers from the same (seed, image id,
 * element). Not here: argument checking, threads, memory (the .c files of engine/aug).
 *
 * Randomness. Every draw is Philox-4x32-10 keyed by the 64-bit seed, with the 64-bit stream
 * (image id << 32 | tag): the tag names the pipeline step and the purpose (kernel elements or one
 * parameter), so a distorted image depends only on (seed, id, tag, element), never on the batch.
 * Draws come in tiles of 256 consecutive Philox blocks, block i of a tile serving draws i, i+256,
 * i+512, ... of it, so that a CPU loop or a warp reads and writes consecutive memory:
 *   normal noise   value e of an image: tile e/1024, j = e%1024, block 256·tile + j%256, pair
 *                  k = j/256: Box-Muller on words (0,1) for k = 0, 1 (r·cos θ, r·sin θ) and (2,3)
 *                  for k = 2, 3, r = sqrt(-2 ln u1), θ = 2π u2, with the polynomial log and sin/cos
 *                  below (branch-free, within a few ulps, the same on every device).
 *   salt-pepper    value (or pixel) e: tile e/512, j = e%512, block 256·tile + j%256, words
 *                  2(j/256) for the mask m (u <= p) and 2(j/256)+1 for the sign b (u <= q).
 *   parameters     per image: block k = draw attempt k (truncated normals redraw).
 * u = ((w >> 8) + 1) / 2^24 in (0, 1], as in philox.h.
 */
#ifndef RFT_AUG_MATH_H
#define RFT_AUG_MATH_H
#include "philox.h"
#include <stdint.h>
#include <string.h>

/* Border modes of rft.h (RFT_BORDER_*), repeated here so that nvcc needs no rft.h. */
enum { RFT_AUG_REFLECT101 = 0, RFT_AUG_REFLECT = 1, RFT_AUG_REPLICATE = 2, RFT_AUG_CONSTANT = 3,
       RFT_AUG_WRAP = 4 };

RFT_HD float rft_aug_clip(float v) { v = v < 0.0f ? 0.0f : v; return v > 1.0f ? 1.0f : v; }

/* A parameter resolved for a kernel: one value for every image (per_image = 0) or one per image. */
typedef struct { const float *v; int per_image; } rft_aug_pf;
RFT_HD float rft_aug_get(rft_aug_pf p, int64_t n) { return p.v[p.per_image ? n : 0]; }

RFT_HD uint64_t rft_aug_stream(int32_t id, uint32_t tag) { return (uint64_t)(uint32_t)id << 32 | tag; }

/* Index i of a line of n values under a border mode; -1 for "outside" (RFT_AUG_CONSTANT).
   reflect-101: c b | a b c d (edge not repeated); reflect: b a | a b c d; replicate: a a | a b c d;
   wrap: c d | a b c d. Any i works (repeated reflection for far-away indices). */
RFT_HD int64_t rft_aug_border(int64_t i, int64_t n, int mode)
{
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case RFT_AUG_CONSTANT: return -1;
    case RFT_AUG_REPLICATE: return i < 0 ? 0 : n - 1;
    case RFT_AUG_WRAP: { int64_t r = i % n; return r < 0 ? r + n : r; }
    case RFT_AUG_REFLECT: {
        int64_t period = 2 * n, r = i % period;
        if (r < 0) r += period;
        return r < n ? r : period - 1 - r;
    }
    default: {                                         /* reflect-101 */
        if (n == 1) return 0;
        int64_t period = 2 * n - 2, r = i % period;
        if (r < 0) r += period;
        return r < n ? r : period - r;
    }
    }
}

/* ---- photometric formulas ---------------------------------------------------------------- */

/* HSL saturation scaled by alpha, H and L kept (DESIGN §4): c <- L + k (c - L), L = (max+min)/2,
   S = (max-min) / (1 - |2L - 1|), k = min(alpha, 1/S) (where S = 0 every c equals L, so k does not
   matter). */
RFT_HD void rft_aug_saturate(float alpha, float *r, float *g, float *b)
{
    float R = *r, G = *g, B = *b;
    float mx = R > G ? R : G, mn = R < G ? R : G;
    mx = mx > B ? mx : B; mn = mn < B ? mn : B;
    float L = 0.5f * (mx + mn), chroma = mx - mn;
    float den = 1.0f - fabsf(2.0f * L - 1.0f);
    /* cap = 1/S = den/chroma where chroma > 0; den/1 where it is 0 (then c = L and k does not
       matter). The selects are done on bits: as float selects, the compiler would move the division
       under a branch and stop vectorising. */
    uint32_t cb, ab, kb;
    memcpy(&cb, &chroma, 4);
    cb |= (0u - (uint32_t)(cb == 0)) & 0x3f800000u;
    float safe, k;
    memcpy(&safe, &cb, 4);
    float cap = den / safe;
    memcpy(&ab, &alpha, 4);
    memcpy(&kb, &cap, 4);
    uint32_t use_cap = 0u - (uint32_t)(alpha > cap);         /* k = min(alpha, 1/S) */
    kb = (kb & use_cap) | (ab & ~use_cap);
    memcpy(&k, &kb, 4);
    *r = rft_aug_clip(L + k * (R - L));
    *g = rft_aug_clip(L + k * (G - L));
    *b = rft_aug_clip(L + k * (B - L));
}

/* The normalised 1-D Gaussian of odd size s (radius s/2): w[u] = exp(-u²/2σ²) / Σ; the 2-D kernel
   of DESIGN §4 is its outer product. σ = 0 gives the identity. w has s values. */
RFT_HD void rft_aug_gauss_weights(int size, float sigma, float *w)
{
    int r = size / 2;
    float sum = 0.0f;
    for (int u = -r; u <= r; u++) {
        float v = sigma > 0.0f ? expf(-(float)(u * u) / (2.0f * sigma * sigma)) : (u == 0 ? 1.0f : 0.0f);
        w[u + r] = v;
        sum += v;
    }
    for (int u = 0; u < size; u++) w[u] /= sum;
}

/* Bilinear interpolation between the four taps around a point, at fractions (ax, ay). */
RFT_HD float rft_aug_lerp2(float v00, float v01, float v10, float v11, float ax, float ay)
{
    float top = v00 + ax * (v01 - v00), bot = v10 + ax * (v11 - v10);
    return top + ay * (bot - top);
}

/* Where a source coordinate falls: cell index i0 = floor(s) and fraction s - i0. Coordinates beyond
   ±2^23 are pulled in (every border mode reads there what it reads at the limit's cell, or close),
   so the index always fits. */
RFT_HD int64_t rft_aug_cell(float s, float *frac)
{
    s = s < -8388608.0f ? -8388608.0f : s > 8388608.0f ? 8388608.0f : s;
    float f = floorf(s);
    *frac = s - f;
    return (int64_t)f;
}

/* Bilinear sample of one plane at (xs, ys) (column, row; pixel centres at integers) under a
   border mode; RFT_AUG_CONSTANT reads zeros outside. */
RFT_HD float rft_aug_bilinear(const float *plane, int64_t H, int64_t W, float xs, float ys, int border)
{
    float ax, ay;
    int64_t x0 = rft_aug_cell(xs, &ax), y0 = rft_aug_cell(ys, &ay);
    int64_t xa = rft_aug_border(x0, W, border), xb = rft_aug_border(x0 + 1, W, border);
    int64_t ya = rft_aug_border(y0, H, border), yb = rft_aug_border(y0 + 1, H, border);
    float v00 = (ya >= 0 && xa >= 0) ? plane[ya * W + xa] : 0.0f;
    float v01 = (ya >= 0 && xb >= 0) ? plane[ya * W + xb] : 0.0f;
    float v10 = (yb >= 0 && xa >= 0) ? plane[yb * W + xa] : 0.0f;
    float v11 = (yb >= 0 && xb >= 0) ? plane[yb * W + xb] : 0.0f;
    return rft_aug_lerp2(v00, v01, v10, v11, ax, ay);
}

/* ---- random numbers -------------------------------------------------------------------- */

/* ln u for u in (0, 1]: u = m·2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s), s = (m-1)/(m+1),
   |s| <= 0.1716, series to s^9 (error < 4e-10 before rounding). Integer selects, no branches, so
   that loops over it vectorise. */
RFT_HD float rft_aug_log(float u)
{
    uint32_t b;
    memcpy(&b, &u, 4);
    uint32_t mb = (b & 0x007fffffu) | 0x3f800000u;     /* m in [1, 2) */
    uint32_t big = mb > 0x3fb504f3u;                   /* m > sqrt(2): use m/2, e+1 */
    mb -= big << 23;
    int32_t e = (int32_t)((b >> 23) & 0xff) - 127 + (int32_t)big;
    float m;
    memcpy(&m, &mb, 4);
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float p = 1.0f + s2 * (0.33333333f + s2 * (0.2f + s2 * (0.14285714f + s2 * 0.11111111f)));
    return (float)e * 0.69314718f + 2.0f * s * p;
}

/* cos 2πt and sin 2πt for t in (0, 1]: quadrant q = round(4t), r = 2π(t - q/4) in [-π/4, π/4],
   Taylor series to r^8 / r^9 (error < 4e-8), then turned by q quarter turns with bit selects. */
RFT_HD void rft_aug_sincos2pi(float t, float *s, float *c)
{
    int32_t qi = (int32_t)(4.0f * t + 0.5f);           /* floor: the argument is positive */
    float r = 6.28318531f * (t - 0.25f * (float)qi), r2 = r * r;
    float sr = r * (1.0f - r2 * (1.0f / 6) * (1.0f - r2 * (1.0f / 20) * (1.0f - r2 * (1.0f / 42) * (1.0f - r2 * (1.0f / 72)))));
    float cr = 1.0f - r2 * 0.5f * (1.0f - r2 * (1.0f / 12) * (1.0f - r2 * (1.0f / 30) * (1.0f - r2 * (1.0f / 56))));
    uint32_t q = (uint32_t)qi, sb, cb;
    memcpy(&sb, &sr, 4);
    memcpy(&cb, &cr, 4);
    uint32_t odd = 0u - (q & 1u);                      /* all ones in quadrants 1 and 3 */
    uint32_t sv = (sb & ~odd) | (cb & odd), cv = (cb & ~odd) | (sb & odd);
    sv ^= (q & 2u) << 30;                              /* sin: -, - in quadrants 2, 3 */
    cv ^= ((q + 1u) & 2u) << 30;                       /* cos: -, - in quadrants 1, 2 */
    memcpy(s, &sv, 4);
    memcpy(c, &cv, 4);
}

/* Two standard normals from two 32-bit words (Box-Muller). */
RFT_HD void rft_aug_box_muller(uint32_t w1, uint32_t w2, float *z0, float *z1)
{
    float u1 = rft_u32_to_unit(w1), u2 = rft_u32_to_unit(w2);
    float r = sqrtf(-2.0f * rft_aug_log(u1)), s, c;
    rft_aug_sincos2pi(u2, &s, &c);
    *z0 = r * c; *z1 = r * s;
}

enum { RFT_AUG_TILE = 256 };           /* Philox blocks per tile */

/* Value e of an image's normal-noise stream, computed alone (the kernels do a tile at a time). */
RFT_HD float rft_aug_normal_at(uint64_t seed, uint64_t stream, uint64_t e)
{
    uint64_t j = e % (4 * RFT_AUG_TILE), k = j / RFT_AUG_TILE;
    rft_philox4 r = rft_philox(seed, stream, e / (4 * RFT_AUG_TILE) * RFT_AUG_TILE + j % RFT_AUG_TILE);
    float z0, z1;
    rft_aug_box_muller(r.v[2 * (k >> 1)], r.v[2 * (k >> 1) + 1], &z0, &z1);
    return (k & 1) ? z1 : z0;
}

/* The words (mask, sign) of salt-and-pepper draw e of an image, computed alone. */
RFT_HD void rft_aug_sap_words(uint64_t seed, uint64_t stream, uint64_t e, uint32_t *wm, uint32_t *wb)
{
    uint64_t j = e % (2 * RFT_AUG_TILE), k = j / RFT_AUG_TILE;
    rft_philox4 r = rft_philox(seed, stream, e / (2 * RFT_AUG_TILE) * RFT_AUG_TILE + j % RFT_AUG_TILE);
    *wm = r.v[2 * k];
    *wb = r.v[2 * k + 1];
}

/* Salt-and-pepper of one value: x + rho·m·(2b - 1), m from word wm (u <= p), b from word wb (u <= q). */
RFT_HD float rft_aug_sap(float x, uint32_t wm, uint32_t wb, float p, float q, float rho)
{
    float m = rft_u32_to_unit(wm) <= p ? 1.0f : 0.0f;
    float sgn = rft_u32_to_unit(wb) <= q ? 1.0f : -1.0f;
    return rft_aug_clip(x + rho * m * sgn);
}

/* Truncated normal on [a, b]: centre (a+b)/2, σ = (b-a)/4, redrawn until inside (attempt k uses
   Philox block k, words 0 and 1); after 64 misses (probability 0.0455^64) the centre. */
RFT_HD float rft_aug_truncnormal(uint64_t seed, uint64_t stream, float a, float b)
{
    float mid = 0.5f * (a + b), sd = 0.25f * (b - a);
    for (uint64_t k = 0; k < 64; k++) {
        rft_philox4 r = rft_philox(seed, stream, k);
        float z0, z1;
        rft_aug_box_muller(r.v[0], r.v[1], &z0, &z1);
        float v = mid + sd * z0;
        if (v >= a && v <= b) return v;
    }
    return mid;
}

#endif
