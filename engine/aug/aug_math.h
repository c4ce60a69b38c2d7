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
 *
 * Rounding. Every product and sum below is rounded on its own, as the C compiler does here (-std=c11
 * implies -ffp-contract=off). nvcc would fuse a*b + c into one FMA by default, so the formulas write
 * the operations that a fusion could change with rft_aug_mul / _add / _sub, which are __fmul_rn /
 * __fadd_rn / __fsub_rn on the device (never fused) and the plain operators in C: a formula then gives
 * the same float on both devices wherever it uses only these, division, sqrtf, floorf and fabsf
 * (all correctly rounded on both). The one library function left is e^x of the blur weights
 * (rft_aug_expf), nearly always correctly rounded on both devices but not guaranteed the same.
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

/* a*b, a+b, a-b, each rounded once and never fused into an FMA (see "Rounding" above). */
#ifdef __CUDA_ARCH__
RFT_HD float rft_aug_mul(float a, float b) { return __fmul_rn(a, b); }
RFT_HD float rft_aug_add(float a, float b) { return __fadd_rn(a, b); }
RFT_HD float rft_aug_sub(float a, float b) { return __fsub_rn(a, b); }
#else
RFT_HD float rft_aug_mul(float a, float b) { return a * b; }
RFT_HD float rft_aug_add(float a, float b) { return a + b; }
RFT_HD float rft_aug_sub(float a, float b) { return a - b; }
#endif
/* s + w·v with two roundings: one tap of a blur sum. */
RFT_HD float rft_aug_tap(float s, float w, float v) { return rft_aug_add(s, rft_aug_mul(w, v)); }

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

/* Brightness (B+ / B-): clip(x + delta). */
RFT_HD float rft_aug_brightness_px(float x, float delta) { return rft_aug_clip(x + delta); }

/* Contrast about a channel's mean m: clip((x - m)·gamma + m). */
RFT_HD float rft_aug_contrast_px(float x, float m, float gamma)
{
    return rft_aug_clip(rft_aug_add(rft_aug_mul(x - m, gamma), m));
}

/* The mean of a plane of hw values, in a fixed order that a CPU loop vectorises and a GPU splits
   over RFT_AUG_MEAN_LANES threads: lane k sums values k, k + 8, k + 16, ... of the first
   hw - hw % 8 in float, from 0, in that order (part[k]); then the lanes k = 0..7 and the last
   hw % 8 values are added in double, and the sum divided by hw. */
enum { RFT_AUG_MEAN_LANES = 8 };
RFT_HD float rft_aug_mean_finish(const float part[RFT_AUG_MEAN_LANES], const float *a, int64_t hw)
{
    double sum = 0;
    for (int k = 0; k < RFT_AUG_MEAN_LANES; k++) sum += part[k];
    for (int64_t i = hw - hw % RFT_AUG_MEAN_LANES; i < hw; i++) sum += a[i];
    return hw ? (float)(sum / (double)hw) : 0.0f;
}

/* Gaussian noise (GN) of one value: clip(x + (mean + sd·z)), z standard normal. */
RFT_HD float rft_aug_noise_px(float x, float z, float mean, float sd)
{
    return rft_aug_clip(x + rft_aug_add(mean, rft_aug_mul(sd, z)));
}

/* HSL saturation scaled by alpha, H and L kept (DESIGN §4): c <- L + k (c - L), L = (max+min)/2,
   S = (max-min) / (1 - |2L - 1|), k = min(alpha, 1/S) (where S = 0 every c equals L, so k does not
   matter). */
RFT_HD void rft_aug_saturate(float alpha, float *r, float *g, float *b)
{
    float R = *r, G = *g, B = *b;
    float mx = R > G ? R : G, mn = R < G ? R : G;
    mx = mx > B ? mx : B; mn = mn < B ? mn : B;
    float L = rft_aug_mul(0.5f, mx + mn), chroma = mx - mn;
    float den = 1.0f - fabsf(rft_aug_sub(rft_aug_mul(2.0f, L), 1.0f));
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
    *r = rft_aug_clip(rft_aug_add(L, rft_aug_mul(k, R - L)));
    *g = rft_aug_clip(rft_aug_add(L, rft_aug_mul(k, G - L)));
    *b = rft_aug_clip(rft_aug_add(L, rft_aug_mul(k, B - L)));
}

