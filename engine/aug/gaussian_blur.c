/* gaussian_blur.c: Gaussian blur, each channel convolved with the normalised size x size kernel
 * exp(-(u²+v²)/2σ²) (DESIGN.md §4, GB; paper Table 1: size 3, σ = 0.675 on CIFAR-10), done as a
 * row pass and a column pass with the 1-D weights of rft_aug_gauss_weights. The border mode says
 * what lies outside the image: reflect-101 (c b | a b c d) is the default of rft.aug and OpenCV;
 * reflect, replicate, constant zeros (torch's zero padding) and wrap are options. size and σ may
 * differ per image. */
#include "aug_cpu.h"
#include <stdlib.h>

enum { MAX_SIZE = 255 };

int rft_aug_gaussian_blur(int border, const rft_tensor *size, const rft_tensor *sigma, const rft_tensor *x,
                          rft_tensor *y)
{
    static const char *op = "aug_gaussian_blur";
    RFT_TRY(aug_check_io(op, x, y, false, true));
    RFT_TRY(aug_check_border(op, border));
    int64_t side = x->shape[2] < x->shape[3] ? x->shape[2] : x->shape[3];
    double most = 2 * side - 1 < MAX_SIZE ? 2 * side - 1 : MAX_SIZE;
    RFT_TRY(aug_check_param(op, "size", size, x, 1, most, true));
    if (size->device == RFT_CPU)
        for (int64_t i = 0; i < size->numel; i++)
            if ((int)rft_f32(size)[i] % 2 == 0)
                return rft_fail(RFT_EARG, "%s: size = %g (value %lld), expected an odd number", op, rft_f32(size)[i],
                                (long long)i + 1);
    RFT_TRY(aug_check_param(op, "sigma", sigma, x, 0, INFINITY, false));
    RFT_DISPATCH(op, x, aug_gaussian_blur, border, size, sigma, x, y);
}

/* Output i of a line of n values read with stride `step`: Σ_u w[u+r] src[border(i + u)]. */
static float blur_at(const float *src, int64_t step, int64_t n, int64_t i, const float *w, int r, int border)
{
    float s = 0.0f;
    for (int u = -r; u <= r; u++) {
        int64_t j = rft_aug_border(i + u, n, border);
        if (j >= 0) s = rft_aug_tap(s, w[u + r], src[j * step]);
    }
    return s;
}

/* One plane: rows into tmp (H x W), then columns from tmp into out, clipped. The interior of each
   pass runs without border logic, the taps outermost so that the loop over columns vectorises; every
   output sums its taps in the order u = -r .. r, inside and at the border alike. */
static void blur_plane(const float *in, int64_t H, int64_t W, const float *w, int r, int border, float *tmp,
                       float *out)
{
    for (int64_t h = 0; h < H; h++) {
        const float *row = in + h * W;
        float *t = tmp + h * W;
        if (W <= 2 * r) {
            for (int64_t i = 0; i < W; i++) t[i] = blur_at(row, 1, W, i, w, r, border);
            continue;
        }
        for (int64_t i = r; i < W - r; i++) t[i] = w[0] * row[i - r];
        for (int u = -r + 1; u <= r; u++) {
            const float wu = w[u + r], *src = row + u;
            for (int64_t i = r; i < W - r; i++) t[i] = rft_aug_tap(t[i], wu, src[i]);
        }
        for (int i = 0; i < r; i++) {
            t[i] = blur_at(row, 1, W, i, w, r, border);
            t[W - 1 - i] = blur_at(row, 1, W, W - 1 - i, w, r, border);
        }
    }
    for (int64_t h = 0; h < H; h++) {
        float *o = out + h * W;
        if (h >= r && h < H - r) {
            const float *c = tmp + (h - r) * W;
            for (int64_t i = 0; i < W; i++) o[i] = w[0] * c[i];
            for (int u = -r + 1; u <= r; u++) {
                const float wu = w[u + r], *src = tmp + (h + u) * W;
                for (int64_t i = 0; i < W; i++) o[i] = rft_aug_tap(o[i], wu, src[i]);
            }
        } else {
            for (int64_t i = 0; i < W; i++) o[i] = 0.0f;
            for (int u = -r; u <= r; u++) {
                int64_t j = rft_aug_border(h + u, H, border);
                if (j < 0) continue;
                const float wu = w[u + r], *src = tmp + j * W;
                for (int64_t i = 0; i < W; i++) o[i] = rft_aug_tap(o[i], wu, src[i]);
            }
        }
        for (int64_t i = 0; i < W; i++) o[i] = rft_aug_clip(o[i]);
    }
}

int rft_cpu_aug_gaussian_blur(int border, const rft_tensor *size, const rft_tensor *sigma, const rft_tensor *x,
                              rft_tensor *y)
{
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], hw = H * W;
    const float *xs = rft_f32(x);
    float *ys = rft_f32(y);
    rft_aug_pf sz = aug_pf(size), sg = aug_pf(sigma);
    int failed = 0;
    /* x, y: (N*C planes, H, W); tmp: one plane per thread. y may be x: a plane is read whole into
       tmp before its output is written. */
    #pragma omp parallel if (x->numel > RFT_PAR_MIN)
    {
        float *tmp = malloc((size_t)(hw ? hw : 1) * sizeof(float));
        if (!tmp) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(static)
        for (int64_t p = 0; p < N * C; p++) {
            if (!tmp) continue;
            int s = (int)rft_aug_get(sz, p / C);
            float w[MAX_SIZE];
            rft_aug_gauss_weights(s, rft_aug_get(sg, p / C), w);
            blur_plane(xs + p * hw, H, W, w, s / 2, border, tmp, ys + p * hw);
        }
        free(tmp);
    }
    if (failed) return rft_fail(RFT_ENOMEM, "aug_gaussian_blur: out of memory for a %lldx%lld scratch plane",
                                (long long)H, (long long)W);
    return RFT_OK;
}
