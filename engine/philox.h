/* philox.h: the Philox-4x32-10 counter-based generator (Salmon et al., SC'11) and the conversions
 * to uniform and normal numbers, as inline functions that both the C compiler and nvcc build, so
 * that a (seed, stream, counter) gives the same numbers on every device.
 *
 * Key = the 64-bit seed; counter = (position, stream), 64 bits each. One call yields four 32-bit
 * words. Element k of a uniform stream is word k%4 of block k/4; element k of a normal stream
 * comes from words 2(k%2), 2(k%2)+1 of block k/2 (Box-Muller). So any element can be computed
 * alone, and any split of the work gives the same values.
 */
#ifndef RFT_PHILOX_H
#define RFT_PHILOX_H
#include <stdint.h>
#include <math.h>

#ifdef __CUDACC__
#define RFT_HD __host__ __device__ __forceinline__
#else
#define RFT_HD static inline
#endif

typedef struct { uint32_t v[4]; } rft_philox4;

RFT_HD uint32_t rft_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

RFT_HD rft_philox4 rft_philox(uint64_t seed, uint64_t stream, uint64_t position)
{
    uint32_t c0 = (uint32_t)position, c1 = (uint32_t)(position >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = rft_mulhilo32(0xD2511F53u, c0, &hi0);
        uint32_t lo1 = rft_mulhilo32(0xCD9E8D57u, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    rft_philox4 r = {{c0, c1, c2, c3}};
    return r;
}

/* A 32-bit word to a float in (0, 1]: never 0, so log() is safe. */
RFT_HD float rft_u32_to_unit(uint32_t w) { return ((float)(w >> 8) + 1.0f) * (1.0f / 16777216.0f); }

/* Element k of the uniform (0,1] stream (seed, stream). */
RFT_HD float rft_philox_uniform(uint64_t seed, uint64_t stream, uint64_t k)
{
    rft_philox4 r = rft_philox(seed, stream, k >> 2);
    return rft_u32_to_unit(r.v[k & 3]);
}

/* Element k of the standard normal stream (seed, stream). */
RFT_HD float rft_philox_normal(uint64_t seed, uint64_t stream, uint64_t k)
{
    rft_philox4 r = rft_philox(seed, stream, k >> 1);
    int w = (int)(k & 1) * 2;
    float u1 = rft_u32_to_unit(r.v[w]), u2 = rft_u32_to_unit(r.v[w + 1]);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

#endif
