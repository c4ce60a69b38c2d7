/* fma_sums.h: the two sums FMA's loss needs of one image's pair of rows in a two-view batch, shared by
 * the loss's own pass over a tap (engine/loss/fma.c) and the ReLU forward that makes them as it writes
 * the pair (rft_relu_forward_pairs, engine/nn/relu.c): one inline definition, so that both give the
 * same numbers. Internal to librft. */
#ifndef RFT_FMA_SUMS_H
#define RFT_FMA_SUMS_H
#include <stdint.h>

/* sums[0] = sum_k c_k (the clean row), sums[1] = sum_k (c_k - d_k)^2: f32 lanes within blocks of
   FMA_SUM_BLOCK values, the blocks' sums added in double. In double lanes throughout, these sums cost
   as much as the ReLU forward that makes them (1.5 ms of a 55 ms VGG-16/4 step: two conversions and
   half-width vectors per value); a block's f32 sum of at most 256 values is good to about 1e-6 of
   itself, and every term of sums[1] (and of sums[0] over a ReLU's output) is >= 0. */
enum { FMA_SUM_BLOCK = 256 };
static inline __attribute__((always_inline)) void fma_pair_sums(const float *c, const float *d, int64_t kappa,
                                                                double *sums)
{
    double m = 0, s = 0;
    for (int64_t k0 = 0; k0 < kappa; k0 += FMA_SUM_BLOCK) {
        const int64_t k1 = kappa - k0 < FMA_SUM_BLOCK ? kappa : k0 + FMA_SUM_BLOCK;
        float mb = 0, sb = 0;
        #pragma omp simd reduction(+:mb, sb)
        for (int64_t k = k0; k < k1; k++) {
            float diff = c[k] - d[k];
            mb += c[k];
            sb += diff * diff;
        }
        m += mb, s += sb;
    }
    sums[0] = m, sums[1] = s;
}

#endif
