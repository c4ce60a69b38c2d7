/* cc_geom.c: the generator's geometric and codec corruptions: elastic_transform (OpenCV's affine
 * warp of three jittered points, then SciPy's map_coordinates along smoothed random displacements),
 * pixelate (Pillow's BOX resize down and back up, in its 8-bit fixed point) and jpeg_compression
 * (libjpeg with the settings Pillow uses for quality=q, and back). */
#include "corrupt.h"
#include <stdio.h>
#include <setjmp.h>
#include <stdlib.h>
#include <jpeglib.h>

/* ---- elastic_transform ---- */

/* SciPy's map_coordinate for mode 'reflect', then the two neighbours of order 1 with their indices
   reflected (cba|abc). */
static void reflect_coord(double c, int n, int *i0, int *i1, double *t)
{
    if (c < 0) {
        int p = 2 * n;
        if (c < -p) c = p * (double)(long)(-c / p) + c;
        c = c < -n ? c + p : -c - 1;
    } else if (c > n - 1) {
        int p = 2 * n;
        c -= p * (double)(long)(c / p);
        if (c >= n) c = p - c - 1;
    }
    double f = floor(c);
    int a = (int)f, b = a + 1;
    *t = c - f;
    *i0 = a < 0 ? -a - 1 : (a >= n ? 2 * n - a - 1 : a);
    *i1 = b < 0 ? -b - 1 : (b >= n ? 2 * n - b - 1 : b);
}

int cc_elastic_transform(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5][3] = { { 0, 0, 0.08 }, { 0.05, 0.2, 0.07 }, { 0.08, 0.06, 0.06 },
                                    { 0.1, 0.04, 0.05 }, { 0.1, 0.03, 0.03 } };
    const double c0 = CC_S * c[sev - 1][0], c1 = CC_S * c[sev - 1][1], c2 = CC_S * c[sev - 1][2];
    float img[CC_N], warped[CC_N];
    for (int k = 0; k < CC_N; k++) img[k] = (float)im->in[k] / 255.0f;
    /* pts1: centre ± 32 // 3 (x, y); pts2 = pts1 + U(-c2, c2) in float32 */
    const float p1[3][2] = { { 26, 26 }, { 26, 6 }, { 6, 6 } };
    float p2[3][2];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) p2[i][j] = p1[i][j] + (float)cc_uniform_ab(r, -c2, c2);
    /* cv2.getAffineTransform: M (2x3) with p2 = M [p1; 1], by Cramer's rule */
    double a[3][3], M[2][3];
    for (int i = 0; i < 3; i++) { a[i][0] = p1[i][0]; a[i][1] = p1[i][1]; a[i][2] = 1.0; }
    double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
                 + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    for (int row = 0; row < 2; row++)
        for (int col = 0; col < 3; col++) {
            double b[3][3];
            memcpy(b, a, sizeof b);
            for (int i = 0; i < 3; i++) b[i][col] = p2[i][row];
            M[row][col] = (b[0][0] * (b[1][1] * b[2][2] - b[1][2] * b[2][1]) - b[0][1] * (b[1][0] * b[2][2] - b[1][2] * b[2][0])
                           + b[0][2] * (b[1][0] * b[2][1] - b[1][1] * b[2][0])) / det;
        }
    /* cv2.warpAffine inverts M, then maps each output pixel in fixed point: 1/1024 for the
       coordinates, rounded to 1/32 for the bilinear weights; border reflect-101 */
    double D = M[0][0] * M[1][1] - M[0][1] * M[1][0];
    D = D != 0.0 ? 1.0 / D : 0.0;
    double A11 = M[1][1] * D, A22 = M[0][0] * D, A12 = -M[0][1] * D, A21 = -M[1][0] * D;
    double b1 = -A11 * M[0][2] - A12 * M[1][2], b2 = -A21 * M[0][2] - A22 * M[1][2];
    for (int y = 0; y < CC_S; y++) {
        int X0 = (int)lrint((A12 * y + b1) * 1024.0) + 16, Y0 = (int)lrint((A22 * y + b2) * 1024.0) + 16;
        for (int x = 0; x < CC_S; x++) {
            int X = (X0 + (int)lrint(A11 * x * 1024.0)) >> 5, Y = (Y0 + (int)lrint(A21 * x * 1024.0)) >> 5;
            int sx = X >> 5, sy = Y >> 5;
            float tx = (float)(X & 31) * (1.0f / 32), ty = (float)(Y & 31) * (1.0f / 32);
            float w[4] = { (1.0f - ty) * (1.0f - tx), (1.0f - ty) * tx, ty * (1.0f - tx), ty * tx };
            int x0 = cc_reflect101(sx, CC_S), x1 = cc_reflect101(sx + 1, CC_S);
            int y0 = cc_reflect101(sy, CC_S), y1 = cc_reflect101(sy + 1, CC_S);
            for (int ch = 0; ch < 3; ch++) {
                const float *s = img + ch * CC_P;
                warped[ch * CC_P + y * CC_S + x] = s[y0 * CC_S + x0] * w[0] + s[y0 * CC_S + x1] * w[1]
                                                   + s[y1 * CC_S + x0] * w[2] + s[y1 * CC_S + x1] * w[3];
            }
        }
    }
    /* displacements: gaussian(U(-1, 1), c1, mode='reflect', truncate=3)·c0, as float32 */
    double dx[CC_P], dy[CC_P];
    for (int p = 0; p < CC_P; p++) dx[p] = cc_uniform_ab(r, -1.0, 1.0);
    for (int p = 0; p < CC_P; p++) dy[p] = cc_uniform_ab(r, -1.0, 1.0);
    cc_gaussian_plane(dx, CC_S, CC_S, c1, 3.0, CC_REFLECT);
    cc_gaussian_plane(dy, CC_S, CC_S, c1, 3.0, CC_REFLECT);
    for (int y = 0; y < CC_S; y++)
        for (int x = 0; x < CC_S; x++) {
            int p = y * CC_S + x;
            double cy = (double)y + (double)(float)(dy[p] * c0), cx = (double)x + (double)(float)(dx[p] * c0);
            int ya, yb, xa, xb;
            double ty, tx;
            reflect_coord(cy, CC_S, &ya, &yb, &ty);
            reflect_coord(cx, CC_S, &xa, &xb, &tx);
            for (int ch = 0; ch < 3; ch++) {
                const float *s = warped + ch * CC_P;
                double v = (1.0 - ty) * (1.0 - tx) * s[ya * CC_S + xa] + (1.0 - ty) * tx * s[ya * CC_S + xb]
                           + ty * (1.0 - tx) * s[yb * CC_S + xa] + ty * tx * s[yb * CC_S + xb];
                im->out[ch * CC_P + p] = (double)(cc_clipf((float)v, 0.0f, 1.0f) * 255.0f);
            }
        }
    return RFT_OK;
}

