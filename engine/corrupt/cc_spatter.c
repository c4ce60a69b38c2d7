/* cc_spatter.c: the generator's spatter (an extra). A layer of smoothed normal noise, thresholded,
 * becomes either water (severities 1-3: OpenCV's Canny edges of the layer, their distance transform
 * (L2, 5x5 mask), truncated at 20, box-blurred, histogram-equalised, embossed and blurred, weighting a
 * pale turquoise added to the image) or mud (severities 4-5: the blurred mask of the layer painting
 * a brown over the image). Each OpenCV step as OpenCV 4 computes it on 8-bit or float32 images. */
#include "corrupt.h"
#include <limits.h>
#include <stdlib.h>

static int clampi(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }
static uint8_t sat_u8(double v)                 /* saturate_cast<uchar>: round half to even, clamp */
{
    double r = nearbyint(v);
    return (uint8_t)(r < 0 ? 0 : (r > 255 ? 255 : r));
}

/* cv2.Canny(src, 50, 150): 3x3 Sobel (replicated border), L1 magnitude, non-maximum suppression in
   OpenCV's four sectors (tan 22.5° in 15-bit fixed point), hysteresis over 8-neighbours. */
static void canny(const uint8_t *src, uint8_t *edges, int low, int high)
{
    enum { S = CC_S };
    int dx[CC_P], dy[CC_P], mag[CC_P];
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            int im = clampi(i - 1, S), ip = clampi(i + 1, S), jm = clampi(j - 1, S), jp = clampi(j + 1, S);
            int gx = (src[im * S + jp] - src[im * S + jm]) + 2 * (src[i * S + jp] - src[i * S + jm])
                     + (src[ip * S + jp] - src[ip * S + jm]);
            int gy = (src[ip * S + jm] - src[im * S + jm]) + 2 * (src[ip * S + j] - src[im * S + j])
                     + (src[ip * S + jp] - src[im * S + jp]);
            dx[i * S + j] = gx; dy[i * S + j] = gy;
            mag[i * S + j] = abs(gx) + abs(gy);
        }
#define MAG(i, j) (((i) < 0 || (i) >= S || (j) < 0 || (j) >= S) ? 0 : mag[(i) * S + (j)])
    uint8_t map[CC_P];                                /* 0 weak candidate, 1 not an edge, 2 edge */
    int stack[CC_P], top = 0;
    const int TG22 = 13573;                           /* tan(22.5°)·2^15, rounded */
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            int m = mag[i * S + j], keep = 0;
            if (m > low) {
                int xs = dx[i * S + j], ys = dy[i * S + j];
                long x = labs(xs), y = labs(ys) << 15, tg22x = x * TG22;
                if (y < tg22x) keep = m > MAG(i, j - 1) && m >= MAG(i, j + 1);
                else if (y > tg22x + (x << 16)) keep = m > MAG(i - 1, j) && m >= MAG(i + 1, j);
                else {
                    int s = (xs ^ ys) < 0 ? -1 : 1;
                    keep = m > MAG(i - 1, j - s) && m > MAG(i + 1, j + s);
                }
            }
            if (!keep) map[i * S + j] = 1;
            else if (m > high) { map[i * S + j] = 2; stack[top++] = i * S + j; }
            else map[i * S + j] = 0;
        }
#undef MAG
    while (top) {
        int p = stack[--top], i = p / S, j = p % S;
        for (int a = -1; a <= 1; a++)
            for (int b = -1; b <= 1; b++) {
                int y = i + a, x = j + b;
                if (y < 0 || y >= S || x < 0 || x >= S || map[y * S + x] != 0) continue;
                map[y * S + x] = 2;
                stack[top++] = y * S + x;
            }
    }
    for (int p = 0; p < CC_P; p++) edges[p] = map[p] == 2 ? 255 : 0;
}

/* cv2.distanceTransform(src, DIST_L2, 5): two chamfer passes with the 5x5 mask's distances 1, 1.4,
   2.1969 in 16-bit fixed point, outside the image "infinitely" far. */
