/* winograd.c: Winograd convolution F(4x4,3x3) on the CPU, AVX2 + FMA (see winograd.h).
 *
 * Lavin and Gray's algorithm: each 4x4 block of outputs ("tile") comes from a 6x6 window of the input,
 *   y_tile = A^T [ sum_c (G g_c G^T) .* (B^T d_c B) ] A,
 * so the 36 element-wise products, summed over input channels, are 36 GEMMs (Cout x Cin) . (Cin x tiles):
 * 36 multiplications per 4x4 outputs and channel pair where direct convolution needs 16 x 9 = 144. The matrices (interpolation points 0, +-1, +-2, infinity):
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * Backward data is the same convolution of dy with the kernel turned 180 degrees and its channels
 * swapped (padding 2 - pad). Backward weights transposes the forward formula:
 *   dL/dg_{o,c} = G^T [ sum over images and tiles (A dy_tile A^T) .* (B^T d_c B) ] G,
 * 36 GEMMs (Cout x tiles) . (tiles x Cin). spec/nn/conv2d_spec.lua checks all three against float64
 * with the rounding bound of exactly this formulation (tiles anchored at output (0,0)).
 *
 * Data layout: tiles are numbered across the batch (image, tile row, tile column) and processed in
 * chunks whose transformed data fits the cache; transformed data is [36][channel][tile], eight tiles
 * to an AVX2 vector, so each transform works on eight tiles at once and the GEMMs read rows.
 * Functions that use AVX2 carry target attributes: the library is built for any x86-64 and this
 * file's code runs only when rft_wino_supported() says the CPU has AVX2 and FMA.
 */
#include "nn/winograd.h"
#include "nn/dnnl_util.h"
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { TS = 6, OS = 4, NX = 36, LANES = 8 };

/* Bytes of transformed data (inputs and products) one thread's chunk of tiles may hold: about what a
   core's L2 cache keeps (512 KiB on Zen 3, 1 MiB on Zen 4/5), so the GEMMs read what the transform
   just wrote from cache. */
#define CHUNK_BYTES ((size_t)1 << 20)

#define AVX2 __attribute__((target("avx2,fma")))

bool rft_wino_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

typedef struct {
    int64_t n, c, h, w;        /* the transformed input: (n, c, h, w) */
    int64_t k, ho, wo;         /* output channels and map */
    int pad_h, pad_w;
    int64_t th, tw, tiles;     /* tile rows, columns, tiles in the batch */
} core_geom;

static core_geom core(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t ho, int64_t wo, int ph, int pw)
{
    core_geom g = {n, c, h, w, k, ho, wo, ph, pw, (ho + OS - 1) / OS, (wo + OS - 1) / OS, 0};
    g.tiles = n * g.th * g.tw;
    return g;
}

/* Tiles per chunk: a multiple of 8 within CHUNK_BYTES for 36 x rows floats a tile, at least 32 (GEMMs
   narrower than that run far below peak) and at most what spreads the tiles over the threads. */
static int64_t chunk_tiles(const core_geom *g, int64_t rows)
{
    int64_t pc = (int64_t)(CHUNK_BYTES / (NX * sizeof(float) * (size_t)rows)) & ~(int64_t)(LANES - 1);
    int64_t share = (g->tiles + omp_get_max_threads() - 1) / omp_get_max_threads();
    share = (share + LANES - 1) / LANES * LANES;
    if (pc > share) pc = share;
    if (pc < 32) pc = 32;
    /* RFT_WINO_CHUNK_TILES: a smaller chunk, so that specs run the chunk loop on small layers */
    const char *e = getenv("RFT_WINO_CHUNK_TILES");
    if (e && atoll(e) >= LANES) pc = atoll(e) / LANES * LANES;
    int64_t all = (g->tiles + LANES - 1) / LANES * LANES;
    return pc < all ? pc : all;
}

/* ---- 1-D transforms on eight tiles at once ---------------------------------------------------- */

