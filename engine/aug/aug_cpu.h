/* aug_cpu.h: host-side helpers the augmentation kernels share: the argument checks (engine/aug/check.c)
 * of the batch, the output, per-image parameter tensors and ids, each failure naming the op and the
 * argument; and Philox over a run of consecutive blocks written lane by lane, so that the compiler
 * vectorises it. Internal to engine/aug; never seen by nvcc (CUDA kernels get checked arguments and
 * compute one block per thread with philox.h). */
#ifndef RFT_AUG_CPU_H
#define RFT_AUG_CPU_H
#include "backend.h"
#include "aug_math.h"
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* x: f32 [N,C,H,W] (C = 3 when rgb); y: f32 on x's device, resized to x's shape. y may be x when
   inplace_ok, else it must not share x's memory. */
int aug_check_io(const char *op, const rft_tensor *x, rft_tensor *y, bool rgb, bool inplace_ok);
/* A parameter: f32 on x's device with 1 or N values, each in [lo, hi] (checked on the CPU) and a
   whole number when integer. */
int aug_check_param(const char *op, const char *arg, const rft_tensor *t, const rft_tensor *x, double lo,
                    double hi, bool integer);
/* ids: NULL, or i32 [n] on ref's device. */
int aug_check_ids(const char *op, const rft_tensor *ids, int64_t n, const rft_tensor *ref);
int aug_check_border(const char *op, int border);

/* Batches whose output is larger than this are written with streaming (non-temporal) stores where
   a kernel only moves values (flip, crop): the output then does not evict the input from the last
   cache level and costs no read-for-ownership. */
enum { AUG_STREAM_BYTES = 8 << 20 };

#if defined(__SSE__)
/* rft_aug_clip of four values (the operand order keeps NaN and -0 as the scalar form does) */
static inline __m128 aug_clip4(__m128 v) { return _mm_min_ps(_mm_set1_ps(1.0f), _mm_max_ps(_mm_setzero_ps(), v)); }
#endif

static inline rft_aug_pf aug_pf(const rft_tensor *t)
{
    rft_aug_pf p = { rft_f32(t), t->numel != 1 };
    return p;
}
static inline int32_t aug_id(const rft_tensor *ids, int64_t n) { return ids ? rft_i32(ids)[n] : (int32_t)n; }

/* The hot loops of the CPU kernels have one clone per instruction set (AVX-512, AVX2, baseline),
   chosen at load time. The code is compiled with -std=c11, so without contraction to FMA: every
   clone computes bit-identical numbers. Files with such loops start with a pragma (before
   any include, so that the inline helpers get the same options and inline into the clones): no
   floating-point trapping or errno semantics, so that selects, sqrt and floor vectorise; neither
   changes a result. */
#define AUG_CLONES RFT_CLONES

enum { AUG_LANES = RFT_AUG_TILE };

/* Blocks pos0 .. pos0+nb-1 (nb <= AUG_LANES) of Philox (seed, stream): word j of block i in w[j][i].
   The same rounds as rft_philox, with the lanes innermost. */
static inline __attribute__((always_inline)) void aug_philox_lanes(uint64_t seed, uint64_t stream, uint64_t pos0, int nb,
                                    uint32_t w[4][AUG_LANES])
{
    uint32_t *c0 = w[0], *c1 = w[1], *c2 = w[2], *c3 = w[3];
    for (int i = 0; i < nb; i++) {
        uint64_t p = pos0 + (uint64_t)i;
        c0[i] = (uint32_t)p; c1[i] = (uint32_t)(p >> 32);
        c2[i] = (uint32_t)stream; c3[i] = (uint32_t)(stream >> 32);
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        for (int i = 0; i < nb; i++) {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0[i], p1 = (uint64_t)0xCD9E8D57u * c2[i];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[i] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[i] ^ k1;
            c0[i] = n0; c1[i] = (uint32_t)p1; c2[i] = n2; c3[i] = (uint32_t)p0;
        }
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
}

#endif
