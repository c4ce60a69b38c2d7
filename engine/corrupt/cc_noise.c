/* cc_noise.c: the generator's noises on x/255 per value: gaussian (x + N(0, c)), shot
 * (Poisson(x·c)/c), impulse (scikit-image's random_noise 's&p': each value flipped with probability
 * c, to 1 or 0 with probability 1/2), speckle (x + x·N(0, c)); then clip to [0, 1] and times 255. */
#include "corrupt.h"

int cc_gaussian_noise(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5] = { 0.04, 0.06, 0.08, 0.09, 0.10 };
    /* draws in the generator's (h, w, c) order */
    for (int p = 0; p < CC_P; p++)
        for (int k = p; k < CC_N; k += CC_P)
            im->out[k] = cc_clip(im->in[k] / 255.0 + c[sev - 1] * cc_normal(r), 0.0, 1.0) * 255.0;
    return RFT_OK;
}

/* Poisson(lam) as NumPy draws it: multiplication of uniforms below 10, Hörmann's PTRS (transformed
   rejection with squeeze) from 10 on. */
static double poisson(cc_rng *r, double lam)
{
    if (lam <= 0.0) return 0.0;
    if (lam < 10.0) {
        double enlam = exp(-lam), prod = 1.0;
        long n = 0;
        for (;;) {
            prod *= cc_uniform(r);
            if (prod > enlam) n++;
            else return (double)n;
        }
    }
    double slam = sqrt(lam), loglam = log(lam);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
    for (;;) {
        double u = cc_uniform(r) - 0.5, v = cc_uniform(r);
        double us = 0.5 - fabs(u);
        long k = (long)floor((2.0 * a / us + b) * u + lam + 0.43);
        if (us >= 0.07 && v <= vr) return (double)k;
        if (k < 0 || (us < 0.013 && v > us)) continue;
        if (log(v) + log(invalpha) - log(a / (us * us) + b) <= -lam + (double)k * loglam - lgamma((double)k + 1.0))
            return (double)k;
    }
}

int cc_shot_noise(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5] = { 500, 250, 100, 75, 50 };
    double cs = c[sev - 1];
    for (int p = 0; p < CC_P; p++)
        for (int k = p; k < CC_N; k += CC_P)
            im->out[k] = cc_clip(poisson(r, im->in[k] / 255.0 * cs) / cs, 0.0, 1.0) * 255.0;
    return RFT_OK;
}

int cc_impulse_noise(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5] = { 0.01, 0.02, 0.03, 0.05, 0.07 };
    for (int p = 0; p < CC_P; p++)
        for (int k = p; k < CC_N; k += CC_P) {
        double flip = cc_uniform(r), salt = cc_uniform(r);
        double v = im->in[k] / 255.0;
        if (flip < c[sev - 1]) v = salt < 0.5 ? 1.0 : 0.0;
        im->out[k] = cc_clip(v, 0.0, 1.0) * 255.0;
    }
    return RFT_OK;
}

int cc_speckle_noise(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5] = { 0.06, 0.1, 0.12, 0.16, 0.2 };
    for (int p = 0; p < CC_P; p++)
        for (int k = p; k < CC_N; k += CC_P) {
        double x = im->in[k] / 255.0;
        im->out[k] = cc_clip(x + x * (c[sev - 1] * cc_normal(r)), 0.0, 1.0) * 255.0;
    }
    return RFT_OK;
}
