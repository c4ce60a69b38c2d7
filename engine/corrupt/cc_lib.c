/* cc_lib.c: the library steps the CIFAR-10-C generator calls, written to follow each library's
 * arithmetic on one image: SciPy's gaussian_filter (through scikit-image's gaussian) and order-1
 * zoom, ImageMagick 6's MotionBlurImage, scikit-image's HSV conversions. Not general versions of
 * these functions: only what the generator's arguments need. */
#include "corrupt.h"

static int reflect_index(int i, int n)            /* SciPy 'reflect' (cba|abc|cba), any distance */
{
    int p = 2 * n;
    i %= p;
    if (i < 0) i += p;
    return i < n ? i : p - 1 - i;
}

void cc_gaussian_plane(double *p, int h, int w, double sigma, double truncate, int mode)
{
    cc_gaussian_plane_as(p, h, w, sigma, truncate, mode, 0);
}

void cc_gaussian_plane_as(double *p, int h, int w, double sigma, double truncate, int mode, int f32)
{
    if (sigma <= 1e-15) return;
    int r = (int)(truncate * sigma + 0.5);
    double k[2 * 64 + 1], sum = 0.0;
    if (r > 64) r = 64;
    for (int i = -r; i <= r; i++) { k[i + r] = exp(-0.5 / (sigma * sigma) * (double)(i * i)); sum += k[i + r]; }
    for (int i = 0; i <= 2 * r; i++) k[i] /= sum;
    double tmp[CC_S * 4];
    /* axis 0 (down the columns), then axis 1 (along the rows), as SciPy loops over the axes */
    for (int pass = 0; pass < 2; pass++) {
        int len = pass == 0 ? h : w, lines = pass == 0 ? w : h;
        for (int l = 0; l < lines; l++) {
            for (int i = 0; i < len; i++) tmp[i] = pass == 0 ? p[i * w + l] : p[l * w + i];
            for (int i = 0; i < len; i++) {
                double s = 0.0;
                for (int j = -r; j <= r; j++) {
                    int q = i + j;
                    if (q < 0 || q >= len) q = mode == CC_NEAREST ? (q < 0 ? 0 : len - 1) : reflect_index(q, len);
                    s += k[j + r] * tmp[q];
                }
                if (f32) s = (double)(float)s;          /* SciPy's float32 output, pass by pass */
                if (pass == 0) p[i * w + l] = s; else p[l * w + i] = s;
            }
        }
    }
}

/* scipy.ndimage.zoom(order=1, grid_mode=False) of an m x m plane to o x o: output i reads input
   i·(m-1)/(o-1), linear between the two neighbours. */
static void zoom_linear(const double *in, int m, double *out, int o)
{
    double scale = o > 1 ? (double)(m - 1) / (double)(o - 1) : 1.0;
    int i0[4 * CC_S];
    double t[4 * CC_S];
    for (int i = 0; i < o; i++) {
        double c = (double)i * scale;
        int f = (int)floor(c);
        if (f > m - 1) f = m - 1;
        if (f < 0) f = 0;
        i0[i] = f;
        t[i] = c - (double)f;
    }
    for (int y = 0; y < o; y++) {
        int ya = i0[y], yb = ya + 1 < m ? ya + 1 : m - 1;
        double ty = t[y];
        for (int x = 0; x < o; x++) {
            int xa = i0[x], xb = xa + 1 < m ? xa + 1 : m - 1;
            double tx = t[x];
            out[y * o + x] = (1.0 - ty) * ((1.0 - tx) * in[ya * m + xa] + tx * in[ya * m + xb])
                             + ty * ((1.0 - tx) * in[yb * m + xa] + tx * in[yb * m + xb]);
        }
    }
}

void cc_clipped_zoom(const double *in, double *out, int n, double z)
{
    int ch = (int)ceil((double)n / z);
    int top = (n - ch) / 2;
    double crop[CC_P], big[4 * CC_P];
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < ch; x++) crop[y * ch + x] = in[(top + y) * n + top + x];
    int o = (int)nearbyint((double)ch * z);       /* Python's round: half to even */
    zoom_linear(crop, ch, big, o);
    int trim = (o - n) / 2;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) out[y * n + x] = big[(trim + y) * o + trim + x];
}

