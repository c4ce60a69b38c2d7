/* maxpool2d.cu: the CUDA twins of engine/nn/maxpool2d.c, 2-D max pooling as PyTorch's nn.MaxPool2d
 * with dilation 1 and floor mode:
 *   y[n,c,i,j] = max over the kh x kw window at (i*stride_h - pad_h, j*stride_w - pad_w) of x[n,c,.,.]
 *   argmax[n,c,i,j] = h*W + w of that maximum in its plane (PyTorch's indices), i32
 * Arguments arrive checked and outputs resized by librft.
 *
 * Bit-identical to the CPU, argmax included: one thread per output scans its window (clipped to the
 * plane: padding is never selected) in row-major order with the CPU's rule, so the first maximum
 * wins on ties and the first NaN wins over everything; a window of -inf gives its first element.
 *
 * The backward is a gather instead of the CPU's scatter: one thread per input element visits, in
 * row-major order, the outputs whose windows cover it and adds the dy of those whose argmax points
 * at it. That adds the same values in the same order as the CPU's loop over outputs (starting from
 * 0), so dx is bit-identical too, with no atomics even where windows overlap. Difference: an argmax
 * that no forward could have produced (outside its output's window) is ignored here, where the CPU
 * adds it where it points or, outside the plane, fails; the argmax of this device's forward never is.
 *
 * Not here: average pooling with a window (global_avgpool.cu), ceil mode, dilation.
 */
#include "cuda_util.h"

/* ---- kernels -------------------------------------------------------------------------------- */

/* x: (planes, h, w) -> y, argmax: (planes, oh, ow) */
__global__ void maxpool2d_forward_kernel(const float *x, float *y, int32_t *argmax, int64_t planes, int64_t h,
                                         int64_t w, int64_t oh, int64_t ow, rft_pool2d_args a)
{
    const int64_t n = planes * oh * ow;
    for (int64_t o = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; o < n; o += (int64_t)blockDim.x * gridDim.x) {
        const int64_t p = o / (oh * ow), i = o / ow % oh, j = o % ow;
        const float *xp = x + p * h * w;
        int64_t h0 = i * a.stride_h - a.pad_h, h1 = h0 + a.kh;
        int64_t w0 = j * a.stride_w - a.pad_w, w1 = w0 + a.kw;
        if (h0 < 0) h0 = 0;
        if (h1 > h) h1 = h;
        if (w0 < 0) w0 = 0;
        if (w1 > w) w1 = w;
        float best = -INFINITY;
        int64_t at = h0 * w + w0;                 /* a real element even if all are -inf */
        bool found = false;
        for (int64_t u = h0; u < h1 && !found; u++)
            for (int64_t v = w0; v < w1; v++) {
                float val = xp[u * w + v];
                if (val > best || isnan(val)) { best = val; at = u * w + v; }
                if (isnan(val)) { found = true; break; }   /* the first NaN wins */
            }
        y[o] = best;
        argmax[o] = (int32_t)at;
    }
}

/* argmax, dy: (planes, oh, ow) -> dx: (planes, h, w) */
__global__ void maxpool2d_backward_kernel(const int32_t *argmax, const float *dy, float *dx, int64_t planes,
                                          int64_t h, int64_t w, int64_t oh, int64_t ow, rft_pool2d_args a)
{
    const int64_t n = planes * h * w;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)blockDim.x * gridDim.x) {
        const int64_t p = e / (h * w), u = e / w % h, v = e % w;
        /* outputs i with i*stride_h - pad_h <= u < i*stride_h - pad_h + kh, likewise j */
        const int64_t nu = u + a.pad_h - a.kh + 1, nv = v + a.pad_w - a.kw + 1;
        int64_t i0 = nu <= 0 ? 0 : (nu + a.stride_h - 1) / a.stride_h;
        int64_t j0 = nv <= 0 ? 0 : (nv + a.stride_w - 1) / a.stride_w;
        int64_t i1 = (u + a.pad_h) / a.stride_h, j1 = (v + a.pad_w) / a.stride_w;
        if (i1 > oh - 1) i1 = oh - 1;
        if (j1 > ow - 1) j1 = ow - 1;
        const int32_t me = (int32_t)(u * w + v);
        const int32_t *ap = argmax + p * oh * ow;
        const float *gp = dy + p * oh * ow;
        float acc = 0.0f;
        for (int64_t i = i0; i <= i1; i++)
            for (int64_t j = j0; j <= j1; j++)
                if (ap[i * ow + j] == me) acc = __fadd_rn(acc, gp[i * ow + j]);
        dx[e] = acc;
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

int rft_cuda_maxpool2d_forward(const rft_pool2d_args *a, const rft_tensor *x, rft_tensor *y, rft_tensor *argmax)
{
    /* x: (N,C,H,W) -> y, argmax: (N,C,OH,OW) */
    const int64_t planes = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    const int64_t oh = y->shape[2], ow = y->shape[3], n = planes * oh * ow;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(maxpool2d_forward_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(x), rft_f32(y),
               rft_i32(argmax), planes, h, w, oh, ow, *a);
    return RFT_OK;
}

int rft_cuda_maxpool2d_backward(const rft_pool2d_args *a, const rft_tensor *argmax, const rft_tensor *dy,
                                rft_tensor *dx)
{
    /* dy, argmax: (N,C,OH,OW) -> dx: (N,C,H,W) */
    const int64_t planes = dx->shape[0] * dx->shape[1], h = dx->shape[2], w = dx->shape[3];
    const int64_t oh = dy->shape[2], ow = dy->shape[3], n = planes * h * w;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(maxpool2d_backward_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_i32(argmax), rft_f32(dy),
               rft_f32(dx), planes, h, w, oh, ow, *a);
    return RFT_OK;
}
