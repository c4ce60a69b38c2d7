/* ops_check.h: argument checks shared by the layer, loss, optimizer and data-path ops (engine/nn,
 * engine/loss, engine/optim, engine/data), on top of internal.h's rft_check_*: each names the op
 * and the argument, and says what was expected and what came. Internal; static inline. */
#ifndef RFT_OPS_CHECK_H
#define RFT_OPS_CHECK_H
#include "internal.h"

/* t is f32 and on ref's device (t non-NULL). */
static inline int ops_f32_like(const char *op, const char *arg, const rft_tensor *t, const rft_tensor *ref)
{
    RFT_TRY(rft_check_dtype(op, arg, t, RFT_F32));
    return rft_check_same_device(op, arg, ref, t);
}

/* t has exactly ref's shape. */
static inline int ops_same_shape(const char *op, const char *arg, const rft_tensor *t, const char *ref_arg,
                                 const rft_tensor *ref)
{
    bool same = t->ndim == ref->ndim;
    for (int i = 0; same && i < t->ndim; i++) same = t->shape[i] == ref->shape[i];
    if (!same)
        return rft_fail(RFT_ESHAPE, "%s: %s has shape %s, expected %s like %s", op, arg, rft_shape_str(t),
                        rft_shape_str(ref), ref_arg);
    return RFT_OK;
}

/* A per-channel vector: f32 [C] on x's device. */
static inline int ops_channel_vector(const char *op, const char *arg, const rft_tensor *t, int64_t c,
                                     const rft_tensor *x)
{
    RFT_TRY(ops_f32_like(op, arg, t, x));
    if (t->ndim != 1 || t->shape[0] != c)
        return rft_fail(RFT_ESHAPE, "%s: %s has shape %s, expected [%lld] (one per channel of input %s)", op,
                        arg, rft_shape_str(t), (long long)c, rft_shape_str(x));
    return RFT_OK;
}

/* A tap gradient in factored form (rft.h, rft_invariance_loss_factored, rft_fma_loss_factored) for the
   map f, B rows of D values: coef f32 [B,2] or [B,3] (the third column a constant of the row), means
   f32 [R,D] (R >= 1) or f itself (the FMA form, whose rows are each other's partners), index i32 [B,2],
   all on f's device. coef and index share memory with neither f nor out (the tensor the op writes; may
   be NULL), means not with out. The index values: ops_factored_rows, from the kernels that read them
   (a device's data is not host memory). */
static inline int ops_factored(const char *op, const rft_tensor *f, const rft_tensor *coef, const rft_tensor *means,
                               const rft_tensor *index, const rft_tensor *out)
{
    RFT_TRY(ops_f32_like(op, "coef", coef, f));
    RFT_TRY(ops_f32_like(op, "means", means, f));
    RFT_TRY(rft_check_dtype(op, "index", index, RFT_I32));
    RFT_TRY(rft_check_same_device(op, "index", f, index));
    if (f->ndim < 1) return rft_fail(RFT_ESHAPE, "%s: the map %s must have a batch dimension", op, rft_shape_str(f));
    const int64_t b = f->shape[0], dim = b ? f->numel / b : 0;
    if (coef->ndim != 2 || coef->shape[0] != b || (coef->shape[1] != 2 && coef->shape[1] != 3))
        return rft_fail(RFT_ESHAPE, "%s: coef has shape %s, expected [%lld,2] or [%lld,3] (per row of the map %s)",
                        op, rft_shape_str(coef), (long long)b, (long long)b, rft_shape_str(f));
    if (index->ndim != 2 || index->shape[0] != b || index->shape[1] != 2)
        return rft_fail(RFT_ESHAPE, "%s: index has shape %s, expected [%lld,2] (two per row of the map %s)", op,
                        rft_shape_str(index), (long long)b, rft_shape_str(f));
    if (means != f && (means->ndim != 2 || means->shape[0] < 1 || means->shape[1] != dim))
        return rft_fail(RFT_ESHAPE, "%s: means has shape %s, expected [R,%lld] (rows of the map %s)", op,
                        rft_shape_str(means), (long long)dim, rft_shape_str(f));
    const rft_tensor *parts[3] = { coef, means, index };
    const char *names[3] = { "coef", "means", "index" };
    for (int k = 0; k < 3; k++)
        if ((k != 1 && parts[k]->storage == f->storage) || (out && parts[k]->storage == out->storage))
            return rft_fail(RFT_EARG, "%s: %s shares memory with the %s", op, names[k],
                            out && parts[k]->storage == out->storage ? "output" : "map");
    return RFT_OK;
}

/* The row a loop over b rows visits at step t, in pair order: 0, b/2, 1, b/2 + 1, ... when b is even, t
   itself when odd. In a two-view batch [x ; x~] the rows i and i + b/2 are the two views of one image,
   each the other's partner in FMA's factored tap gradient (index = {partner, itself}): visited one after
   the other, the partner a row reads is the row just read, still in cache, and every map is read once
   instead of twice. Each row's values are independent of the order. */
static inline int64_t ops_pair_row(int64_t t, int64_t b)
{
    return b % 2 ? t : (t >> 1) + (t & 1) * (b >> 1);
}

/* Row i's coefficients of a factored tap gradient: coef [B,ncol], the constant 0 where ncol = 2. */
typedef struct { float w, r, c; } ops_row_coef;
static inline ops_row_coef ops_factored_coef(const float *coef, int64_t ncol, int64_t i)
{
    const float *p = coef + ncol * i;
    return (ops_row_coef){ p[0], p[1], ncol > 2 ? p[2] : 0.0f };
}

/* Every index in [0, rows): called by the CPU kernels before they read means[index]. */
static inline int ops_factored_rows(const char *op, const rft_tensor *index, int64_t rows)
{
    const int32_t *ix = rft_i32(index);
    for (int64_t k = 0; k < index->numel; k++)
        if (ix[k] < 0 || ix[k] >= rows)
            return rft_fail(RFT_EARG, "%s: index[%lld][%lld] = %d, expected a row of means (0..%lld)", op,
                            (long long)(k / 2), (long long)(k % 2), (int)ix[k], (long long)(rows - 1));
    return RFT_OK;
}

/* One value of a factored tap gradient's row:  cw (a - gm) - cr (a - rm) + c (k: the row's
   ops_factored_coef), the value rft_factored_grad writes (and pass 3 of the invariance loss), rounded
   the same way everywhere (c = 0 adds nothing). */
static inline float ops_factored_value(float a, float gm, float rm, ops_row_coef k)
{
    return k.w * (a - gm) - k.r * (a - rm) + k.c;
}

/* v where y > 0, else +0: a ReLU's mask as a bitwise and, so that v is formed for every element and
   the loop vectorises on every instruction set (as `y > 0 ? v : 0` GCC leaves the AVX2 clone scalar
   with a branch an element when v is a sum: it does not execute a floating-point add the condition
   skips; AVX-512 masks it). The same values as the conditional. */
static inline float ops_relu_keep(float y, float v)
{
    union { float f; uint32_t u; } b = { v };
    b.u &= (uint32_t)0 - (uint32_t)(y > 0.0f);
    return b.f;
}

#endif