/* ---- pixelate: Pillow's resample with the BOX filter, 8-bit ---- */

enum { PREC = 22 };   /* Pillow's PRECISION_BITS for 8-bit images */

/* Pillow's precompute_coeffs with the BOX filter and normalize_coeffs_8bpc, for in -> out: output
   pixel xx reads inputs bounds[2xx] .. + bounds[2xx+1] - 1 with fixed-point weights k[xx·KS + x]. */
enum { KS = 4 };     /* BOX support: at most ceil(0.5·32/20)·2 + 1 = 5 taps, of which <= 3 are non-zero */
static void box_coeffs(int in, int out, int *bounds, int32_t *k)
{
    double scale = (double)in / out, fs = scale < 1.0 ? 1.0 : scale, support = 0.5 * fs;
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, w[16];
        int xmin = (int)(center - support + 0.5), xmax;
        if (xmin < 0) xmin = 0;
        xmax = (int)(center + support + 0.5);
        if (xmax > in) xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double t = (x + xmin - center + 0.5) / fs;
            w[x] = (t > -0.5 && t <= 0.5) ? 1.0 : 0.0;
            ww += w[x];
        }
        /* trailing zero taps add nothing: keep at most KS */
        while (xmax > 0 && w[xmax - 1] == 0.0) xmax--;
        int lead = 0;
        while (lead < xmax && w[lead] == 0.0) lead++;
        bounds[2 * xx] = xmin + lead;
        bounds[2 * xx + 1] = xmax - lead;
        for (int x = lead; x < xmax; x++) {
            double kk = ww != 0.0 ? w[x] / ww : w[x];
            k[xx * KS + x - lead] = (int32_t)(kk < 0 ? -0.5 + kk * (1 << PREC) : 0.5 + kk * (1 << PREC));
        }
    }
}