static void distance5(const uint8_t *src, float *dst)
{
    enum { S = CC_S, B = 2, W = CC_S + 2 * B };
    const unsigned HV = 65536, DG = 91750, LG = 143978, INIT = INT_MAX;
    unsigned t[W * W];
    for (int k = 0; k < W * W; k++) t[k] = INIT;
#define T(i, j) t[((i) + B) * W + (j) + B]
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            if (!src[i * S + j]) { T(i, j) = 0; continue; }
            unsigned v = T(i - 2, j - 1) + LG, u;
            if ((u = T(i - 2, j + 1) + LG) < v) v = u;
            if ((u = T(i - 1, j - 2) + LG) < v) v = u;
            if ((u = T(i - 1, j - 1) + DG) < v) v = u;
            if ((u = T(i - 1, j) + HV) < v) v = u;
            if ((u = T(i - 1, j + 1) + DG) < v) v = u;
            if ((u = T(i - 1, j + 2) + LG) < v) v = u;
            if ((u = T(i, j - 1) + HV) < v) v = u;
            T(i, j) = v;
        }
    for (int i = S - 1; i >= 0; i--)
        for (int j = S - 1; j >= 0; j--) {
            unsigned v = T(i, j), u;
            if (v > HV) {
                if ((u = T(i + 2, j + 1) + LG) < v) v = u;
                if ((u = T(i + 2, j - 1) + LG) < v) v = u;
                if ((u = T(i + 1, j + 2) + LG) < v) v = u;
                if ((u = T(i + 1, j + 1) + DG) < v) v = u;
                if ((u = T(i + 1, j) + HV) < v) v = u;
                if ((u = T(i + 1, j - 1) + DG) < v) v = u;
                if ((u = T(i + 1, j - 2) + LG) < v) v = u;
                if ((u = T(i, j + 1) + HV) < v) v = u;
                T(i, j) = v;
            }
            dst[i * S + j] = (float)v * (1.0f / 65536.0f);
        }
#undef T
}