/* B^T d for d[0..5] (stride s apart in memory), into o[0..5] */
static inline AVX2 void bt6(const __m256 *d, __m256 *o)
{
    const __m256 two = _mm256_set1_ps(2), four = _mm256_set1_ps(4), five = _mm256_set1_ps(5);
    __m256 d4m2 = _mm256_sub_ps(d[4], d[2]);              /* d4 - d2 */
    __m256 d3m1 = _mm256_sub_ps(d[3], d[1]);
    o[0] = _mm256_fnmadd_ps(five, d[2], _mm256_fmadd_ps(four, d[0], d[4]));
    __m256 a = _mm256_fnmadd_ps(four, d[2], d[4]);      /* d4 - 4 d2 */
    __m256 b = _mm256_fnmadd_ps(four, d[1], d[3]);      /* d3 - 4 d1 */
    o[1] = _mm256_add_ps(a, b);
    o[2] = _mm256_sub_ps(a, b);
    o[3] = _mm256_fmadd_ps(two, d3m1, d4m2);
    o[4] = _mm256_fnmadd_ps(two, d3m1, d4m2);
    o[5] = _mm256_fnmadd_ps(five, d[3], _mm256_fmadd_ps(four, d[1], d[5]));
}

/* A^T m for m[0..5], into o[0..3] */
static inline AVX2 void at6(const __m256 *m, __m256 *o)
{
    __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
    __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
    o[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), s34);
    o[1] = _mm256_fmadd_ps(_mm256_set1_ps(2), d34, d12);
    o[2] = _mm256_fmadd_ps(_mm256_set1_ps(4), s34, s12);
    o[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8), d34, d12), m[5]);
}

/* A d for d[0..3] (A = (A^T)^T, 6x4), into o[0..5] */
static inline AVX2 void a4(const __m256 *d, __m256 *o)
{
    __m256 s02 = _mm256_add_ps(d[0], d[2]), s13 = _mm256_add_ps(d[1], d[3]);
    __m256 q02 = _mm256_fmadd_ps(_mm256_set1_ps(4), d[2], d[0]);             /* d0 + 4 d2 */
    __m256 q13 = _mm256_fmadd_ps(_mm256_set1_ps(8), d[3], _mm256_add_ps(d[1], d[1]));   /* 2 d1 + 8 d3 */
    o[0] = d[0];
    o[1] = _mm256_add_ps(s02, s13);
    o[2] = _mm256_sub_ps(s02, s13);
    o[3] = _mm256_add_ps(q02, q13);
    o[4] = _mm256_sub_ps(q02, q13);
    o[5] = d[3];
}

/* ---- gathering tiles and scattering outputs ---------------------------------------------------- */

/* Where a tile lies: its image and the top-left output of its 4x4 block; tiles past the batch's last
   (filling the last vector) have img = -1. Made once per chunk, so that no transform divides. */
typedef struct {
    int64_t img;
    int32_t y0, x0;
} tile_pos;

static void tile_table(const core_geom *g, int64_t p0, int64_t n, tile_pos *t)
{
    int64_t per = g->th * g->tw;
    for (int64_t i = 0; i < n; i++) {
        int64_t p = p0 + i, r = p % per;
        t[i] = p < g->tiles ? (tile_pos){p / per, (int32_t)(r / g->tw * OS), (int32_t)(r % g->tw * OS)}
                            : (tile_pos){-1, 0, 0};
    }
}

/* Eight vectors r[l] (lanes j) -> r[j] (lanes l): the 8x8 transpose in registers. */
static inline AVX2 void transpose8(__m256 *r)
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* d[i] = row y0 + i of plane (h x w) from column x0, cols values (lanes j < cols), 0 outside the map:
   masked loads, which neither read nor fault outside the mask. */
