/* cc_color.c: the generator's photometric corruptions: brightness and saturate (scikit-image's HSV:
 * V + c, or S·c0 + c1, clipped to [0, 1]), contrast ((x - mean)·c + mean per channel), fog (a
 * diamond-square plasma fractal added, rescaled by max/(max + c0)) and frost (a blend with a crop of
 * one of the frost photographs). */
#include "corrupt.h"

static void hsv_edit(const cc_img *im, int channel, double mul, double add)
{
    for (int p = 0; p < CC_P; p++) {
        double rgb[3] = { im->in[p] / 255.0, im->in[CC_P + p] / 255.0, im->in[2 * CC_P + p] / 255.0 }, hsv[3];
        cc_rgb2hsv(rgb, hsv);
        hsv[channel] = cc_clip(hsv[channel] * mul + add, 0.0, 1.0);
        cc_hsv2rgb(hsv, rgb);
        for (int c = 0; c < 3; c++) im->out[c * CC_P + p] = cc_clip(rgb[c], 0.0, 1.0) * 255.0;
    }
}

int cc_brightness(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5] = { 0.05, 0.1, 0.15, 0.2, 0.3 };
    (void)r;
    hsv_edit(im, 2, 1.0, c[sev - 1]);
    return RFT_OK;
}

int cc_saturate(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5][2] = { { 0.3, 0 }, { 0.1, 0 }, { 1.5, 0 }, { 2, 0.1 }, { 2.5, 0.2 } };
    (void)r;
    hsv_edit(im, 1, c[sev - 1][0], c[sev - 1][1]);
    return RFT_OK;
}

int cc_contrast(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5] = { 0.75, 0.5, 0.4, 0.3, 0.15 };
    (void)r;
    for (int ch = 0; ch < 3; ch++) {
        const uint8_t *a = im->in + ch * CC_P;
        double m = 0.0;
        for (int p = 0; p < CC_P; p++) m += a[p] / 255.0;
        m /= CC_P;
        for (int p = 0; p < CC_P; p++) im->out[ch * CC_P + p] = cc_clip((a[p] / 255.0 - m) * c[sev - 1] + m, 0.0, 1.0) * 255.0;
    }
    return RFT_OK;
}

/* The generator's plasma_fractal(mapsize=32, wibbledecay): diamond-square with np.roll's wrap,
   each new point the mean of its four neighbours plus wibble·U(-wibble, wibble), drawn row by row
   for each filled grid; then shifted and scaled to [0, 1]. */
static void plasma(double m[CC_S][CC_S], double decay, cc_rng *r)
{
    const int n0 = CC_S;
    double wibble = 100.0;
    m[0][0] = 0.0;
    for (int step = n0; step >= 2; step /= 2, wibble /= decay) {
        int n = n0 / step, h = step / 2;
        /* squares: centre (h + i·step, h + j·step) from the corners (i,j), (i+1,j), (i,j+1), (i+1,j+1) */
        double sq[CC_S][CC_S];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int i1 = (i + 1) % n, j1 = (j + 1) % n;
                sq[i][j] = (m[i * step][j * step] + m[i1 * step][j * step])
                           + (m[i * step][j1 * step] + m[i1 * step][j1 * step]);
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) m[h + i * step][h + j * step] = sq[i][j] / 4 + wibble * cc_uniform_ab(r, -wibble, wibble);
        /* diamonds: (i·step, h + j·step) and then (h + i·step, j·step) */
        double lt[CC_S][CC_S], tt[CC_S][CC_S];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int im1 = (i + n - 1) % n, jm1 = (j + n - 1) % n, i1 = (i + 1) % n, j1 = (j + 1) % n;
                double dr = m[h + i * step][h + j * step];
                lt[i][j] = (dr + m[h + im1 * step][h + j * step]) + (m[i * step][j * step] + m[i * step][j1 * step]);
                tt[i][j] = (dr + m[h + i * step][h + jm1 * step]) + (m[i * step][j * step] + m[i1 * step][j * step]);
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) m[i * step][h + j * step] = lt[i][j] / 4 + wibble * cc_uniform_ab(r, -wibble, wibble);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) m[h + i * step][j * step] = tt[i][j] / 4 + wibble * cc_uniform_ab(r, -wibble, wibble);
    }
    double mn = m[0][0], mx;
    for (int i = 0; i < n0; i++)
        for (int j = 0; j < n0; j++) mn = fmin(mn, m[i][j]);
    for (int i = 0; i < n0; i++)
        for (int j = 0; j < n0; j++) m[i][j] -= mn;
    mx = m[0][0];
    for (int i = 0; i < n0; i++)
        for (int j = 0; j < n0; j++) mx = fmax(mx, m[i][j]);
    for (int i = 0; i < n0; i++)
        for (int j = 0; j < n0; j++) m[i][j] /= mx;
}

int cc_fog(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5][2] = { { 0.2, 3 }, { 0.5, 3 }, { 0.75, 2.5 }, { 1, 2 }, { 1.5, 1.75 } };
    double pl[CC_S][CC_S];
    plasma(pl, c[sev - 1][1], r);
    double mx = 0.0;
    for (int k = 0; k < CC_N; k++) mx = fmax(mx, im->in[k] / 255.0);
    double c0 = c[sev - 1][0];
    for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < CC_P; p++) {
            double x = im->in[ch * CC_P + p] / 255.0 + c0 * pl[p / CC_S][p % CC_S];
            im->out[ch * CC_P + p] = cc_clip(x * mx / (mx + c0), 0.0, 1.0) * 255.0;
        }
    return RFT_OK;
}

int cc_frost_fn(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5][2] = { { 1, 0.2 }, { 1, 0.3 }, { 0.9, 0.4 }, { 0.85, 0.4 }, { 0.75, 0.45 } };
    const cc_frost_img *f = cc_frost(cc_randint(r, 0, 5));
    if (!f) return rft_fail(RFT_EARG, "the frost photographs are not loaded");
    int y0 = cc_randint(r, 0, f->h - CC_S), x0 = cc_randint(r, 0, f->w - CC_S);
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < CC_S; y++)
            for (int x = 0; x < CC_S; x++) {
                double v = c[sev - 1][0] * im->in[ch * CC_P + y * CC_S + x]
                           + c[sev - 1][1] * f->rgb[((size_t)(y0 + y) * f->w + x0 + x) * 3 + ch];
                im->out[ch * CC_P + y * CC_S + x] = cc_clip(v, 0.0, 255.0);
            }
    return RFT_OK;
}
