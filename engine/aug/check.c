/* check.c: argument checks shared by the augmentation kernels (declared in aug_check.h), the
 * per-image parameter draws behind aug.uniform / truncnormal / choice (rft_aug_draw) and the stream
 * mixing of pipelines (rft_aug_substream). */
#include "aug_cpu.h"
#include <math.h>

/* aug_math.h repeats these constants for nvcc, which does not read rft.h. */
_Static_assert((int)RFT_AUG_REFLECT101 == (int)RFT_BORDER_REFLECT101 && (int)RFT_AUG_REFLECT == (int)RFT_BORDER_REFLECT
               && (int)RFT_AUG_REPLICATE == (int)RFT_BORDER_REPLICATE
               && (int)RFT_AUG_CONSTANT == (int)RFT_BORDER_CONSTANT && (int)RFT_AUG_WRAP == (int)RFT_BORDER_WRAP,
               "aug_math.h's border modes differ from rft.h's");
_Static_assert((int)RFT_AUG_DRAW_UNIFORM == (int)RFT_DRAW_UNIFORM
               && (int)RFT_AUG_DRAW_TRUNCNORMAL == (int)RFT_DRAW_TRUNCNORMAL
               && (int)RFT_AUG_DRAW_CHOICE == (int)RFT_DRAW_CHOICE && (int)RFT_AUG_DRAW_INTEGER == (int)RFT_DRAW_INTEGER
               && (int)RFT_AUG_DRAW_BERNOULLI == (int)RFT_DRAW_BERNOULLI,
               "aug_math.h's draw kinds differ from rft.h's");

static const char *border_names = "reflect101 (0), reflect (1), replicate (2), constant (3), wrap (4)";

int aug_check_border(const char *op, int border)
{
    if (border < RFT_BORDER_REFLECT101 || border > RFT_BORDER_WRAP)
        return rft_fail(RFT_EARG, "%s: border = %d, expected one of %s", op, border, border_names);
    return RFT_OK;
}

int aug_check_io(const char *op, const rft_tensor *x, rft_tensor *y, bool rgb, bool inplace_ok)
{
    RFT_TRY(rft_check_dtype(op, "x", x, RFT_F32));
    if (x->ndim != 4)
        return rft_fail(RFT_ESHAPE, "%s: x must be [N,C,H,W], got %s", op, rft_shape_str(x));
    if (rgb && x->shape[1] != 3)
        return rft_fail(RFT_ESHAPE, "%s: x must have 3 channels (RGB), got %s", op, rft_shape_str(x));
    RFT_TRY(rft_check_dtype(op, "y", y, RFT_F32));
    RFT_TRY(rft_check_same_device(op, "y", x, y));
    if (y == x) {
        if (!inplace_ok) return rft_fail(RFT_EARG, "%s: y must not be x (this op reads neighbours)", op);
        return RFT_OK;
    }
    if (!inplace_ok && y->storage == x->storage)
        return rft_fail(RFT_EARG, "%s: y must not share memory with x (this op reads neighbours)", op);
    return rft_tensor_resize(y, 4, x->shape);
}

int aug_check_param(const char *op, const char *arg, const rft_tensor *t, const rft_tensor *x, double lo,
                    double hi, bool integer)
{
    RFT_TRY(rft_check_dtype(op, arg, t, RFT_F32));
    RFT_TRY(rft_check_same_device(op, arg, x, t));
    int64_t n = x->shape[0];
    if (t->numel != 1 && t->numel != n)
        return rft_fail(RFT_ESHAPE, "%s: %s must hold 1 value or %lld (one per image of x %s), got %s", op, arg,
                        (long long)n, rft_shape_str(x), rft_shape_str(t));
    if (t->device != RFT_CPU) return RFT_OK;
    const float *v = rft_f32(t);
    for (int64_t i = 0; i < t->numel; i++) {
        if (!(v[i] >= lo && v[i] <= hi))
            return rft_fail(RFT_EARG, "%s: %s = %g (value %lld), expected %g <= %s <= %g", op, arg, v[i],
                            (long long)i + 1, lo, arg, hi);
        if (integer && v[i] != floorf(v[i]))
            return rft_fail(RFT_EARG, "%s: %s = %g (value %lld), expected a whole number", op, arg, v[i],
                            (long long)i + 1);
    }
    return RFT_OK;
}