static inline AVX2 void load_rows(const float *plane, int64_t h, int64_t w, int64_t y0, int64_t x0, int rows,
                                  int cols, __m256 *d)
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i xs = _mm256_add_epi32(iota, _mm256_set1_epi32((int)x0));
    __m256i m = _mm256_and_si256(_mm256_cmpgt_epi32(xs, _mm256_set1_epi32(-1)),
                                 _mm256_cmpgt_epi32(_mm256_set1_epi32((int)w), xs));
    m = _mm256_and_si256(m, _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), iota));
    for (int i = 0; i < rows; i++) {
        int64_t iy = y0 + i;
        d[i] = iy >= 0 && iy < h ? _mm256_maskload_ps(plane + iy * w + x0, m) : _mm256_setzero_ps();
    }
}

/* V[xi][c][q..q+7] = B^T d B for the 6x6 windows of the chunk's tiles, eight to a vector: each tile's
   rows are loaded (lanes: columns), transformed down the columns, turned so that lanes are tiles, and
   transformed along the rows. */
static AVX2 void input_transform(const core_geom *g, const float *x, const tile_pos *tp, int64_t n, int64_t pc,
                                 float *V)
{
    int64_t groups = n / LANES;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t q = 0; q < groups; q++) {
            const tile_pos *t = tp + q * LANES;
            __m256 col[LANES][TS], d[TS], r[LANES], o[TS];
            for (int l = 0; l < LANES; l++) {
                if (t[l].img < 0) {
                    for (int i = 0; i < TS; i++) col[l][i] = _mm256_setzero_ps();
                    continue;
                }
                load_rows(x + (t[l].img * g->c + c) * g->h * g->w, g->h, g->w, t[l].y0 - g->pad_h,
                          t[l].x0 - g->pad_w, TS, TS, d);
                bt6(d, col[l]);                         /* col[l][a] = (B^T d)[a][.] */
            }
            float *out = V + c * pc + q * LANES;
            for (int a = 0; a < TS; a++) {
                for (int l = 0; l < LANES; l++) r[l] = col[l][a];
                transpose8(r);                          /* r[j] = (B^T d)[a][j] over tiles */
                bt6(r, o);
                for (int b = 0; b < TS; b++) _mm256_storeu_ps(out + (int64_t)(a * TS + b) * g->c * pc, o[b]);
            }
        }
}

/* D[xi][k][q..q+7] = A dy A^T for the 4x4 blocks of dy (k channels, ho x wo) of the chunk's tiles. */
static AVX2 void grad_transform(const core_geom *g, const float *dy, const tile_pos *tp, int64_t n, int64_t pc,
                                float *D)
{
    int64_t groups = n / LANES;
    for (int64_t k = 0; k < g->k; k++)
        for (int64_t q = 0; q < groups; q++) {
            const tile_pos *t = tp + q * LANES;
            __m256 col[LANES][TS], d[OS], r[LANES], o[TS];
            for (int l = 0; l < LANES; l++) {
                if (t[l].img < 0) {
                    for (int i = 0; i < TS; i++) col[l][i] = _mm256_setzero_ps();
                    continue;
                }
                load_rows(dy + (t[l].img * g->k + k) * g->ho * g->wo, g->ho, g->wo, t[l].y0, t[l].x0, OS, OS, d);
                a4(d, col[l]);
            }
            float *out = D + k * pc + q * LANES;
            for (int a = 0; a < TS; a++) {
                for (int l = 0; l < LANES; l++) r[l] = col[l][a];
                transpose8(r);
                a4(r, o);
                for (int b = 0; b < TS; b++) _mm256_storeu_ps(out + (int64_t)(a * TS + b) * g->k * pc, o[b]);
            }
        }
}

/* The chunk's output tiles = A^T M A (+ bias), M: [xi][k][tile]: transformed with lanes as tiles, then
   each output row of four is turned into one 128-bit store per tile (masked at the map's edge). */
