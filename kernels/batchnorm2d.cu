/* batchnorm2d.cu: the CUDA twins of engine/nn/batchnorm2d.c, batch normalisation over (N,H,W) per
 * channel with PyTorch's semantics (the formulas are in that file's header):
 *   x, y, dy, dx: (N,C,H,W); weight, bias, running_*, save_*, dweight, dbias: (C); M = N*H*W
 * Arguments arrive checked and outputs resized by librft; weight and bias NULL mean 1 and 0, and
 * dx, dweight, dbias NULL mean "not wanted".
 *
 * The CPU's arithmetic, step by step: channel sums in double, the variance from a second pass over
 * the centred values, the statistics rounded to f32 before use, the running statistics updated in
 * f32 with the unbiased variance (M - 1), and every per-element f32 expression written with _rn
 * intrinsics in the CPU's order, so that nvcc cannot fuse a multiply and an add the CPU rounds
 * twice. What differs is only the order of the sums (the CPU adds f32 partial sums per plane,
 * this file adds every element in double in a tree): statistics agree to a few f32 ulp, and the
 * evaluation forward, which has no sums, is bit-identical.
 *
 * One block per channel for the passes that need sums: it reduces, then writes its channel's
 * outputs. So y may be x and dx may be dy: a block reads all of its channel before it writes any.
 *
 * Fused with the ReLU that follows (args.relu; the *_relu_backward kernels): the forward writes
 * max(y, 0), and the backward reads g = (dy + extra) [y > 0] where the unfused one reads dy.
 *
 * Not here: 1-D batch norm, cumulative running averages, other normalisations.
 */
#include "cuda_util.h"

/* ---- kernels -------------------------------------------------------------------------------- */

/* Sums *a and *b over the block (blockDim.x == RFT_CUDA_THREADS, a multiple of 32); every thread
 * gets both totals. Deterministic: a fixed tree for a given block size. */
__device__ void block_sum2(double *a, double *b)
{
    __shared__ double sa[RFT_CUDA_THREADS / 32], sb[RFT_CUDA_THREADS / 32];
    double x = *a, y = *b;
    for (int off = 16; off > 0; off /= 2) {
        x += __shfl_down_sync(0xffffffffu, x, off);
        y += __shfl_down_sync(0xffffffffu, y, off);
    }
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) { sa[warp] = x; sb[warp] = y; }
    __syncthreads();
    if (warp == 0) {
        x = lane < RFT_CUDA_THREADS / 32 ? sa[lane] : 0.0;
        y = lane < RFT_CUDA_THREADS / 32 ? sb[lane] : 0.0;
        for (int off = 16; off > 0; off /= 2) {
            x += __shfl_down_sync(0xffffffffu, x, off);
            y += __shfl_down_sync(0xffffffffu, y, off);
        }
        if (lane == 0) { sa[0] = x; sb[0] = y; }
    }
    __syncthreads();
    *a = sa[0];
    *b = sb[0];
    __syncthreads();                              /* read by all before a next call overwrites them */
}

/* Calls f(e) for this thread's share of channel ch's M = n*hw values, e being the element's index
 * in (N,C,H,W): value i = plane * hw + k (0 <= k < hw) sits at (plane * c + ch) * hw + k, and the
 * thread takes i = threadIdx.x, + blockDim.x, ..., kept as (plane, k) so that the loop divides
 * nothing: a step adds (step / hw, step % hw) and carries k over hw at most once. */
template <typename F>
__device__ __forceinline__ void for_channel(int64_t ch, int64_t c, int64_t n, int64_t hw, F f)
{
    if (hw == 0) return;
    const int64_t step = blockDim.x, dp = step / hw, dk = step % hw;
    int64_t plane = threadIdx.x / hw, k = threadIdx.x % hw;
    while (plane < n) {
        f((plane * c + ch) * hw + k);
        plane += dp;
        k += dk;
        if (k >= hw) { k -= hw; plane++; }
    }
}

