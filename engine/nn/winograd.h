/* winograd.h: rft's own Winograd convolution F(4x4,3x3) for the CPU (engine/nn/winograd.c), for 3x3
 * stride-1 layers on AVX2 machines, where oneDNN 2.x has only direct convolution. Input, filter and
 * output transforms are AVX2/FMA code chosen at run time (rft_wino_supported), the 36 transformed
 * products are GEMMs through dnnl_sgemm, threads run across tiles, channels and GEMMs.
 *
 * Not public: conv2d.c calls it after checking shapes. f32, NCHW/OIHW, padding 0..2 on each side.
 */
#ifndef RFT_WINOGRAD_H
#define RFT_WINOGRAD_H
#include "internal.h"

/* x: (n, cin, h, w), w: (cout, cin, 3, 3), y: (n, cout, ho, wo) with ho = h + 2*pad_h - 2. */
typedef struct {
    int64_t n, cin, h, w, cout, ho, wo;
    int pad_h, pad_w;
} rft_wino_geom;

/* True when this CPU has AVX2 and FMA (the transforms need both). */
bool rft_wino_supported(void);

/* y = conv(x, w) + b (b may be NULL). */
int rft_wino_forward(const rft_wino_geom *g, const float *x, const float *w, const float *b, float *y);

/* dx = dL/dx for dy = dL/dy. */
int rft_wino_backward_data(const rft_wino_geom *g, const float *w, const float *dy, float *dx);

/* dw += scale * dL/dw, db += scale * sum of dy over n, ho, wo (db may be NULL). */
int rft_wino_backward_weights(const rft_wino_geom *g, const float *x, const float *dy, float scale, float *dw,
                              float *db);

#endif