static AVX2 void output_transform(const core_geom *g, const float *M, const float *bias, const tile_pos *tp,
                                  int64_t n, int64_t pc, float *y)
{
    int64_t groups = n / LANES;
    for (int64_t k = 0; k < g->k; k++)
        for (int64_t q = 0; q < groups; q++) {
            const tile_pos *t = tp + q * LANES;
            const float *in = M + k * pc + q * LANES;
            __m256 m[TS], s[OS][TS], o[OS];
            for (int j = 0; j < TS; j++) {             /* columns: s[.][j] = A^T m[.][j] */
                for (int i = 0; i < TS; i++) m[i] = _mm256_loadu_ps(in + (int64_t)(i * TS + j) * g->k * pc);
                at6(m, o);
                for (int i = 0; i < OS; i++) s[i][j] = o[i];
            }
            __m256 b = _mm256_set1_ps(bias ? bias[k] : 0.0f);
            for (int i = 0; i < OS; i++) {
                at6(s[i], o);                           /* o[j]: output (i, j) of the eight tiles */
                for (int j = 0; j < OS; j++) o[j] = _mm256_add_ps(o[j], b);
                __m256 t0 = _mm256_unpacklo_ps(o[0], o[1]), t1 = _mm256_unpackhi_ps(o[0], o[1]);
                __m256 t2 = _mm256_unpacklo_ps(o[2], o[3]), t3 = _mm256_unpackhi_ps(o[2], o[3]);
                __m256 u[4] = {_mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
                               _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2))};
                for (int l = 0; l < LANES; l++) {      /* u[l % 4], half l / 4: row i of tile l */
                    if (t[l].img < 0 || t[l].y0 + i >= g->ho) continue;
                    __m128 v = l < 4 ? _mm256_castps256_ps128(u[l]) : _mm256_extractf128_ps(u[l - 4], 1);
                    float *dst = y + ((t[l].img * g->k + k) * g->ho + t[l].y0 + i) * g->wo + t[l].x0;
                    int64_t cols = g->wo - t[l].x0;
                    if (cols >= OS) {
                        _mm_storeu_ps(dst, v);
                    } else {
                        __m128i mask = _mm_cmpgt_epi32(_mm_set1_epi32((int)cols), _mm_setr_epi32(0, 1, 2, 3));
                        _mm_maskstore_ps(dst, mask, v);
                    }
                }
            }
        }
}

/* ---- weights ----------------------------------------------------------------------------------- */

/* G k for k[0..2] (3 values), into o[0..5] */
static inline AVX2 void g3(const __m256 *k, __m256 *o)
{
    const __m256 c4 = _mm256_set1_ps(1.0f / 4), c6 = _mm256_set1_ps(1.0f / 6), c12 = _mm256_set1_ps(1.0f / 12);
    const __m256 c24 = _mm256_set1_ps(1.0f / 24);
    __m256 s02 = _mm256_add_ps(k[0], k[2]);
    o[0] = _mm256_mul_ps(c4, k[0]);
    o[1] = _mm256_mul_ps(_mm256_set1_ps(-1.0f / 6), _mm256_add_ps(s02, k[1]));
    o[2] = _mm256_mul_ps(_mm256_set1_ps(-1.0f / 6), _mm256_sub_ps(s02, k[1]));
    __m256 e = _mm256_fmadd_ps(c24, k[0], _mm256_mul_ps(c6, k[2]));
    o[3] = _mm256_fmadd_ps(c12, k[1], e);
    o[4] = _mm256_fnmadd_ps(c12, k[1], e);
    o[5] = k[2];
}

