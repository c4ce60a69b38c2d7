/* tensor_ops.c: the small whole-tensor helpers the Lua layers and the training loop need between
 * layer calls: y += alpha*x (gradient accumulation), y *= alpha (loss scaling, zeroing by 0 is
 * rft_tensor_fill's job), and a row gather (a batch from a dataset by sampled indices).
 * Not here: layer ops (engine/nn/), anything with broadcasting or strides (tensors are dense). */
#include "backend.h"
#include <string.h>

int rft_tensor_axpy(float alpha, const rft_tensor *x, rft_tensor *y)
{
    RFT_TRY(rft_check_dtype("axpy", "x", x, RFT_F32));
    RFT_TRY(rft_check_dtype("axpy", "y", y, RFT_F32));
    RFT_TRY(rft_check_same_device("axpy", "y", x, y));
    if (x->numel != y->numel)
        return rft_fail(RFT_ESHAPE, "axpy: x %s has %lld elements, y %s has %lld", rft_shape_str(x),
                        (long long)x->numel, rft_shape_str(y), (long long)y->numel);
    RFT_DISPATCH("axpy", y, axpy, alpha, x, y);
}

RFT_CLONES
int rft_cpu_axpy(float alpha, const rft_tensor *x, rft_tensor *y)
{
    const float *a = rft_f32(x);
    float *c = rft_f32(y);
    int64_t n = y->numel;
    #pragma omp parallel for simd if (n > RFT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) c[i] += alpha * a[i];
    return RFT_OK;
}

int rft_tensor_scale(rft_tensor *y, float alpha)
{
    RFT_TRY(rft_check_dtype("scale", "y", y, RFT_F32));
    RFT_DISPATCH("scale", y, scale, y, alpha);
}

RFT_CLONES
int rft_cpu_scale(rft_tensor *y, float alpha)
{
    float *c = rft_f32(y);
    int64_t n = y->numel;
    #pragma omp parallel for simd if (n > RFT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) c[i] *= alpha;
    return RFT_OK;
}

int rft_tensor_gather(const rft_tensor *src, const rft_tensor *idx, rft_tensor *out)
{
    RFT_TRY(rft_check_tensor("gather", "src", src));
    RFT_TRY(rft_check_dtype("gather", "idx", idx, RFT_I32));
    RFT_TRY(rft_check_ndim("gather", "idx", idx, 1));
    RFT_TRY(rft_check_dtype("gather", "out", out, src->dtype));
    RFT_TRY(rft_check_same_device("gather", "idx", src, idx));
    RFT_TRY(rft_check_same_device("gather", "out", src, out));
    if (out->storage == src->storage)
        return rft_fail(RFT_EARG, "gather: out shares memory with src");
    int64_t shape[RFT_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = idx->shape[0];
    RFT_TRY(rft_tensor_resize(out, src->ndim, shape));
    RFT_DISPATCH("gather", src, gather, src, idx, out);
}

RFT_CLONES
int rft_cpu_gather(const rft_tensor *src, const rft_tensor *idx, rft_tensor *out)
{
    const int32_t *ix = rft_i32(idx);
    int64_t rows = src->shape[0], batch = idx->shape[0];
    /* check every index before writing anything, so a failed call leaves out's contents alone */
    for (int64_t i = 0; i < batch; i++)
        if (ix[i] < 0 || ix[i] >= rows)
            return rft_fail(RFT_EARG, "gather: idx[%lld] = %d is outside the %lld rows of src %s", (long long)i,
                            ix[i], (long long)rows, rft_shape_str(src));
    size_t row = rows ? rft_nbytes(src) / (size_t)rows : 0;
    const char *s = rft_ptr(src);
    char *d = rft_ptr(out);
    #pragma omp parallel for if (batch * (int64_t)row > RFT_PAR_MIN)
    for (int64_t i = 0; i < batch; i++) memcpy(d + (size_t)i * row, s + (size_t)ix[i] * row, row);
    return RFT_OK;
}
