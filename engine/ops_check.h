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

#endif