int aug_check_ids(const char *op, const rft_tensor *ids, int64_t n, const rft_tensor *ref)
{
    if (!ids) return RFT_OK;
    RFT_TRY(rft_check_dtype(op, "ids", ids, RFT_I32));
    RFT_TRY(rft_check_same_device(op, "ids", ref, ids));
    if (ids->numel != n)
        return rft_fail(RFT_ESHAPE, "%s: ids must hold %lld values (one per image), got %s", op, (long long)n,
                        rft_shape_str(ids));
    return RFT_OK;
}

/* murmur3's finaliser: a bijection of 32-bit words that mixes every bit. */
static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16;
    return h;
}

uint32_t rft_aug_substream(uint32_t stream, uint32_t k) { return fmix32(stream * 0x9E3779B1u + fmix32(k + 1)); }

/* ---- per-image parameter draws ---------------------------------------------------------------- */

int rft_aug_draw(int kind, int nvalues, const float *values, uint64_t seed, uint32_t stream, const rft_tensor *ids,
                 int64_t n, rft_tensor *out)
{
    static const char *op = "aug_draw";
    RFT_TRY(rft_check_dtype(op, "out", out, RFT_F32));
    if (ids && ids->numel != n)
        return rft_fail(RFT_ESHAPE, "%s: ids must hold n = %lld values, got %s", op, (long long)n, rft_shape_str(ids));
    RFT_TRY(aug_check_ids(op, ids, n, out));
    if (n < 0) return rft_fail(RFT_EARG, "%s: n = %lld, expected >= 0", op, (long long)n);
    if (!values && nvalues > 0) return rft_fail(RFT_EARG, "%s: values is NULL", op);
    switch (kind) {
    case RFT_DRAW_UNIFORM: case RFT_DRAW_TRUNCNORMAL: case RFT_DRAW_INTEGER:
        if (nvalues != 2) return rft_fail(RFT_EARG, "%s: this kind takes 2 values {a, b}, got %d", op, nvalues);
        if (!(values[0] <= values[1]))
            return rft_fail(RFT_EARG, "%s: range [%g, %g] is empty (expected a <= b)", op, values[0], values[1]);
        if (kind == RFT_DRAW_INTEGER && (values[0] != floorf(values[0]) || values[1] != floorf(values[1])))
            return rft_fail(RFT_EARG, "%s: integer range [%g, %g] must have whole-number ends", op, values[0],
                            values[1]);
        break;
    case RFT_DRAW_CHOICE:
        if (nvalues < 1) return rft_fail(RFT_EARG, "%s: choice needs at least 1 value, got %d", op, nvalues);
        break;
    case RFT_DRAW_BERNOULLI:
        if (nvalues != 1 || !(values[0] >= 0 && values[0] <= 1))
            return rft_fail(RFT_EARG, "%s: bernoulli takes 1 value p in [0, 1], got %d values%s", op, nvalues,
                            nvalues >= 1 ? " (p out of range)" : "");
        break;
    default:
        return rft_fail(RFT_EARG, "%s: kind = %d, expected uniform (0), truncnormal (1), choice (2), integer (3) "
                        "or bernoulli (4)", op, kind);
    }
    int64_t shape[1] = { n };
    RFT_TRY(rft_tensor_resize(out, 1, shape));
    RFT_DISPATCH(op, out, aug_draw, kind, nvalues, values, seed, stream, ids, out);
}

int rft_cpu_aug_draw(int kind, int nvalues, const float *values, uint64_t seed, uint32_t stream,
                     const rft_tensor *ids, rft_tensor *out)
{
    float *o = rft_f32(out);
    for (int64_t i = 0; i < out->numel; i++)
        o[i] = rft_aug_draw_value(kind, nvalues, values, seed, rft_aug_stream(aug_id(ids, i), stream));
    return RFT_OK;
}