void cc_motion_blur_plane(const uint8_t *in, uint8_t *out, int h, int w, double radius, double sigma,
                          double angle)
{
    /* GetOptimalKernelWidth1D with a radius: 2·ceil(radius) + 1; GetMotionBlurKernel: a one-sided
       Gaussian, normalised */
    int width = (int)(2.0 * ceil(radius) + 1.0);
    double k[64], norm = 0.0;
    int ox[64], oy[64];
    double s = fabs(sigma) < 1e-12 ? 1e-12 : sigma;
    for (int i = 0; i < width; i++) {
        k[i] = exp(-((double)i * i) / (2.0 * s * s)) / (2.5066282746310002 * s);
        norm += k[i];
    }
    for (int i = 0; i < width; i++) k[i] /= norm;
    double a = angle * (3.14159265358979323846 / 180.0);
    double px = (double)width * sin(a), py = (double)width * cos(a), hy = hypot(px, py);
    for (int i = 0; i < width; i++) {
        ox[i] = (int)ceil((double)i * py / hy - 0.5);
        oy[i] = (int)ceil((double)i * px / hy - 0.5);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double q = 0.0;
            for (int i = 0; i < width; i++) {
                int xx = x + ox[i], yy = y + oy[i];           /* the edge virtual-pixel method */
                xx = xx < 0 ? 0 : (xx >= w ? w - 1 : xx);
                yy = yy < 0 ? 0 : (yy >= h ? h - 1 : yy);
                q += k[i] * (double)(257u * in[yy * w + xx]);  /* 8 bits to Q16 */
            }
            /* ClampToQuantum rounds to a Q16 value; the 8-bit PNG writer then keeps v / 257 rounded
               down (measured against Debian's ImageMagick 6.9.11 Q16 through Wand: every value of
               96 test images; tools/fixtures/cifar_c_reference.py) */
            unsigned long v = q <= 0.0 ? 0ul : (q >= 65535.0 ? 65535ul : (unsigned long)(q + 0.5));
            out[y * w + x] = (uint8_t)(v / 257ul);
        }
}

void cc_rgb2hsv(const double c[3], double hsv[3])
{
    double v = fmax(c[0], fmax(c[1], c[2])), mn = fmin(c[0], fmin(c[1], c[2]));
    double delta = v - mn;
    double s = delta == 0.0 ? 0.0 : delta / v, hh = 0.0;
    if (delta != 0.0) {
        /* later cases win ties, as the assignments in skimage follow each other */
        if (c[2] == v) hh = 4.0 + (c[0] - c[1]) / delta;
        else if (c[1] == v) hh = 2.0 + (c[2] - c[0]) / delta;
        else hh = (c[1] - c[2]) / delta;
        hh = hh / 6.0;
        hh = hh - floor(hh);                    /* Python's % 1.0 */
        if (hh >= 1.0) hh = 0.0;
    }
    hsv[0] = hh; hsv[1] = s; hsv[2] = v;
}

void cc_hsv2rgb(const double hsv[3], double rgb[3])
{
    double hi = floor(hsv[0] * 6.0);
    double f = hsv[0] * 6.0 - hi;
    double v = hsv[2];
    double p = v * (1.0 - hsv[1]), q = v * (1.0 - f * hsv[1]), t = v * (1.0 - (1.0 - f) * hsv[1]);
    switch (((int)hi % 6 + 6) % 6) {
    case 0: rgb[0] = v; rgb[1] = t; rgb[2] = p; break;
    case 1: rgb[0] = q; rgb[1] = v; rgb[2] = p; break;
    case 2: rgb[0] = p; rgb[1] = v; rgb[2] = t; break;
    case 3: rgb[0] = p; rgb[1] = q; rgb[2] = v; break;
    case 4: rgb[0] = t; rgb[1] = p; rgb[2] = v; break;
    default: rgb[0] = v; rgb[1] = p; rgb[2] = q; break;
    }
}
