/* aug_draw.cu: the CUDA twin of rft_cpu_aug_draw (engine/aug/check.c): one parameter per image for
 * aug.uniform / truncnormal / choice / randint / bernoulli, from Philox keyed by (seed,
 * id << 32 | stream), by rft_aug_draw_value of aug_math.h.
 *
 * Exactness: the words are integers; uniform a + (b - a)·u and the truncated normal's mid + sd·z are
 * rounded step by step (never fused), its Box-Muller is the polynomial one of aug_math.h: every
 * value is the CPU's bit for bit.
 *
 * values arrive in host memory: up to INLINE_VALUES travel by value in the kernel's arguments, more
 * (a long choice list) through a device block.
 * Not here: argument checks (librft).
 */
#include "aug_cuda.cuh"

enum { INLINE_VALUES = 32 };

typedef struct { float v[INLINE_VALUES]; } draw_values;

/* ---- kernels -------------------------------------------------------------------------------- */

/* out: (n) f32; ids: (n) or NULL; values: `inline_values` or, when not NULL, `dev_values` */
__global__ void aug_draw_kernel(int kind, int nvalues, draw_values inline_values, const float *dev_values,
                                uint64_t seed, uint32_t stream, const int32_t *ids, float *out, int64_t n)
{
    const float *values = dev_values ? dev_values : inline_values.v;
    for (int64_t i = aug_first(); i < n; i += aug_stride())
        out[i] = rft_aug_draw_value(kind, nvalues, values, seed, rft_aug_stream(aug_id_at(ids, i), stream));
}

/* ---- launchers ------------------------------------------------------------------------------ */

static int draw_launch(int kind, int nvalues, const draw_values *inline_values, const float *dev_values,
                       uint64_t seed, uint32_t stream, const rft_tensor *ids, rft_tensor *out)
{
    int64_t n = out->numel;
    RFT_LAUNCH(aug_draw_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, kind, nvalues, *inline_values, dev_values, seed,
               stream, aug_ids(ids), rft_f32(out), n);
    return RFT_OK;
}

int rft_cuda_aug_draw(int kind, int nvalues, const float *values, uint64_t seed, uint32_t stream,
                      const rft_tensor *ids, rft_tensor *out)
{
    if (out->numel == 0) return RFT_OK;
    draw_values small = {};
    if (nvalues <= INLINE_VALUES) {
        for (int k = 0; k < nvalues; k++) small.v[k] = values[k];
        return draw_launch(kind, nvalues, &small, NULL, seed, stream, ids, out);
    }
    void *dev;                      /* (nvalues) f32 */
    size_t bytes = (size_t)nvalues * sizeof(float);
    RFT_TRY(rft_cuda_block(bytes, &dev));
    int rc = rft_cuda_copy(dev, RFT_CUDA, values, RFT_CPU, bytes);  /* returns once `values` was read */
    if (rc == RFT_OK) rc = draw_launch(kind, nvalues, &small, (const float *)dev, seed, stream, ids, out);
    rft_cuda_free(dev);             /* stream-ordered: the kernel queued above reads it first */
    return rc;
}
