/* cc_blur.c: the generator's blurs: gaussian_blur (scikit-image's gaussian, 'nearest' border),
 * glass_blur (blur, truncate to uint8, local pixel copies, blur), defocus_blur (OpenCV's filter2D with
 * an anti-aliased disk, reflect-101 border), zoom_blur (the mean of the image and its centre zooms,
 * in float32), motion_blur (ImageMagick's motion blur at a random angle) and snow (a zoomed,
 * thresholded, motion-blurred layer of normal noise over a whitened image). */
#include "corrupt.h"

int cc_gaussian_blur(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5] = { 0.4, 0.6, 0.7, 0.8, 1.0 };
    (void)r;
    for (int k = 0; k < CC_N; k++) im->out[k] = im->in[k] / 255.0;
    for (int ch = 0; ch < 3; ch++) cc_gaussian_plane(im->out + ch * CC_P, CC_S, CC_S, c[sev - 1], 4.0, CC_NEAREST);
    for (int k = 0; k < CC_N; k++) im->out[k] = cc_clip(im->out[k], 0.0, 1.0) * 255.0;
    return RFT_OK;
}

int cc_glass_blur(const cc_img *im, int sev, cc_rng *r)
{
    /* sigma, max_delta, iterations */
    static const double c[5][3] = { { 0.05, 1, 1 }, { 0.25, 1, 1 }, { 0.4, 1, 1 }, { 0.25, 1, 2 }, { 0.4, 1, 2 } };
    double sigma = c[sev - 1][0];
    int d = (int)c[sev - 1][1], iters = (int)c[sev - 1][2];
    double *b = im->out;
    uint8_t u[CC_N];
    for (int k = 0; k < CC_N; k++) b[k] = im->in[k] / 255.0;
    for (int ch = 0; ch < 3; ch++) cc_gaussian_plane(b + ch * CC_P, CC_S, CC_S, sigma, 4.0, CC_NEAREST);
    for (int k = 0; k < CC_N; k++) { double v = b[k] * 255.0; u[k] = (uint8_t)(v > 0.0 ? (v < 255.0 ? (int)v : 255) : 0); }
    /* for h, w from 32 - d down to d + 1: pixel (h, w) takes (h + dy, w + dx), dx, dy in [-d, d) */
    for (int it = 0; it < iters; it++)
        for (int h = CC_S - d; h > d; h--)
            for (int w = CC_S - d; w > d; w--) {
                int dx = cc_randint(r, -d, d), dy = cc_randint(r, -d, d);
                int p = h * CC_S + w, q = (h + dy) * CC_S + w + dx;
                /* The generator's `x[h, w], x[h', w'] = x[h', w'], x[h, w]` on NumPy rows: the right
                   side holds views, so x[h', w'] gets back the values just written to x[h, w] and
                   keeps its own. The "swap" is a copy of (h', w') into (h, w). */
                for (int ch = 0; ch < 3; ch++) u[ch * CC_P + p] = u[ch * CC_P + q];
            }
    for (int k = 0; k < CC_N; k++) b[k] = u[k] / 255.0;
    for (int ch = 0; ch < 3; ch++) cc_gaussian_plane(b + ch * CC_P, CC_S, CC_S, sigma, 4.0, CC_NEAREST);
    for (int k = 0; k < CC_N; k++) b[k] = cc_clip(b[k], 0.0, 1.0) * 255.0;
    return RFT_OK;
}

/* The generator's disk(radius, alias_blur): the 17x17 indicator of x² + y² <= r², normalised (float32),
   then cv2.GaussianBlur with a 3x3 kernel of std alias_blur and the reflect-101 border. */
static void defocus_kernel(double radius, double alias, double k[17][17])
{
    float d[17][17], sum = 0.0f;
    for (int y = 0; y < 17; y++)
        for (int x = 0; x < 17; x++) {
            d[y][x] = (double)((x - 8) * (x - 8) + (y - 8) * (y - 8)) <= radius * radius ? 1.0f : 0.0f;
            sum += d[y][x];
        }
    for (int y = 0; y < 17; y++)
        for (int x = 0; x < 17; x++) d[y][x] /= sum;
    float g[3];
    double gs = 0.0, e[3];
    for (int i = 0; i < 3; i++) { e[i] = exp(-0.5 / (alias * alias) * (double)((i - 1) * (i - 1))); gs += e[i]; }
    for (int i = 0; i < 3; i++) g[i] = (float)(e[i] / gs);
    float t[17][17];
    for (int y = 0; y < 17; y++)
        for (int x = 0; x < 17; x++) {
            float s = 0.0f;
            for (int i = 0; i < 3; i++) s += g[i] * d[y][cc_reflect101(x + i - 1, 17)];
            t[y][x] = s;
        }
    for (int y = 0; y < 17; y++)
        for (int x = 0; x < 17; x++) {
            float s = 0.0f;
            for (int i = 0; i < 3; i++) s += g[i] * t[cc_reflect101(y + i - 1, 17)][x];
            k[y][x] = (double)s;
        }
}