/* G^T m for m[0..5], into o[0..2] */
static inline AVX2 void gt6(const __m256 *m, __m256 *o)
{
    const __m256 c6 = _mm256_set1_ps(1.0f / 6), c12 = _mm256_set1_ps(1.0f / 12), c24 = _mm256_set1_ps(1.0f / 24);
    __m256 s12 = _mm256_add_ps(m[1], m[2]), s34 = _mm256_add_ps(m[3], m[4]);
    o[0] = _mm256_fmadd_ps(c24, s34, _mm256_fnmadd_ps(c6, s12, _mm256_mul_ps(_mm256_set1_ps(0.25f), m[0])));
    o[1] = _mm256_fmadd_ps(c12, _mm256_sub_ps(m[3], m[4]), _mm256_mul_ps(c6, _mm256_sub_ps(m[2], m[1])));
    o[2] = _mm256_add_ps(_mm256_mul_ps(c6, _mm256_sub_ps(s34, s12)), m[5]);
}

/* U[xi][r][s] = G k G^T for the 3x3 kernel k of w[o][i]: forward (r, s) = (o, i); turned (backward data)
   (r, s) = (i, o) with k turned 180 degrees. Eight kernels (consecutive s) to a vector. */
static AVX2 void weight_transform(const float *w, int64_t cout, int64_t cin, bool turned, float *U)
{
    int64_t rows = turned ? cin : cout, cols = turned ? cout : cin;
    int64_t groups = (cols + LANES - 1) / LANES;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < groups; q++) {
            int64_t s0 = q * LANES, nl = cols - s0 < LANES ? cols - s0 : LANES;
            float buf[9][LANES] __attribute__((aligned(32))) = {{0}};
            for (int64_t l = 0; l < nl; l++) {
                const float *k = turned ? w + ((s0 + l) * cin + r) * 9 : w + (r * cin + s0 + l) * 9;
                for (int t = 0; t < 9; t++) buf[t][l] = k[turned ? 8 - t : t];
            }
            __m256 kc[3], o[TS], t[TS][3], u[TS];
            for (int b = 0; b < 3; b++) {               /* columns: t[.][b] = G k[.][b] */
                for (int a = 0; a < 3; a++) kc[a] = _mm256_load_ps(buf[a * 3 + b]);
                g3(kc, o);
                for (int a = 0; a < TS; a++) t[a][b] = o[a];
            }
            for (int a = 0; a < TS; a++) {              /* rows: U[a][.] = t[a][.] G^T */
                g3(t[a], u);
                for (int b = 0; b < TS; b++) {
                    float *dst = U + ((int64_t)(a * TS + b) * rows + r) * cols + s0;
                    if (nl == LANES) {
                        _mm256_storeu_ps(dst, u[b]);
                    } else {
                        float v[LANES] __attribute__((aligned(32)));
                        _mm256_store_ps(v, u[b]);
                        for (int64_t l = 0; l < nl; l++) dst[l] = v[l];
                    }
                }
            }
        }
}

/* dw[o][i] += scale G^T M G, M the sum of the nt threads' acc[xi][o][i]; eight (o, i) to a vector. */
static AVX2 void weight_gradient(const float *acc, int nt, int64_t kc, float scale, float *dw)
{
    int64_t groups = (kc + LANES - 1) / LANES;
    #pragma omp parallel for schedule(static)
    for (int64_t q = 0; q < groups; q++) {
        int64_t s0 = q * LANES, nl = kc - s0 < LANES ? kc - s0 : LANES;
        __m256 m[TS][TS], col[TS], o[3], t[3][TS];
        for (int a = 0; a < TS; a++)
            for (int b = 0; b < TS; b++) {
                __m256 v = _mm256_setzero_ps();
                for (int th = 0; th < nt; th++) {
                    const float *src = acc + ((int64_t)th * NX + a * TS + b) * kc + s0;
                    if (nl == LANES) {
                        v = _mm256_add_ps(v, _mm256_loadu_ps(src));
                    } else {
                        float tmp[LANES] __attribute__((aligned(32))) = {0};
                        for (int64_t l = 0; l < nl; l++) tmp[l] = src[l];
                        v = _mm256_add_ps(v, _mm256_load_ps(tmp));
                    }
                }
                m[a][b] = v;
            }
        for (int b = 0; b < TS; b++) {                  /* columns: t[.][b] = G^T m[.][b] */
            for (int a = 0; a < TS; a++) col[a] = m[a][b];
            gt6(col, o);
            for (int a = 0; a < 3; a++) t[a][b] = o[a];
        }
        float out[9][LANES] __attribute__((aligned(32)));
        for (int a = 0; a < 3; a++) {                   /* rows: t[a][.] G */
            gt6(t[a], o);
            for (int b = 0; b < 3; b++) _mm256_store_ps(out[a * 3 + b], _mm256_mul_ps(_mm256_set1_ps(scale), o[b]));
        }
        for (int64_t l = 0; l < nl; l++)
            for (int j = 0; j < 9; j++) dw[(s0 + l) * 9 + j] += out[j][l];
    }
}

