/* corrupt.h: what the CIFAR-10-C corruptions (engine/corrupt/) share: the image they work on, the
 * per-image random stream, and the library steps the published generator calls (SciPy's Gaussian
 * filter and order-1 zoom, ImageMagick 6's motion blur, scikit-image's HSV), each written to
 * follow that library's arithmetic. Internal to engine/corrupt; CPU only. */
#ifndef RFT_CORRUPT_H
#define RFT_CORRUPT_H
#include "internal.h"
#include "philox.h"
#include <math.h>
#include <string.h>

enum { CC_S = 32, CC_P = CC_S * CC_S, CC_N = 3 * CC_P };   /* CIFAR: 32x32, 3 planes */

/* One image: in, the uint8 values as planes (c, h, w); out, the corrupted 0-255 values before the
   final clip and truncation, planes too. */
typedef struct {
    const uint8_t *in;   /* (3, 32, 32) */
    double *out;         /* (3, 32, 32) */
} cc_img;

/* The stream of one image: Philox blocks (seed, stream, 0, 1, ...), word by word. */
typedef struct {
    uint64_t seed, stream, block;
    uint32_t w[4];
    int left;
    int has_spare;       /* Box-Muller makes normals in pairs: the second waits here */
    double spare;
} cc_rng;

static inline uint32_t cc_u32(cc_rng *r)
{
    if (!r->left) {
        rft_philox4 b = rft_philox(r->seed, r->stream, r->block++);
        memcpy(r->w, b.v, sizeof r->w);
        r->left = 4;
    }
    return r->w[4 - r->left--];
}
/* uniform in [0, 1) with 53 random bits, as NumPy's doubles */
static inline double cc_uniform(cc_rng *r)
{
    uint32_t a = cc_u32(r) >> 5, b = cc_u32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
}
static inline double cc_uniform_ab(cc_rng *r, double lo, double hi) { return lo + (hi - lo) * cc_uniform(r); }
static inline double cc_normal(cc_rng *r)        /* Box-Muller: two normals per two uniforms */
{
    if (r->has_spare) { r->has_spare = 0; return r->spare; }
    double u1 = 1.0 - cc_uniform(r), u2 = cc_uniform(r);
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    r->spare = rad * sin(th);
    r->has_spare = 1;
    return rad * cos(th);
}
static inline int cc_randint(cc_rng *r, int lo, int hi) /* lo .. hi-1, as numpy's randint(lo, hi) */
{
    return lo + (int)(cc_uniform(r) * (double)(hi - lo));
}

static inline double cc_clip(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }
static inline float cc_clipf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }
/* OpenCV's BORDER_REFLECT_101 (dcb|abcd|cba) for an index any distance outside [0, n) */
static inline int cc_reflect101(int i, int n)
{
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

/* ---- library steps (cc_lib.c) ---- */
enum { CC_NEAREST = 0, CC_REFLECT = 1 };          /* SciPy's 'nearest' (aaa|abc), 'reflect' (cba|abc) */
/* scipy.ndimage.gaussian_filter of an h x w plane (rows, then columns), std sigma, radius
   int(truncate·sigma + 0.5); sigma <= 1e-15 leaves it unchanged, as SciPy skips the axis. */
void cc_gaussian_plane(double *p, int h, int w, double sigma, double truncate, int mode);
/* The same for a float32 array: each pass's output rounded to float, as SciPy stores it. */
void cc_gaussian_plane_as(double *p, int h, int w, double sigma, double truncate, int mode, int f32);
/* The generator's clipped_zoom of an n x n plane (float64): the centre ceil(n/z) square zoomed by
   scipy.ndimage.zoom(order=1) and cropped back to the centre n x n. */
void cc_clipped_zoom(const double *in, double *out, int n, double z);
/* ImageMagick 6 (Q16) MotionBlurImage(radius, sigma, angle) of one 8-bit plane, written back as
   8 bits, as a PNG round trip through MagickWand does. */
void cc_motion_blur_plane(const uint8_t *in, uint8_t *out, int h, int w, double radius, double sigma,
                          double angle);
/* scikit-image's rgb2hsv / hsv2rgb of one pixel (values in [0, 1]). */
void cc_rgb2hsv(const double rgb[3], double hsv[3]);
void cc_hsv2rgb(const double hsv[3], double rgb[3]);

/* ---- the frost photographs (frost.c) ---- */
typedef struct { int h, w; const uint8_t *rgb; } cc_frost_img;   /* (h, w, 3), scaled by 0.2 */
const cc_frost_img *cc_frost(int k);                             /* k in 0..4; NULL before loading */

/* ---- the corruptions: fill img->out from img->in; non-zero status on failure (message set) ---- */
typedef int (*cc_fn)(const cc_img *img, int severity, cc_rng *r);
int cc_gaussian_noise(const cc_img *, int, cc_rng *);
int cc_shot_noise(const cc_img *, int, cc_rng *);
int cc_impulse_noise(const cc_img *, int, cc_rng *);
int cc_speckle_noise(const cc_img *, int, cc_rng *);
int cc_defocus_blur(const cc_img *, int, cc_rng *);
int cc_glass_blur(const cc_img *, int, cc_rng *);
int cc_motion_blur(const cc_img *, int, cc_rng *);
int cc_zoom_blur(const cc_img *, int, cc_rng *);
int cc_gaussian_blur(const cc_img *, int, cc_rng *);
int cc_snow(const cc_img *, int, cc_rng *);
int cc_frost_fn(const cc_img *, int, cc_rng *);
int cc_fog(const cc_img *, int, cc_rng *);
int cc_brightness(const cc_img *, int, cc_rng *);
int cc_contrast(const cc_img *, int, cc_rng *);
int cc_saturate(const cc_img *, int, cc_rng *);
int cc_spatter(const cc_img *, int, cc_rng *);
int cc_elastic_transform(const cc_img *, int, cc_rng *);
int cc_pixelate(const cc_img *, int, cc_rng *);
int cc_jpeg_compression(const cc_img *, int, cc_rng *);

#endif