static inline uint8_t box_tap(const uint8_t *src, int stride, const int *b, const int32_t *k)
{
    int32_t ss = 1 << (PREC - 1);
    for (int x = 0; x < b[1]; x++) ss += src[(b[0] + x) * stride] * k[x];
    int v = ss >> PREC;
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

static void box_resize(const uint8_t *in, int n, uint8_t *out, int m)   /* one n x n plane to m x m */
{
    int bounds[2 * CC_S];
    int32_t k[CC_S * KS];
    box_coeffs(n, m, bounds, k);                   /* the same both ways: the plane is square */
    uint8_t t[CC_P];   /* horizontal first (n rows of m), then vertical */
    for (int y = 0; y < n; y++)
        for (int xx = 0; xx < m; xx++) t[y * m + xx] = box_tap(in + y * n, 1, bounds + 2 * xx, k + xx * KS);
    for (int yy = 0; yy < m; yy++)
        for (int x = 0; x < m; x++) out[yy * m + x] = box_tap(t + x, m, bounds + 2 * yy, k + yy * KS);
}

int cc_pixelate(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5] = { 0.95, 0.9, 0.85, 0.75, 0.65 };
    (void)r;
    int m = (int)(CC_S * c[sev - 1]);
    uint8_t small[CC_P], back[CC_P];
    for (int ch = 0; ch < 3; ch++) {
        box_resize(im->in + ch * CC_P, CC_S, small, m);
        box_resize(small, m, back, CC_S);
        for (int p = 0; p < CC_P; p++) im->out[ch * CC_P + p] = back[p];
    }
    return RFT_OK;
}

/* ---- jpeg_compression: libjpeg, as Pillow's save(format='JPEG', quality=q) and open ---- */

typedef struct { struct jpeg_error_mgr mgr; jmp_buf jump; char msg[JMSG_LENGTH_MAX]; } cc_jerr;

static void jerr_exit(j_common_ptr cinfo)
{
    cc_jerr *e = (cc_jerr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

int cc_jpeg_compression(const cc_img *im, int sev, cc_rng *r)
{
    static const int c[5] = { 80, 65, 58, 50, 40 };
    (void)r;
    uint8_t rgb[CC_N], dec[CC_N];
    for (int p = 0; p < CC_P; p++)
        for (int ch = 0; ch < 3; ch++) rgb[p * 3 + ch] = im->in[ch * CC_P + p];
    struct jpeg_compress_struct cc;
    struct jpeg_decompress_struct dc;
    cc_jerr err;
    unsigned char *buf = NULL;
    unsigned long len = 0;
    volatile int stage = 0;
    cc.err = jpeg_std_error(&err.mgr);
    dc.err = cc.err;
    err.mgr.error_exit = jerr_exit;
    if (setjmp(err.jump)) {
        if (stage >= 1) jpeg_destroy_compress(&cc);
        if (stage >= 2) jpeg_destroy_decompress(&dc);
        free(buf);
        return rft_fail(RFT_EIO, "libjpeg: %s", err.msg);
    }
    jpeg_create_compress(&cc);
    stage = 1;
    jpeg_mem_dest(&cc, &buf, &len);
    cc.image_width = CC_S;
    cc.image_height = CC_S;
    cc.input_components = 3;
    cc.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cc);                 /* YCbCr, 4:2:0, integer DCT, no optimisation: Pillow's defaults */
    jpeg_set_quality(&cc, c[sev - 1], TRUE);
    jpeg_start_compress(&cc, TRUE);
    while (cc.next_scanline < CC_S) {
        JSAMPROW row = rgb + cc.next_scanline * CC_S * 3;
        jpeg_write_scanlines(&cc, &row, 1);
    }
    jpeg_finish_compress(&cc);
    jpeg_create_decompress(&dc);
    stage = 2;
    jpeg_mem_src(&dc, buf, len);
    jpeg_read_header(&dc, TRUE);
    dc.out_color_space = JCS_RGB;
    jpeg_start_decompress(&dc);
    while (dc.output_scanline < CC_S) {
        JSAMPROW row = dec + dc.output_scanline * CC_S * 3;
        jpeg_read_scanlines(&dc, &row, 1);
    }
    jpeg_finish_decompress(&dc);
    jpeg_destroy_decompress(&dc);
    jpeg_destroy_compress(&cc);
    free(buf);
    for (int p = 0; p < CC_P; p++)
        for (int ch = 0; ch < 3; ch++) im->out[ch * CC_P + p] = dec[p * 3 + ch];
    return RFT_OK;
}