/* One block per channel: batch statistics, running statistics, then y. */
__global__ void batchnorm2d_forward_train_kernel(const float *x, const float *weight, const float *bias,
                                                 float *running_mean, float *running_var, float *y, float *save_mean,
                                                 float *save_invstd, int64_t n, int64_t c, int64_t hw, float eps,
                                                 float momentum, int relu)
{
    const int64_t ch = blockIdx.x, m = n * hw;
    double s = 0, none = 0;
    for_channel(ch, c, n, hw, [&](int64_t e) { s += x[e]; });
    block_sum2(&s, &none);
    const float mu = (float)(s / (double)m);
    double s2 = 0;
    for_channel(ch, c, n, hw, [&](int64_t e) {
        const float d = __fsub_rn(x[e], mu);
        s2 += __fmul_rn(d, d);
    });
    block_sum2(&s2, &none);
    const float is = (float)(1.0 / sqrt(s2 / (double)m + (double)eps));
    if (threadIdx.x == 0) {
        save_mean[ch] = mu;
        save_invstd[ch] = is;
        const float keep = 1.0f - momentum;
        running_mean[ch] = __fadd_rn(__fmul_rn(keep, running_mean[ch]), __fmul_rn(momentum, mu));
        running_var[ch] = __fadd_rn(__fmul_rn(keep, running_var[ch]),
                                    __fmul_rn(momentum, (float)(s2 / (double)(m - 1))));
    }
    /* y = x (invstd w) + (b - mean invstd w), from the f32 statistics, as the CPU */
    const float k = __fmul_rn(is, weight ? weight[ch] : 1.0f);
    const float d = __fsub_rn(bias ? bias[ch] : 0.0f, __fmul_rn(mu, k));
    for_channel(ch, c, n, hw, [&](int64_t e) {
        const float v = __fadd_rn(__fmul_rn(x[e], k), d);
        y[e] = relu && v < 0.0f ? 0.0f : v;
    });
}

/* x, y: (N,C,H,W) as (n) elements; y = x k + d with k = w / sqrt(running_var + eps) */
__global__ void batchnorm2d_forward_eval_kernel(const float *x, const float *weight, const float *bias,
                                                const float *running_mean, const float *running_var, float *y,
                                                int64_t n, int64_t c, int64_t hw, float eps, int relu)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
        const int64_t ch = i / hw % c;
        const float k = __fdiv_rn(weight ? weight[ch] : 1.0f, __fsqrt_rn(__fadd_rn(running_var[ch], eps)));
        const float d = __fsub_rn(bias ? bias[ch] : 0.0f, __fmul_rn(running_mean[ch], k));
        const float v = __fadd_rn(__fmul_rn(x[i], k), d);
        y[i] = relu && v < 0.0f ? 0.0f : v;
    }
}

/* One block per channel: sum dy and sum dy (x - mean), the parameter gradients, then dx. */
__global__ void batchnorm2d_backward_kernel(const float *x, const float *weight, const float *save_mean,
                                            const float *save_invstd, const float *dy, float scale, float *dx,
                                            float *dweight, float *dbias, int64_t n, int64_t c, int64_t hw)
{
    const int64_t ch = blockIdx.x, m = n * hw;
    const float mu = save_mean[ch], is = save_invstd[ch];
    double sg = 0, sgx = 0;
    for_channel(ch, c, n, hw, [&](int64_t e) {
        const float g = dy[e];
        sg += g;
        sgx += __fmul_rn(g, __fsub_rn(x[e], mu));
    });
    block_sum2(&sg, &sgx);
    const double sgxhat = sgx * is;               /* sum dy xhat */
    if (threadIdx.x == 0) {
        if (dweight) dweight[ch] = __fadd_rn(dweight[ch], __fmul_rn(scale, (float)sgxhat));
        if (dbias) dbias[ch] = __fadd_rn(dbias[ch], __fmul_rn(scale, (float)sg));
    }
    if (!dx) return;
    /* dx = k (dy - sg/M - (x - mean) is sgxhat/M) with k = weight invstd */
    const float k = __fmul_rn(weight ? weight[ch] : 1.0f, is);
    const float g0 = (float)(sg / (double)m), gx = (float)(sgxhat * is / (double)m);
    for_channel(ch, c, n, hw, [&](int64_t e) {
        dx[e] = __fmul_rn(k, __fsub_rn(__fsub_rn(dy[e], g0), __fmul_rn(__fsub_rn(x[e], mu), gx)));
    });
}

