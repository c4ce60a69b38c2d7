/* affine.c: affine warp by inverse mapping (DESIGN.md §4, the heavier scheme's geometric part):
 * output pixel (u, v) (column, row) reads the input at (a u + b v + c, d u + e v + f) with bilinear
 * interpolation; what falls outside comes from the border mode (edge-replicate in the paper's code).
 * One matrix per image, theta [N,2,3] (or [1,2,3] for all). rft.aug builds the matrices from
 * rotation, translation, shear and zoom about the centre; this kernel only samples. */
#include "aug_cpu.h"
#include <stdlib.h>

int rft_aug_affine(int border, const rft_tensor *theta, const rft_tensor *x, rft_tensor *y)
{
    static const char *op = "aug_affine";
    RFT_TRY(aug_check_io(op, x, y, false, false));
    RFT_TRY(aug_check_border(op, border));
    RFT_TRY(rft_check_dtype(op, "theta", theta, RFT_F32));
    RFT_TRY(rft_check_same_device(op, "theta", x, theta));
    if (theta->ndim != 3 || theta->shape[1] != 2 || theta->shape[2] != 3 ||
        (theta->shape[0] != 1 && theta->shape[0] != x->shape[0]))
        return rft_fail(RFT_ESHAPE, "%s: theta must be [%lld,2,3] (one matrix per image) or [1,2,3], got %s", op,
                        (long long)x->shape[0], rft_shape_str(theta));
    if (theta->device == RFT_CPU)
        for (int64_t i = 0; i < theta->numel; i++)
            if (!isfinite(rft_f32(theta)[i]))
                return rft_fail(RFT_EARG, "%s: theta[%lld] = %g is not finite", op, (long long)i, rft_f32(theta)[i]);
    RFT_DISPATCH(op, x, aug_affine, border, theta, x, y);
}

/* Output row v of one image (all C planes): source positions first, in a loop that vectorises,
   then the taps, read directly where all four lie inside the image (the common case) and through
   the border mode elsewhere; both ways compute rft_aug_bilinear. */
AUG_CLONES static void affine_row(const float *m, int64_t v, const float *in, int64_t C, int64_t H, int64_t W,
                                  int border, float *out, float *scratch /* [2W] */)
{
    int64_t hw = H * W;
    float *xsrc = scratch, *ysrc = scratch + W;
    for (int64_t u = 0; u < W; u++) rft_aug_affine_src(m, u, v, &xsrc[u], &ysrc[u]);
    for (int64_t u = 0; u < W; u++) {
        float ax, ay;
        int64_t x0 = rft_aug_cell(xsrc[u], &ax), y0 = rft_aug_cell(ysrc[u], &ay);
        if (x0 >= 0 && x0 + 1 < W && y0 >= 0 && y0 + 1 < H) {
            const float *p = in + y0 * W + x0;
            for (int64_t c = 0; c < C; c++, p += hw)
                out[c * hw + u] = rft_aug_clip(rft_aug_lerp2(p[0], p[1], p[W], p[W + 1], ax, ay));
        } else {
            for (int64_t c = 0; c < C; c++)
                out[c * hw + u] = rft_aug_clip(rft_aug_bilinear(in + c * hw, H, W, xsrc[u], ysrc[u], border));
        }
    }
}

/* Output row v of one image under edge-replicate (the paper's border): replicate is a clamp of the
   tap indices, so no pixel needs a branch and the tap loop vectorises with gathers. Same numbers
   as rft_aug_bilinear. scratch holds 4W floats and 4W int32. */
AUG_CLONES static void affine_row_replicate(const float *m, int64_t v, const float *in, int64_t C, int64_t H,
                                            int64_t W, float *out, float *scratch)
{
    int64_t hw = H * W;
    float *ax = scratch, *ay = scratch + W;
    int32_t *i00 = (int32_t *)(scratch + 2 * W), *i01 = i00 + W, *i10 = i00 + 2 * W, *i11 = i00 + 3 * W;
    int32_t wm = (int32_t)W - 1, hm = (int32_t)H - 1, w = (int32_t)W;
    for (int64_t u = 0; u < W; u++) {
        float xsrc, ysrc;
        rft_aug_affine_src(m, u, v, &xsrc, &ysrc);
        xsrc = xsrc < -8388608.0f ? -8388608.0f : xsrc > 8388608.0f ? 8388608.0f : xsrc;
        ysrc = ysrc < -8388608.0f ? -8388608.0f : ysrc > 8388608.0f ? 8388608.0f : ysrc;
        float fx = floorf(xsrc), fy = floorf(ysrc);
        ax[u] = xsrc - fx; ay[u] = ysrc - fy;
        int32_t x0 = (int32_t)fx, y0 = (int32_t)fy, x1 = x0 + 1, y1 = y0 + 1;
        x0 = x0 < 0 ? 0 : x0 > wm ? wm : x0; x1 = x1 < 0 ? 0 : x1 > wm ? wm : x1;
        y0 = y0 < 0 ? 0 : y0 > hm ? hm : y0; y1 = y1 < 0 ? 0 : y1 > hm ? hm : y1;
        i00[u] = y0 * w + x0; i01[u] = y0 * w + x1; i10[u] = y1 * w + x0; i11[u] = y1 * w + x1;
    }
    for (int64_t c = 0; c < C; c++) {
        const float *p = in + c * hw;
        float *o = out + c * hw;
        for (int64_t u = 0; u < W; u++)
            o[u] = rft_aug_clip(rft_aug_lerp2(p[i00[u]], p[i01[u]], p[i10[u]], p[i11[u]], ax[u], ay[u]));
    }
}

int rft_cpu_aug_affine(int border, const rft_tensor *theta, const rft_tensor *x, rft_tensor *y)
{
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], hw = H * W;
    const float *xs = rft_f32(x), *th = rft_f32(theta);
    float *ys = rft_f32(y);
    int per_image = theta->shape[0] != 1, failed = 0;
    /* x, y: (N, C, H, W); one output row of one image per piece of work, all channels at once so
       that the source position and weights are computed once per pixel */
    #pragma omp parallel if (x->numel > RFT_PAR_MIN)
    {
        float *scratch = malloc((size_t)(6 * W + 1) * sizeof(float));
        if (!scratch) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(static)
        for (int64_t t = 0; t < N * H; t++) {
            if (!scratch) continue;
            int64_t n = t / H, v = t % H;
            const float *m = th + (per_image ? n * 6 : 0);
            if (border == RFT_BORDER_REPLICATE && hw < INT32_MAX)
                affine_row_replicate(m, v, xs + n * C * hw, C, H, W, ys + n * C * hw + v * W, scratch);
            else
                affine_row(m, v, xs + n * C * hw, C, H, W, border, ys + n * C * hw + v * W, scratch);
        }
        free(scratch);
    }
    if (failed) return rft_fail(RFT_ENOMEM, "aug_affine: out of memory for a row of %lld positions", (long long)W);
    return RFT_OK;
}