int cc_defocus_blur(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5][2] = { { 0.3, 0.4 }, { 0.4, 0.5 }, { 0.5, 0.6 }, { 1, 0.2 }, { 1.5, 0.1 } };
    (void)r;
    double k[17][17];
    defocus_kernel(c[sev - 1][0], c[sev - 1][1], k);
    /* the kernel is zero outside the blurred disk: visit only its bounding box (5x5 at most here),
       with the reflect-101 indices looked up once */
    int lo = 17, hi = -1;
    for (int i = 0; i < 17; i++)
        for (int j = 0; j < 17; j++)
            if (k[i][j] != 0.0) { lo = i < lo ? i : lo; lo = j < lo ? j : lo; hi = i > hi ? i : hi; hi = j > hi ? j : hi; }
    int idx[CC_S + 16];
    for (int t = 0; t < CC_S + 16; t++) idx[t] = cc_reflect101(t - 8, CC_S);
    for (int ch = 0; ch < 3; ch++) {
        const uint8_t *a = im->in + ch * CC_P;
        double v[CC_P];
        for (int p = 0; p < CC_P; p++) v[p] = a[p] / 255.0;
        for (int y = 0; y < CC_S; y++)
            for (int x = 0; x < CC_S; x++) {
                double s = 0.0;
                for (int i = lo; i <= hi; i++) {
                    const double *row = v + idx[y + i] * CC_S;
                    for (int j = lo; j <= hi; j++) s += k[i][j] * row[idx[x + j]];
                }
                im->out[ch * CC_P + y * CC_S + x] = cc_clip(s, 0.0, 1.0) * 255.0;
            }
    }
    return RFT_OK;
}

int cc_zoom_blur(const cc_img *im, int sev, cc_rng *r)
{
    /* np.arange(1, stop, 0.01): 7, 12, 16, 21, 26 factors start + i·delta, NumPy's delta being
       (start + step) - start = 0.010000000000000009 */
    static const int nz[5] = { 7, 12, 16, 21, 26 };
    volatile double one = 1.0;
    const double delta = (one + 0.01) - one;
    (void)r;
    for (int ch = 0; ch < 3; ch++) {
        float x[CC_P], acc[CC_P];
        double xd[CC_P], z[CC_P];
        for (int p = 0; p < CC_P; p++) { x[p] = (float)(im->in[ch * CC_P + p] / 255.0); xd[p] = x[p]; acc[p] = 0.0f; }
        for (int i = 0; i < nz[sev - 1]; i++) {
            cc_clipped_zoom(xd, z, CC_S, 1.0 + (double)i * delta);
            for (int p = 0; p < CC_P; p++) acc[p] += (float)z[p];   /* zoom writes float32 */
        }
        for (int p = 0; p < CC_P; p++) {
            float v = (x[p] + acc[p]) / (float)(nz[sev - 1] + 1);
            im->out[ch * CC_P + p] = (double)(cc_clipf(v, 0.0f, 1.0f) * 255.0f);
        }
    }
    return RFT_OK;
}

int cc_motion_blur(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5][2] = { { 6, 1 }, { 6, 1.5 }, { 6, 2 }, { 8, 2 }, { 9, 2.5 } };
    double angle = cc_uniform_ab(r, -45.0, 45.0);
    uint8_t o[CC_P];
    for (int ch = 0; ch < 3; ch++) {
        cc_motion_blur_plane(im->in + ch * CC_P, o, CC_S, CC_S, c[sev - 1][0], c[sev - 1][1], angle);
        for (int p = 0; p < CC_P; p++) im->out[ch * CC_P + p] = o[p];
    }
    return RFT_OK;
}

int cc_snow(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5][7] = { { 0.1, 0.2, 1, 0.6, 8, 3, 0.95 },
                                    { 0.1, 0.2, 1, 0.5, 10, 4, 0.9 },
                                    { 0.15, 0.3, 1.75, 0.55, 10, 4, 0.9 },
                                    { 0.25, 0.3, 2.25, 0.6, 12, 6, 0.85 },
                                    { 0.3, 0.3, 1.25, 0.65, 14, 12, 0.8 } };
    const double *s = c[sev - 1];
    double layer[CC_P], zl[CC_P];
    for (int p = 0; p < CC_P; p++) layer[p] = s[0] + s[1] * cc_normal(r);
    cc_clipped_zoom(layer, zl, CC_S, s[2]);
    uint8_t g[CC_P], gb[CC_P];
    for (int p = 0; p < CC_P; p++) {
        double v = zl[p] < s[3] ? 0.0 : zl[p];
        g[p] = (uint8_t)(int)(cc_clip(v, 0.0, 1.0) * 255.0);
    }
    double angle = cc_uniform_ab(r, -135.0, -45.0);
    cc_motion_blur_plane(g, gb, CC_S, CC_S, s[4], s[5], angle);
    float x[CC_N];
    for (int k = 0; k < CC_N; k++) x[k] = (float)im->in[k] / 255.0f;   /* float32 array / 255. */
    float c6 = (float)s[6], c6m = (float)(1.0 - s[6]);
    for (int p = 0; p < CC_P; p++) {
        /* cv2.cvtColor(RGB2GRAY) in float32, then ·1.5 + 0.5 */
        float gray = x[p] * 0.299f + x[CC_P + p] * 0.587f + x[2 * CC_P + p] * 0.114f;
        float wg = gray * 1.5f + 0.5f;
        double sa = gb[p] / 255.0, sb = gb[CC_P - 1 - p] / 255.0;   /* the layer and its 180° rotation */
        for (int ch = 0; ch < 3; ch++) {
            float v = x[ch * CC_P + p];
            float m = v > wg ? v : wg;
            float xv = c6 * v + c6m * m;
            im->out[ch * CC_P + p] = cc_clip(((double)xv + sa) + sb, 0.0, 1.0) * 255.0;
        }
    }
    return RFT_OK;
}