/* One block per channel, with the running statistics as constants: dx = dy weight invstd. */
__global__ void batchnorm2d_backward_eval_kernel(const float *x, const float *weight, const float *running_mean,
                                                 const float *running_var, float eps, const float *dy, float scale,
                                                 float *dx, float *dweight, float *dbias, int64_t n, int64_t c,
                                                 int64_t hw)
{
    const int64_t ch = blockIdx.x;
    const float mu = running_mean[ch];
    const float is = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(running_var[ch], eps)));
    const float k = __fmul_rn(weight ? weight[ch] : 1.0f, is);
    double sg = 0, sgx = 0;
    for_channel(ch, c, n, hw, [&](int64_t e) {
        const float g = dy[e];
        sg += g;
        sgx += __fmul_rn(g, __fsub_rn(x[e], mu));
    });
    block_sum2(&sg, &sgx);                        /* every read of dy is done: dx may be dy */
    if (threadIdx.x == 0) {
        if (dweight) dweight[ch] = __fadd_rn(dweight[ch], __fmul_rn(scale, (float)(sgx * is)));
        if (dbias) dbias[ch] = __fadd_rn(dbias[ch], __fmul_rn(scale, (float)sg));
    }
    if (!dx) return;
    for_channel(ch, c, n, hw, [&](int64_t e) { dx[e] = __fmul_rn(dy[e], k); });
}

/* g = (dy + extra) [y > 0], as relu_backward(_add) writes it; with fx.coef, extra is the factored
   tap gradient formed from y (relu_backward_add_factored's values) */
__device__ __forceinline__ float relu_grad(const float *y, const float *dy, const float *extra, int64_t e,
                                           const rft_cuda_factored &fx)
{
    if (fx.coef) return y[e] > 0.0f ? __fadd_rn(dy[e], rft_factored_at(fx, y[e], e)) : 0.0f;
    return y[e] > 0.0f ? (extra ? __fadd_rn(dy[e], extra[e]) : dy[e]) : 0.0f;
}

/* The backward of ReLU(BN(x)) from the fused output y: batchnorm2d_backward_kernel on g. */
__global__ void batchnorm2d_relu_backward_kernel(const float *x, const float *weight, const float *save_mean,
                                                 const float *save_invstd, const float *y, const float *dy,
                                                 const float *extra, rft_cuda_factored fx, float scale, float *dx,
                                                 float *dweight, float *dbias, int64_t n, int64_t c, int64_t hw)
{
    const int64_t ch = blockIdx.x, m = n * hw;
    const float mu = save_mean[ch], is = save_invstd[ch];
    double sg = 0, sgx = 0;
    for_channel(ch, c, n, hw, [&](int64_t e) {
        const float g = relu_grad(y, dy, extra, e, fx);
        sg += g;
        sgx += __fmul_rn(g, __fsub_rn(x[e], mu));
    });
    block_sum2(&sg, &sgx);
    const double sgxhat = sgx * is;
    if (threadIdx.x == 0) {
        if (dweight) dweight[ch] = __fadd_rn(dweight[ch], __fmul_rn(scale, (float)sgxhat));
        if (dbias) dbias[ch] = __fadd_rn(dbias[ch], __fmul_rn(scale, (float)sg));
    }
    if (!dx) return;
    const float k = __fmul_rn(weight ? weight[ch] : 1.0f, is);
    const float g0 = (float)(sg / (double)m), gx = (float)(sgxhat * is / (double)m);
    for_channel(ch, c, n, hw, [&](int64_t e) {
        const float g = relu_grad(y, dy, extra, e, fx);
        dx[e] = __fmul_rn(k, __fsub_rn(__fsub_rn(g, g0), __fmul_rn(__fsub_rn(x[e], mu), gx)));
    });
}