/* ---- the convolution --------------------------------------------------------------------------- */

/* Per-thread scratch: each thread takes whole chunks of tiles through input transform, GEMMs and
   output transform on its own (no barrier between the stages; single-threaded dnnl_sgemm, which oneDNN
   runs sequentially inside a parallel region), in its own slice of the workspace. */
typedef struct {
    float *a, *b;              /* transformed inputs [36][c][pc] and products / gradients [36][k][pc] */
    tile_pos *tp;
} scratch;

static int64_t scratch_floats(const core_geom *g, int64_t pc)
{
    return NX * (g->c + g->k) * pc + 4 * pc + 16;     /* + the tile table (16 bytes a tile) and alignment */
}

static scratch scratch_of(const core_geom *g, int64_t pc, float *base, int tid)
{
    float *p = base + tid * scratch_floats(g, pc);
    scratch s = {p, p + NX * g->c * pc, NULL};
    s.tp = (tile_pos *)(s.b + NX * g->k * pc);
    return s;
}

static int gemm_fail(int st)
{
    return rft_dnnl_fail("conv2d", "Winograd sgemm", (dnnl_status_t)st);
}

/* y = conv(x, kernels whose transforms are U) + bias over a core geometry; ws holds one scratch per
   thread. */
static int convolve(const core_geom *g, const float *x, const float *U, const float *bias, float *y, float *ws,
                    int64_t pc)
{
    int64_t chunks = (g->tiles + pc - 1) / pc;
    int failed = 0;
    #pragma omp parallel
    {
        scratch sc = scratch_of(g, pc, ws, omp_get_thread_num());
        #pragma omp for schedule(dynamic)
        for (int64_t ch = 0; ch < chunks; ch++) {
            int64_t p0 = ch * pc, n = g->tiles - p0 < pc ? (g->tiles - p0 + LANES - 1) / LANES * LANES : pc;
            tile_table(g, p0, n, sc.tp);
            input_transform(g, x, sc.tp, n, pc, sc.a);
            /* M[xi] (k x n) = U[xi] (k x c) V[xi] (c x n); V and M rows are pc apart */
            for (int xi = 0; xi < NX; xi++) {
                dnnl_status_t st = dnnl_sgemm('N', 'N', g->k, n, g->c, 1.0f, U + xi * g->k * g->c, g->c,
                                              sc.a + xi * g->c * pc, pc, 0.0f, sc.b + xi * g->k * pc, pc);
                if (st != dnnl_success) {
                    #pragma omp atomic write
                    failed = (int)st;
                }
            }
            output_transform(g, sc.b, bias, sc.tp, n, pc, y);
        }
    }
    return failed ? gemm_fail(failed) : RFT_OK;
}

static int workspace(int64_t floats, float **ws)
{
    return rft_dnnl_workspace("conv2d", (size_t)floats * sizeof(float), (char **)ws);
}

