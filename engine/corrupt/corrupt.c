/* corrupt.c: the CIFAR-10-C corruptions as one batched call (DESIGN.md §5): the table of names and
 * kernels in the generator's order, the argument checks, and the loop over images (OpenMP, one
 * image per iteration, each with its own Philox stream) that ends every corruption as the
 * generator's np.uint8(...) does: clip to [0, 255], truncate, and write v/255 in the data path's
 * rounding. The corruptions themselves are in the other files of this folder. */
#include "corrupt.h"
#include <stdio.h>

static const struct { const char *name; cc_fn fn; } table[RFT_CORRUPT_COUNT] = {
    { "gaussian_noise", cc_gaussian_noise },   { "shot_noise", cc_shot_noise },
    { "impulse_noise", cc_impulse_noise },     { "defocus_blur", cc_defocus_blur },
    { "glass_blur", cc_glass_blur },           { "motion_blur", cc_motion_blur },
    { "zoom_blur", cc_zoom_blur },             { "snow", cc_snow },
    { "frost", cc_frost_fn },                  { "fog", cc_fog },
    { "brightness", cc_brightness },           { "contrast", cc_contrast },
    { "elastic_transform", cc_elastic_transform }, { "pixelate", cc_pixelate },
    { "jpeg_compression", cc_jpeg_compression },
    /* the extras */
    { "speckle_noise", cc_speckle_noise },     { "gaussian_blur", cc_gaussian_blur },
    { "spatter", cc_spatter },                 { "saturate", cc_saturate },
};

const char *rft_corrupt_name(int k) { return k >= 0 && k < RFT_CORRUPT_COUNT ? table[k].name : NULL; }

int rft_corrupt_apply(int corruption, int severity, uint64_t seed, const rft_tensor *ids, const rft_tensor *x,
                      rft_tensor *y)
{
    static const char *op = "corrupt";
    if (corruption < 0 || corruption >= RFT_CORRUPT_COUNT)
        return rft_fail(RFT_EARG, "%s: corruption = %d, expected 0..%d", op, corruption, RFT_CORRUPT_COUNT - 1);
    const char *name = table[corruption].name;
    if (severity < 1 || severity > 5)
        return rft_fail(RFT_EARG, "%s: %s severity = %d, expected 1..5", op, name, severity);
    RFT_TRY(rft_check_dtype(op, "x", x, RFT_F32));
    RFT_TRY(rft_check_cpu(op, "x", x));
    if (x->ndim != 4 || x->shape[1] != 3 || x->shape[2] != CC_S || x->shape[3] != CC_S)
        return rft_fail(RFT_ESHAPE, "%s: x must be [N,3,32,32] (CIFAR's severities are for 32x32 RGB), got %s",
                        op, rft_shape_str(x));
    RFT_TRY(rft_check_dtype(op, "y", y, RFT_F32));
    RFT_TRY(rft_check_cpu(op, "y", y));
    int64_t n = x->shape[0];
    if (ids) {
        RFT_TRY(rft_check_dtype(op, "ids", ids, RFT_I32));
        RFT_TRY(rft_check_cpu(op, "ids", ids));
        if (ids->numel != n)
            return rft_fail(RFT_ESHAPE, "%s: ids must hold %lld values (one per image), got %s", op, (long long)n,
                            rft_shape_str(ids));
    }
    if (corruption == 8 && !cc_frost(0))
        return rft_fail(RFT_EARG, "%s: frost needs the frost photographs: call rft_corrupt_frost_load first", op);
    if (y != x) RFT_TRY(rft_tensor_resize(y, 4, x->shape));
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    const int32_t *id = ids ? rft_i32(ids) : NULL;
    cc_fn fn = table[corruption].fn;
    int failed = 0;
    char msg[256] = { 0 };
    /* every image costs about the same; dynamic scheduling still helps the slow few (glass, snow) */
    #pragma omp parallel for schedule(dynamic, 4) if (n > 1)
    for (int64_t i = 0; i < n; i++) {
        if (failed) continue;
        uint8_t in[CC_N];
        double out[CC_N];
        const float *a = xs + i * CC_N;
        for (int k = 0; k < CC_N; k++) {
            float v = a[k] * 255.0f;
            in[k] = (uint8_t)(v <= 0.0f ? 0 : (v >= 255.0f ? 255 : (int)lrintf(v)));
        }
        cc_rng r = { seed, ((uint64_t)(uint32_t)(id ? id[i] : (int32_t)i) << 32) | ((uint64_t)corruption << 8)
                           | (uint64_t)severity, 0, { 0 }, 0, 0, 0.0 };
        cc_img img = { in, out };
        if (fn(&img, severity, &r) != RFT_OK) {
            #pragma omp critical(rft_corrupt_fail)
            if (!failed) { failed = 1; snprintf(msg, sizeof msg, "%s", rft_last_error()); }
            continue;
        }
        float *b = ys + i * CC_N;
        for (int k = 0; k < CC_N; k++) {
            double v = out[k];
            /* np.uint8 of the clipped value: truncation (NaN, which the generator never makes, as 0) */
            uint8_t u = (uint8_t)(v >= 255.0 ? 255 : (v > 0.0 ? (int)v : 0));
            b[k] = (float)u * (1.0f / 255.0f);
        }
    }
    if (failed) return rft_fail(RFT_EARG, "%s: %s severity %d: %s", op, name, severity, msg);
    return RFT_OK;
}
