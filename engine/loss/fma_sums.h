/* fma_sums.h: the two sums FMA's loss needs of one image's pair of rows in a two-view batch, shared by
 * the loss's own pass over a tap (engine/loss/fma.c) and the ReLU forward that makes them as it writes
 * the pair (rft_relu_forward_pairs, engine/nn/relu.c): one inline definition, so that both give the
 * same numbers. Internal to librft. */
#ifndef RFT_FMA_SUMS_H
#define RFT_FMA_SUMS_H
#include <stdint.h>

/* sums[0] = sum_k c_k (the clean row), sums[1] = sum_k (c_k - d_k)^2, in double lanes. */
static inline __attribute__((always_inline)) void fma_pair_sums(const float *c, const float *d, int64_t kappa,
                                                                double *sums)
{
    double m = 0, s = 0;
    #pragma omp simd reduction(+:m, s)
    for (int64_t k = 0; k < kappa; k++) {
        double diff = (double)c[k] - d[k];
        m += c[k];
        s += diff * diff;
    }
    sums[0] = m, sums[1] = s;
}

#endif