int cc_spatter(const cc_img *im, int sev, cc_rng *r)
{
    static const double c[5][6] = { { 0.62, 0.1, 0.7, 0.7, 0.5, 0 }, { 0.65, 0.1, 0.8, 0.7, 0.5, 0 },
                                    { 0.65, 0.3, 1, 0.69, 0.5, 0 }, { 0.65, 0.1, 0.7, 0.69, 0.6, 1 },
                                    { 0.65, 0.1, 0.5, 0.68, 0.6, 1 } };
    const double *s = c[sev - 1];
    float x[CC_N];
    for (int k = 0; k < CC_N; k++) x[k] = (float)im->in[k] / 255.0f;
    double liquid[CC_P];
    for (int p = 0; p < CC_P; p++) liquid[p] = s[0] + s[1] * cc_normal(r);
    cc_gaussian_plane(liquid, CC_S, CC_S, s[2], 4.0, CC_NEAREST);
    for (int p = 0; p < CC_P; p++)
        if (liquid[p] < s[3]) liquid[p] = 0.0;
    if (s[5] == 0) {
        uint8_t l8[CC_P], edges[CC_P], d8[CC_P], e8[CC_P];
        float d[CC_P];
        /* astype(uint8) of liquid·255 (in range here; NumPy's cast wraps beyond, as this does) */
        for (int p = 0; p < CC_P; p++) l8[p] = (uint8_t)(int32_t)(liquid[p] * 255.0);
        canny(l8, edges, 50, 150);
        for (int p = 0; p < CC_P; p++) edges[p] = (uint8_t)(255 - edges[p]);
        distance5(edges, d);
        for (int p = 0; p < CC_P; p++) d[p] = d[p] > 20.0f ? 20.0f : d[p];   /* THRESH_TRUNC at 20 */
        /* cv2.blur 3x3 (float, reflect-101), then astype(uint8): truncation */
        for (int i = 0; i < CC_S; i++)
            for (int j = 0; j < CC_S; j++) {
                double sum = 0.0;
                for (int a = -1; a <= 1; a++)
                    for (int b = -1; b <= 1; b++) sum += d[cc_reflect101(i + a, CC_S) * CC_S + cc_reflect101(j + b, CC_S)];
                d8[i * CC_S + j] = (uint8_t)(int)(float)(sum * (1.0 / 9.0));
            }
        /* cv2.equalizeHist */
        int hist[256] = { 0 }, lo = 0;
        uint8_t lut[256] = { 0 };
        for (int p = 0; p < CC_P; p++) hist[d8[p]]++;
        while (!hist[lo]) lo++;
        if (hist[lo] == CC_P) {
            for (int p = 0; p < CC_P; p++) e8[p] = (uint8_t)lo;
        } else {
            float scale = 255.0f / (float)(CC_P - hist[lo]);
            int sum = 0;
            for (int i = lo + 1; i < 256; i++) { sum += hist[i]; lut[i] = sat_u8((double)((float)sum * scale)); }
            lut[lo] = 0;
            for (int p = 0; p < CC_P; p++) e8[p] = lut[d8[p]];
        }
        /* cv2.filter2D with the emboss kernel [[-2,-1,0],[-1,1,1],[0,1,2]] to uint8, then cv2.blur 3x3 */
        static const int ker[3][3] = { { -2, -1, 0 }, { -1, 1, 1 }, { 0, 1, 2 } };
        uint8_t f8[CC_P];
        for (int i = 0; i < CC_S; i++)
            for (int j = 0; j < CC_S; j++) {
                int sum = 0;
                for (int a = 0; a < 3; a++)
                    for (int b = 0; b < 3; b++)
                        sum += ker[a][b] * e8[cc_reflect101(i + a - 1, CC_S) * CC_S + cc_reflect101(j + b - 1, CC_S)];
                f8[i * CC_S + j] = (uint8_t)(sum < 0 ? 0 : (sum > 255 ? 255 : sum));
            }
        float m[CC_P], mx = 0.0f;
        for (int i = 0; i < CC_S; i++)
            for (int j = 0; j < CC_S; j++) {
                int sum = 0;
                for (int a = -1; a <= 1; a++)
                    for (int b = -1; b <= 1; b++) sum += f8[cc_reflect101(i + a, CC_S) * CC_S + cc_reflect101(j + b, CC_S)];
                float bl = (float)sat_u8(sum / 9.0);
                m[i * CC_S + j] = (float)l8[i * CC_S + j] * bl;
                if (m[i * CC_S + j] > mx) mx = m[i * CC_S + j];
            }
        /* m / max(m) · c4 (0/0 when there is no liquid, as in the generator: the image turns to NaN,
           which np.uint8 makes 0); water is pale turquoise (175, 238, 238)/255 on channels 0, 1, 2 */
        const float c4 = (float)s[4];
        const float col[3] = { (float)(175 / 255.0), (float)(238 / 255.0), (float)(238 / 255.0) };
        for (int ch = 0; ch < 3; ch++)
            for (int p = 0; p < CC_P; p++) {
                float mm = m[p] / mx * c4;
                float v = x[ch * CC_P + p] + mm * col[ch];
                im->out[ch * CC_P + p] = (double)(cc_clipf(v, 0.0f, 1.0f) * 255.0f);
            }
    } else {
        double mk[CC_P];
        for (int p = 0; p < CC_P; p++) mk[p] = liquid[p] > s[3] ? 1.0 : 0.0;
        cc_gaussian_plane_as(mk, CC_S, CC_S, s[4], 4.0, CC_NEAREST, 1);   /* float32, as skimage keeps it */
        const float col[3] = { (float)(63 / 255.0), (float)(42 / 255.0), (float)(20 / 255.0) };
        for (int p = 0; p < CC_P; p++) {
            float mm = (float)mk[p];
            if (mm < 0.8f) mm = 0.0f;
            for (int ch = 0; ch < 3; ch++) {
                float v = x[ch * CC_P + p] * (1.0f - mm) + col[ch] * mm;
                im->out[ch * CC_P + p] = (double)(cc_clipf(v, 0.0f, 1.0f) * 255.0f);
            }
        }
    }
    return RFT_OK;
}