/* e^a in float. The C library's expf on the CPU (glibc's: computed in double, within 0.502 ulp);
   on the device exp in double (within 1 ulp of double) rounded once to float, so that both are the
   correctly rounded value except where e^a lies within about 2^-29 of a rounding boundary, rather
   than CUDA's expf, which is within 2 ulp. */
RFT_HD float rft_aug_expf(float a)
{
#ifdef __CUDA_ARCH__
    return (float)exp((double)a);
#else
    return expf(a);
#endif
}

/* The normalised 1-D Gaussian of odd size s (radius s/2): w[u] = exp(-u²/2σ²) / Σ; the 2-D kernel
   of DESIGN §4 is its outer product. σ = 0 gives the identity. w has s values. */
RFT_HD void rft_aug_gauss_weights(int size, float sigma, float *w)
{
    int r = size / 2;
    float sum = 0.0f;
    for (int u = -r; u <= r; u++) {
        float v = sigma > 0.0f ? rft_aug_expf(-(float)(u * u) / (2.0f * sigma * sigma)) : (u == 0 ? 1.0f : 0.0f);
        w[u + r] = v;
        sum += v;
    }
    for (int u = 0; u < size; u++) w[u] /= sum;
}

/* Bilinear interpolation between the four taps around a point, at fractions (ax, ay). */
RFT_HD float rft_aug_lerp2(float v00, float v01, float v10, float v11, float ax, float ay)
{
    float top = rft_aug_add(v00, rft_aug_mul(ax, v01 - v00)), bot = rft_aug_add(v10, rft_aug_mul(ax, v11 - v10));
    return rft_aug_add(top, rft_aug_mul(ay, bot - top));
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

/* The source position (xs, ys) that output pixel (u, v) (column, row) of an affine warp reads:
   (m0 u + m1 v + m2, m3 u + m4 v + m5), m = theta of the image ({{a,b,c},{d,e,f}}). */
RFT_HD void rft_aug_affine_src(const float *m, int64_t u, int64_t v, float *xs, float *ys)
{
    float fu = (float)u, fv = (float)v;
    *xs = rft_aug_add(rft_aug_add(rft_aug_mul(m[0], fu), rft_aug_mul(m[1], fv)), m[2]);
    *ys = rft_aug_add(rft_aug_add(rft_aug_mul(m[3], fu), rft_aug_mul(m[4], fv)), m[5]);
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
    float p = rft_aug_add(0.14285714f, rft_aug_mul(s2, 0.11111111f));
    p = rft_aug_add(0.2f, rft_aug_mul(s2, p));
    p = rft_aug_add(0.33333333f, rft_aug_mul(s2, p));
    p = rft_aug_add(1.0f, rft_aug_mul(s2, p));
    return rft_aug_add(rft_aug_mul((float)e, 0.69314718f), rft_aug_mul(rft_aug_mul(2.0f, s), p));
}

/* cos 2πt and sin 2πt for t in (0, 1]: quadrant q = round(4t), r = 2π(t - q/4) in [-π/4, π/4],
   Taylor series to r^8 / r^9 (error < 4e-8), then turned by q quarter turns with bit selects. */
RFT_HD void rft_aug_sincos2pi(float t, float *s, float *c)
{
    int32_t qi = (int32_t)rft_aug_add(rft_aug_mul(4.0f, t), 0.5f);   /* floor: the argument is positive */
    float r = rft_aug_mul(6.28318531f, rft_aug_sub(t, rft_aug_mul(0.25f, (float)qi))), r2 = r * r;
    /* sr = r (1 - r²/6 (1 - r²/20 (1 - r²/42 (1 - r²/72)))), cr = 1 - r²/2 (1 - r²/12 (1 - ...)) */
    float sr = rft_aug_sub(1.0f, rft_aug_mul(r2, 1.0f / 72));
    sr = rft_aug_sub(1.0f, rft_aug_mul(rft_aug_mul(r2, 1.0f / 42), sr));
    sr = rft_aug_sub(1.0f, rft_aug_mul(rft_aug_mul(r2, 1.0f / 20), sr));
    sr = rft_aug_mul(r, rft_aug_sub(1.0f, rft_aug_mul(rft_aug_mul(r2, 1.0f / 6), sr)));
    float cr = rft_aug_sub(1.0f, rft_aug_mul(r2, 1.0f / 56));
    cr = rft_aug_sub(1.0f, rft_aug_mul(rft_aug_mul(r2, 1.0f / 30), cr));
    cr = rft_aug_sub(1.0f, rft_aug_mul(rft_aug_mul(r2, 1.0f / 12), cr));
    cr = rft_aug_sub(1.0f, rft_aug_mul(rft_aug_mul(r2, 0.5f), cr));
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

/* What salt-and-pepper adds for one draw: rho·m·(2b - 1), m from word wm (u <= p), b from word wb
   (u <= q). u is on the 2^-24 grid, so the comparisons (and the masks) are exact on every device. */
RFT_HD float rft_aug_sap_add(uint32_t wm, uint32_t wb, float p, float q, float rho)
{
    float m = rft_u32_to_unit(wm) <= p ? 1.0f : 0.0f;
    float sgn = rft_u32_to_unit(wb) <= q ? 1.0f : -1.0f;
    return rft_aug_mul(rft_aug_mul(rho, m), sgn);
}

/* Salt-and-pepper of one value: clip(x + add), add = rft_aug_sap_add of its draw. */
RFT_HD float rft_aug_sap(float x, float add) { return rft_aug_clip(x + add); }

/* Truncated normal on [a, b]: centre (a+b)/2, σ = (b-a)/4, redrawn until inside (attempt k uses
   Philox block k, words 0 and 1); after 64 misses (probability 0.0455^64) the centre. */
RFT_HD float rft_aug_truncnormal(uint64_t seed, uint64_t stream, float a, float b)
{
    float mid = 0.5f * (a + b), sd = 0.25f * (b - a);
    for (uint64_t k = 0; k < 64; k++) {
        rft_philox4 r = rft_philox(seed, stream, k);
        float z0, z1;
        rft_aug_box_muller(r.v[0], r.v[1], &z0, &z1);
        float v = rft_aug_add(mid, rft_aug_mul(sd, z0));
        if (v >= a && v <= b) return v;
    }
    return mid;
}

/* Kinds of per-image parameter draws (RFT_DRAW_* of rft.h, repeated for nvcc). */
enum { RFT_AUG_DRAW_UNIFORM = 0, RFT_AUG_DRAW_TRUNCNORMAL = 1, RFT_AUG_DRAW_CHOICE = 2, RFT_AUG_DRAW_INTEGER = 3,
       RFT_AUG_DRAW_BERNOULLI = 4 };

/* The parameter drawn for one image (rft_aug_draw) from the Philox stream s = rft_aug_stream(id, tag),
   w = word 0 of its block 0: uniform a + (b - a)·u; truncnormal rft_aug_truncnormal(a, b); choice
   values[⌊w·n / 2^32⌋]; integer a + ⌊w·(b - a + 1) / 2^32⌋; bernoulli 1 if u <= p else 0. values
   were checked (2 values {a, b} with a <= b, integer ends for integer; n >= 1 for choice; p in [0,1]). */
RFT_HD float rft_aug_draw_value(int kind, int nvalues, const float *values, uint64_t seed, uint64_t s)
{
    uint32_t w = rft_philox(seed, s, 0).v[0];
    switch (kind) {
    case RFT_AUG_DRAW_UNIFORM:
        return rft_aug_add(values[0], rft_aug_mul(values[1] - values[0], rft_u32_to_unit(w)));
    case RFT_AUG_DRAW_TRUNCNORMAL: return rft_aug_truncnormal(seed, s, values[0], values[1]);
    case RFT_AUG_DRAW_CHOICE: return values[(uint64_t)w * (uint64_t)nvalues >> 32];
    case RFT_AUG_DRAW_INTEGER: {
        uint64_t span = (uint64_t)((int64_t)values[1] - (int64_t)values[0] + 1);
        return (float)((int64_t)values[0] + (int64_t)((uint64_t)w * span >> 32));
    }
    default: return rft_u32_to_unit(w) <= values[0] ? 1.0f : 0.0f;
    }
}

#endif
