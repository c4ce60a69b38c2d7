/* rand.c: tensors filled from the Philox generator (engine/philox.h) and seeded permutations.
 * Element i of a fill takes counter position offset + i, so the result never depends on the
 * thread count or on how a fill is split into pieces. */
#include "backend.h"
#include "philox.h"

void rft_philox4x32_10(const uint32_t *counter, const uint32_t *key, uint32_t *out)
{
    rft_philox4 r = rft_philox((uint64_t)key[0] | (uint64_t)key[1] << 32,
                               (uint64_t)counter[2] | (uint64_t)counter[3] << 32,
                               (uint64_t)counter[0] | (uint64_t)counter[1] << 32);
    for (int i = 0; i < 4; i++) out[i] = r.v[i];
}

static int check_fill(const char *op, const rft_tensor *t, bool any_dtype)
{
    RFT_TRY(rft_check_tensor(op, "tensor", t));
    if (!any_dtype) RFT_TRY(rft_check_dtype(op, "tensor", t, RFT_F32));
    return RFT_OK;
}

int rft_rand_uniform(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi)
{
    RFT_TRY(check_fill("rand_uniform", t, false));
    if (!(lo <= hi)) return rft_fail(RFT_EARG, "rand_uniform: lo = %g must not exceed hi = %g", lo, hi);
    RFT_DISPATCH("rand_uniform", t, rand_uniform, t, seed, stream, offset, lo, hi);
}

int rft_rand_normal(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std)
{
    RFT_TRY(check_fill("rand_normal", t, false));
    if (!(std >= 0)) return rft_fail(RFT_EARG, "rand_normal: std = %g, expected >= 0", std);
    RFT_DISPATCH("rand_normal", t, rand_normal, t, seed, stream, offset, mean, std);
}

int rft_rand_bernoulli(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float p)
{
    RFT_TRY(check_fill("rand_bernoulli", t, true));
    if (!(p >= 0 && p <= 1)) return rft_fail(RFT_EARG, "rand_bernoulli: p = %g, expected 0 <= p <= 1", p);
    RFT_DISPATCH("rand_bernoulli", t, rand_bernoulli, t, seed, stream, offset, p);
}

/* Uniform draws go four to a Philox block; each thread computes the blocks its elements fall in. */
RFT_CLONES
int rft_cpu_rand_uniform(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi)
{
    float *p = rft_f32(t), span = hi - lo;
    int64_t n = t->numel;
    #pragma omp parallel for if (n > RFT_PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++)
        p[i] = lo + span * (rft_philox_uniform(seed, stream, offset + (uint64_t)i));
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_rand_normal(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std)
{
    float *p = rft_f32(t);
    int64_t n = t->numel;
    #pragma omp parallel for if (n > RFT_PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++)
        p[i] = mean + std * rft_philox_normal(seed, stream, offset + (uint64_t)i);
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_rand_bernoulli(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float prob)
{
    int64_t n = t->numel;
    #pragma omp parallel for if (n > RFT_PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++) {
        /* u is in (0,1]: u <= p gives probability p exactly on the 2^-24 grid, 0 for p = 0 */
        int v = rft_philox_uniform(seed, stream, offset + (uint64_t)i) <= prob;
        switch (t->dtype) {
        case RFT_F32: rft_f32(t)[i] = (float)v; break;
        case RFT_U8: rft_u8(t)[i] = (uint8_t)v; break;
        case RFT_I32: rft_i32(t)[i] = v; break;
        }
    }
    return RFT_OK;
}

int rft_rand_permutation(rft_tensor *t, uint64_t seed, uint64_t stream)
{
    RFT_TRY(rft_check_dtype("rand_permutation", "tensor", t, RFT_I32));
    RFT_TRY(rft_check_cpu("rand_permutation", "tensor", t));
    if (t->numel > INT32_MAX) return rft_fail(RFT_ESHAPE, "rand_permutation: %lld elements do not fit i32",
                                              (long long)t->numel);
    int32_t *p = rft_i32(t);
    int64_t n = t->numel;
    for (int64_t i = 0; i < n; i++) p[i] = (int32_t)i;
    /* Fisher-Yates from the top; draw i uses block i: j = floor(w * (i+1) / 2^32), w a 32-bit word.
       The bias is below (i+1)/2^32, far under anything a shuffle of a dataset can show. */
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t w = rft_philox(seed, stream, (uint64_t)i).v[0];
        int64_t j = (int64_t)(((uint64_t)w * (uint64_t)(i + 1)) >> 32);
        int32_t tmp = p[i]; p[i] = p[j]; p[j] = tmp;
    }
    return RFT_OK;
}