/* The same with frozen running statistics: batchnorm2d_backward_eval_kernel on g. */
__global__ void batchnorm2d_relu_backward_eval_kernel(const float *x, const float *weight,
                                                      const float *running_mean, const float *running_var, float eps,
                                                      const float *y, const float *dy, const float *extra,
                                                      rft_cuda_factored fx, float scale, float *dx, float *dweight,
                                                      float *dbias, int64_t n, int64_t c, int64_t hw)
{
    const int64_t ch = blockIdx.x;
    const float mu = running_mean[ch];
    const float is = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(running_var[ch], eps)));
    const float k = __fmul_rn(weight ? weight[ch] : 1.0f, is);
    double sg = 0, sgx = 0;
    for_channel(ch, c, n, hw, [&](int64_t e) {
        const float g = relu_grad(y, dy, extra, e, fx);
        sg += g;
        sgx += __fmul_rn(g, __fsub_rn(x[e], mu));
    });
    block_sum2(&sg, &sgx);                        /* every read of dy is done: dx may be dy */
    if (threadIdx.x == 0) {
        if (dweight) dweight[ch] = __fadd_rn(dweight[ch], __fmul_rn(scale, (float)(sgx * is)));
        if (dbias) dbias[ch] = __fadd_rn(dbias[ch], __fmul_rn(scale, (float)sg));
    }
    if (!dx) return;
    for_channel(ch, c, n, hw, [&](int64_t e) { dx[e] = __fmul_rn(relu_grad(y, dy, extra, e, fx), k); });
}

/* ---- launchers ------------------------------------------------------------------------------ */

static const float *opt(const rft_tensor *t) { return t ? rft_f32(t) : NULL; }
static float *opt_out(rft_tensor *t) { return t ? rft_f32(t) : NULL; }
static rft_cuda_factored no_factored(void) { rft_cuda_factored fx = { NULL, NULL, NULL, 1, 0, 2 }; return fx; }

int rft_cuda_batchnorm2d_forward_train(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                       const rft_tensor *bias, rft_tensor *running_mean, rft_tensor *running_var,
                                       rft_tensor *y, rft_tensor *save_mean, rft_tensor *save_invstd)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    if (c == 0) return RFT_OK;                    /* librft checked M = N*H*W >= 2 */
    RFT_LAUNCH(batchnorm2d_forward_train_kernel, (unsigned)c, RFT_CUDA_THREADS, rft_f32(x), opt(weight), opt(bias),
               rft_f32(running_mean), rft_f32(running_var), rft_f32(y), rft_f32(save_mean), rft_f32(save_invstd),
               n, c, hw, a->eps, a->momentum, a->relu);
    return RFT_OK;
}

int rft_cuda_batchnorm2d_forward_eval(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                      const rft_tensor *bias, const rft_tensor *running_mean,
                                      const rft_tensor *running_var, rft_tensor *y)
{
    const int64_t n = x->numel, c = x->shape[1], hw = x->shape[2] * x->shape[3];
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(batchnorm2d_forward_eval_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(x), opt(weight),
               opt(bias), rft_f32(running_mean), rft_f32(running_var), rft_f32(y), n, c, hw, a->eps, a->relu);
    return RFT_OK;
}

int rft_cuda_batchnorm2d_backward(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                  const rft_tensor *save_invstd, const rft_tensor *dy, float scale, rft_tensor *dx,
                                  rft_tensor *dweight, rft_tensor *dbias)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    if (c == 0) return RFT_OK;
    RFT_LAUNCH(batchnorm2d_backward_kernel, (unsigned)c, RFT_CUDA_THREADS, rft_f32(x), opt(weight),
               rft_f32(save_mean), rft_f32(save_invstd), rft_f32(dy), scale, opt_out(dx), opt_out(dweight),
               opt_out(dbias), n, c, hw);
    return RFT_OK;
}

