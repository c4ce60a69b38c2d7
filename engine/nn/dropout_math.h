/* dropout_math.h: inverted dropout's per-element work, built by both compilers (librft's C and
 * librft_cuda's nvcc) so a mask and its output are bit-identical on both devices. The one product
 * has no sum to fuse with, so both round it alike.
 * Not here: argument checks and the loops over blocks (engine/nn/dropout.c, kernels/dropout.cu). */
#ifndef RFT_DROPOUT_MATH_H
#define RFT_DROPOUT_MATH_H
#include "philox.h"

/* 1/(1-p), and 0 for p = 1 (every element dropped) */
RFT_HD float rft_dropout_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

/* Philox block q of (seed, stream) holds positions 4q .. 4q+3; element k of the n is position
 * offset + k. Draws the block once and fills the elements it covers: mask = u <= keep (u in (0,1],
 * so probability keep exactly on the 2^-24 grid, as rand_bernoulli), y = x * scale or 0. */
RFT_HD void rft_dropout_block(uint64_t seed, uint64_t stream, uint64_t offset, int64_t n, uint64_t q, float keep,
                              float scale, const float *x, float *y, uint8_t *mask)
{
    rft_philox4 r = rft_philox(seed, stream, q);
    for (int w = 0; w < 4; w++) {
        uint64_t pos = 4 * q + (uint64_t)w;
        if (pos < offset || pos - offset >= (uint64_t)n) continue;
        int64_t k = (int64_t)(pos - offset);
        uint8_t on = rft_u32_to_unit(r.v[w]) <= keep;
        mask[k] = on;
        y[k] = on ? x[k] * scale : 0.0f;
    }
}

#endif