int rft_wino_forward(const rft_wino_geom *s, const float *x, const float *w, const float *b, float *y)
{
    core_geom g = core(s->n, s->cin, s->h, s->w, s->cout, s->ho, s->wo, s->pad_h, s->pad_w);
    if (g.tiles == 0) return RFT_OK;
    int64_t pc = chunk_tiles(&g, g.c + g.k), u = NX * g.k * g.c;
    float *ws;
    RFT_TRY(workspace(u + omp_get_max_threads() * scratch_floats(&g, pc), &ws));
    weight_transform(w, s->cout, s->cin, false, ws);
    return convolve(&g, x, ws, b, y, ws + u, pc);
}

int rft_wino_backward_data(const rft_wino_geom *s, const float *w, const float *dy, float *dx)
{
    core_geom g = core(s->n, s->cout, s->ho, s->wo, s->cin, s->h, s->w, 2 - s->pad_h, 2 - s->pad_w);
    if (g.tiles == 0) return RFT_OK;
    int64_t pc = chunk_tiles(&g, g.c + g.k), u = NX * g.k * g.c;
    float *ws;
    RFT_TRY(workspace(u + omp_get_max_threads() * scratch_floats(&g, pc), &ws));
    weight_transform(w, s->cout, s->cin, true, ws);
    return convolve(&g, dy, ws, NULL, dx, ws + u, pc);
}

int rft_wino_backward_weights(const rft_wino_geom *s, const float *x, const float *dy, float scale, float *dw,
                              float *db)
{
    core_geom g = core(s->n, s->cin, s->h, s->w, s->cout, s->ho, s->wo, s->pad_h, s->pad_w);
    if (g.tiles == 0) return RFT_OK;
    int nt = omp_get_max_threads();
    int64_t pc = chunk_tiles(&g, g.c + g.k), kc = g.k * g.c, chunks = (g.tiles + pc - 1) / pc;
    if (nt > chunks) nt = (int)chunks;
    /* one sum of products Macc[xi] (k x c) per thread, then their total */
    float *ws;
    RFT_TRY(workspace((NX * kc + scratch_floats(&g, pc)) * nt, &ws));
    float *Macc = ws, *base = ws + NX * kc * nt;
    int failed = 0;
    #pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num();
        scratch sc = scratch_of(&g, pc, base, tid);
        float *acc = Macc + NX * kc * tid;
        bool first = true;
        #pragma omp for schedule(dynamic)
        for (int64_t ch = 0; ch < chunks; ch++) {
            int64_t p0 = ch * pc, n = g.tiles - p0 < pc ? (g.tiles - p0 + LANES - 1) / LANES * LANES : pc;
            tile_table(&g, p0, n, sc.tp);
            input_transform(&g, x, sc.tp, n, pc, sc.a);
            grad_transform(&g, dy, sc.tp, n, pc, sc.b);
            /* acc[xi] (k x c) (+)= D[xi] (k x n) V[xi]^T (n x c) */
            for (int xi = 0; xi < NX; xi++) {
                dnnl_status_t st = dnnl_sgemm('N', 'T', g.k, g.c, n, 1.0f, sc.b + xi * g.k * pc, pc,
                                              sc.a + xi * g.c * pc, pc, first ? 0.0f : 1.0f, acc + xi * kc, g.c);
                if (st != dnnl_success) {
                    #pragma omp atomic write
                    failed = (int)st;
                }
            }
            first = false;
        }
        if (first) memset(acc, 0, NX * kc * sizeof(float));    /* a thread that got no chunk */
    }
    if (failed) return gemm_fail(failed);
    weight_gradient(Macc, nt, kc, scale, dw);
    if (db) {
        int64_t plane = s->ho * s->wo;
        #pragma omp parallel for schedule(static)
        for (int64_t o = 0; o < s->cout; o++) {
            double sum = 0;
            for (int64_t i = 0; i < s->n; i++) {
                const float *p = dy + (i * s->cout + o) * plane;
                for (int64_t j = 0; j < plane; j++) sum += p[j];
            }
            db[o] += scale * (float)sum;
        }
    }
    return RFT_OK;
}