int rft_cuda_batchnorm2d_backward_eval(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *running_mean,
                                       const rft_tensor *running_var, float eps, const rft_tensor *dy, float scale,
                                       rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    if (c == 0) return RFT_OK;
    RFT_LAUNCH(batchnorm2d_backward_eval_kernel, (unsigned)c, RFT_CUDA_THREADS, rft_f32(x), opt(weight),
               rft_f32(running_mean), rft_f32(running_var), eps, rft_f32(dy), scale, opt_out(dx),
               opt_out(dweight), opt_out(dbias), n, c, hw);
    return RFT_OK;
}

int rft_cuda_batchnorm2d_relu_backward(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                       const rft_tensor *save_invstd, const rft_tensor *y, const rft_tensor *dy,
                                       const rft_tensor *extra, float scale, rft_tensor *dx, rft_tensor *dweight,
                                       rft_tensor *dbias)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    if (c == 0) return RFT_OK;
    RFT_LAUNCH(batchnorm2d_relu_backward_kernel, (unsigned)c, RFT_CUDA_THREADS, rft_f32(x), opt(weight),
               rft_f32(save_mean), rft_f32(save_invstd), rft_f32(y), rft_f32(dy), opt(extra), no_factored(), scale,
               opt_out(dx), opt_out(dweight), opt_out(dbias), n, c, hw);
    return RFT_OK;
}

int rft_cuda_batchnorm2d_relu_backward_factored(const rft_tensor *x, const rft_tensor *weight,
                                                const rft_tensor *save_mean, const rft_tensor *save_invstd,
                                                const rft_tensor *y, const rft_tensor *dy, const rft_tensor *coef,
                                                const rft_tensor *means, const rft_tensor *index, float scale,
                                                rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    if (c == 0 || n * hw == 0) return RFT_OK;
    RFT_LAUNCH(batchnorm2d_relu_backward_kernel, (unsigned)c, RFT_CUDA_THREADS, rft_f32(x), opt(weight),
               rft_f32(save_mean), rft_f32(save_invstd), rft_f32(y), rft_f32(dy), (const float *)NULL,
               rft_cuda_factored_of(y, coef, means, index), scale, opt_out(dx), opt_out(dweight), opt_out(dbias), n,
               c, hw);
    return RFT_OK;
}

int rft_cuda_batchnorm2d_relu_backward_eval(const rft_tensor *x, const rft_tensor *weight,
                                            const rft_tensor *running_mean, const rft_tensor *running_var, float eps,
                                            const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra,
                                            float scale, rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    if (c == 0) return RFT_OK;
    RFT_LAUNCH(batchnorm2d_relu_backward_eval_kernel, (unsigned)c, RFT_CUDA_THREADS, rft_f32(x), opt(weight),
               rft_f32(running_mean), rft_f32(running_var), eps, rft_f32(y), rft_f32(dy), opt(extra), no_factored(),
               scale, opt_out(dx), opt_out(dweight), opt_out(dbias), n, c, hw);
    return RFT_OK;
}

int rft_cuda_batchnorm2d_relu_backward_eval_factored(const rft_tensor *x, const rft_tensor *weight,
                                                     const rft_tensor *running_mean, const rft_tensor *running_var,
                                                     float eps, const rft_tensor *y, const rft_tensor *dy,
                                                     const rft_tensor *coef, const rft_tensor *means,
                                                     const rft_tensor *index, float scale, rft_tensor *dx,
                                                     rft_tensor *dweight, rft_tensor *dbias)
{
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    if (c == 0 || n * hw == 0) return RFT_OK;
    RFT_LAUNCH(batchnorm2d_relu_backward_eval_kernel, (unsigned)c, RFT_CUDA_THREADS, rft_f32(x), opt(weight),
               rft_f32(running_mean), rft_f32(running_var), eps, rft_f32(y), rft_f32(dy), (const float *)NULL,
               rft_cuda_factored_of(y, coef, means, index), scale, opt_out(dx), opt_out(dweight), opt_out(dbias), n,
               c, hw);
    return RFT_OK;
}
