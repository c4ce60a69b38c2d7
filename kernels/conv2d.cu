/* conv2d.cu: the CUDA twins of engine/nn/conv2d.c, 2-D convolution of f32 NCHW tensors
 * (cross-correlation, as PyTorch's conv2d) through cuDNN, on the context's handle and stream.
 * Arguments arrive checked and outputs resized by librft.
 *   forward          y (N,Cout,Ho,Wo) = conv(x (N,Cin,H,W), w (Cout,Cin,kh,kw)) + b    (b optional)
 *   backward_input   dx = dL/dx, overwritten
 *   backward_params  dw += scale * dL/dw (cuDNN's alpha = scale, beta = 1: it accumulates as the CPU
 *                    does), db += scale * dy summed over N,Ho,Wo (db optional)
 * Output size per dimension (in + 2 pad - k) / stride + 1, symmetric padding: the CPU's geometry,
 * which is also cuDNN's (checked when a plan is made).
 *
 * Plans: the descriptors of one (shape, args) and, per pass, the algorithm, its math type and its
 * workspace size, cached in a small table (cudnn.torch's per-shape cache; the least recently made
 * plan gives way when it is full). An algorithm is chosen once per shape and pass from cuDNN's
 * heuristics (cudnnGet*_v7, what PyTorch uses unless benchmarking): the first that succeeds, fits
 * the workspace cap and is allowed by the math type, deterministic ones first, so a run repeats
 * bit for bit. A candidate that fails with NOT_SUPPORTED when run (the heuristics judge the shape, not
 * the operands' alignment) is refused for that plan and the next one taken. Math: CUDNN_FMA_MATH unless $RFT_TF32=1 (CUDNN_DEFAULT_MATH would let cuDNN use TF32
 * for f32 on Ampere and later, 1e-3 off the CPU), then CUDNN_TENSOR_OP_MATH. The workspace is the
 * context's shared one (rft_cuda_workspace).
 *
 * The biases are rft's own kernels: the forward adds b per channel after cuDNN, and db is one block
 * per channel summing dy in double, then db += scale * (f32)sum with the CPU's two roundings.
 * Empty cases, as the CPU: an empty batch adds nothing to dw and db; a convolution over no input
 * values (Cin = 0, or H or W 0 under padding) gives y = b (or 0) and dx = 0 without calling cuDNN,
 * which refuses zero dimensions.
 *
 * Like the shared workspace, the plan table assumes one thread drives the device at a time.
 * Not here: dilation, groups, the CPU (engine/nn/conv2d.c), the module (lua/rft/nn/Conv2d.lua).
 */
#include "cuda_util.h"
#include <limits.h>
#include <string.h>

/* ---- kernels -------------------------------------------------------------------------------- */

/* y: (N, C, hw) += b[c] */
__global__ void conv2d_bias_add_kernel(const float *b, float *y, int64_t n, int64_t c, int64_t hw)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
        y[i] = __fadd_rn(y[i], b[i / hw % c]);
}

/* One block per channel ch: db[ch] += scale * sum over (N, hw) of dy[n, ch, .], summed in double.
 * blockDim.x == RFT_CUDA_THREADS; hw > 0. The thread's values i = plane * hw + k go by
 * threadIdx.x, + blockDim.x, ..., kept as (plane, k) so that the loop divides nothing. */
__global__ void conv2d_bias_grad_kernel(const float *dy, float scale, float *db, int64_t n, int64_t c, int64_t hw)
{
    __shared__ double part[RFT_CUDA_THREADS];
    const int64_t ch = blockIdx.x, dp = blockDim.x / hw, dk = blockDim.x % hw;
    double s = 0;
    for (int64_t plane = threadIdx.x / hw, k = threadIdx.x % hw; plane < n;) {
        s += dy[(plane * c + ch) * hw + k];
        plane += dp;
        k += dk;
        if (k >= hw) { k -= hw; plane++; }
    }
    part[threadIdx.x] = s;
    __syncthreads();
    for (int step = RFT_CUDA_THREADS / 2; step > 0; step /= 2) {
        if ((int)threadIdx.x < step) part[threadIdx.x] += part[threadIdx.x + step];
        __syncthreads();
    }
    if (threadIdx.x == 0) db[ch] = __fadd_rn(db[ch], __fmul_rn(scale, (float)part[0]));
}

/* ---- plans ---------------------------------------------------------------------------------- */

enum { FORWARD, BACKWARD_DATA, BACKWARD_FILTER, PASSES };
enum { PLAN_SLOTS = 64, MAX_ALGOS = 16 };
static const size_t WORKSPACE_CAP = (size_t)1 << 30;   /* no algorithm may ask for more scratch */
static const char *const pass_name[PASSES] = {"forward", "backward data", "backward filter"};

/* Everything a plan depends on; zero-filled before use so that it compares as bytes. */
typedef struct {
    int n, cin, h, w, cout, ho, wo;
    rft_conv2d_args a;
    int tf32;
} plan_key;

typedef struct {
    bool used;
    plan_key key;
    cudnnTensorDescriptor_t x, y;              /* x: (N,Cin,H,W), y: (N,Cout,Ho,Wo) */
    cudnnFilterDescriptor_t w;                 /* (Cout,Cin,kh,kw) */
    cudnnConvolutionDescriptor_t conv;
    bool chosen[PASSES];
    unsigned refused[PASSES];                  /* bit a: algorithm a failed with NOT_SUPPORTED when run */
    int algo[PASSES];                          /* the pass's cudnnConvolution*Algo_t */
    cudnnMathType_t math[PASSES];
    size_t ws[PASSES];                         /* workspace bytes */
} conv_plan;

static conv_plan plans[PLAN_SLOTS];
static int next_slot;                          /* where the next plan goes when all are used */

static void plan_clear(conv_plan *p)
{
    /* destroying a descriptor cannot fail in a way the caller could act on */
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    if (p->conv) cudnnDestroyConvolutionDescriptor(p->conv);
    memset(p, 0, sizeof *p);
}

static int plan_fill(conv_plan *p, const plan_key *k)
{
    p->key = *k;
    RFT_CUDA_CHECK(cudnnCreateTensorDescriptor(&p->x));
    RFT_CUDA_CHECK(cudnnCreateTensorDescriptor(&p->y));
    RFT_CUDA_CHECK(cudnnCreateFilterDescriptor(&p->w));
    RFT_CUDA_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    RFT_CUDA_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k->n, k->cin, k->h, k->w));
    RFT_CUDA_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k->cout, k->cin, k->a.kh,
                                              k->a.kw));
    RFT_CUDA_CHECK(cudnnSetConvolution2dDescriptor(p->conv, k->a.pad_h, k->a.pad_w, k->a.stride_h, k->a.stride_w, 1,
                                                   1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    int on = 0, oc = 0, oh = 0, ow = 0;
    RFT_CUDA_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &on, &oc, &oh, &ow));
    if (on != k->n || oc != k->cout || oh != k->ho || ow != k->wo)
        return rft_fail(RFT_ECUDA, "conv2d: cuDNN gives an output of [%d,%d,%d,%d] for input [%d,%d,%d,%d], rft "
                        "[%d,%d,%d,%d]", on, oc, oh, ow, k->n, k->cin, k->h, k->w, k->n, k->cout, k->ho, k->wo);
    RFT_CUDA_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k->n, k->cout, k->ho, k->wo));
    return RFT_OK;
}

/* Whether a candidate's math type is allowed: tensor-core (TF32) kernels only with $RFT_TF32=1. */
static bool math_allowed(cudnnMathType_t m, bool tf32)
{
    return tf32 || (m != CUDNN_TENSOR_OP_MATH && m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}

/* The workspace algo needs under math type m, or false when cuDNN says it cannot run it. */
static bool workspace_of(const conv_plan *p, int pass, int algo, size_t *bytes)
{
    cudnnHandle_t h = rft_cuda.cudnn;
    cudnnStatus_t s;
    switch (pass) {
    case FORWARD:
        s = cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->conv, p->y, (cudnnConvolutionFwdAlgo_t)algo,
                                                    bytes);
        break;
    case BACKWARD_DATA:
        s = cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, p->conv, p->x,
                                                         (cudnnConvolutionBwdDataAlgo_t)algo, bytes);
        break;
    default:
        s = cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->x, p->y, p->conv, p->w,
                                                           (cudnnConvolutionBwdFilterAlgo_t)algo, bytes);
        break;
    }
    return s == CUDNN_STATUS_SUCCESS && *bytes <= WORKSPACE_CAP;
}

/* Takes the first usable candidate of cuDNN's ranking (deterministic ones in a first round). */
template <typename Perf>
static int pick(conv_plan *p, int pass, const Perf *perf, int got)
{
    const bool tf32 = p->key.tf32 != 0;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < got; i++) {
            const Perf &r = perf[i];
            if (r.status != CUDNN_STATUS_SUCCESS || !math_allowed(r.mathType, tf32)) continue;
            if ((unsigned)r.algo < 32 && (p->refused[pass] >> (unsigned)r.algo & 1u)) continue;
            if (round == 0 && r.determinism != CUDNN_DETERMINISTIC) continue;
            const cudnnMathType_t m = tf32 ? r.mathType : CUDNN_FMA_MATH;
            RFT_CUDA_CHECK(cudnnSetConvolutionMathType(p->conv, m));
            size_t bytes = 0;
            if (!workspace_of(p, pass, (int)r.algo, &bytes)) continue;
            p->algo[pass] = (int)r.algo;
            p->math[pass] = m;
            p->ws[pass] = bytes;
            p->chosen[pass] = true;
            return RFT_OK;
        }
    const plan_key *k = &p->key;
    return rft_fail(RFT_ECUDA, "conv2d: cuDNN offers no %s algorithm for input [%d,%d,%d,%d], weight "
                    "[%d,%d,%d,%d], stride %d,%d, padding %d,%d (%d candidates, %s math, workspace cap %zu MiB%s)",
                    pass_name[pass], k->n, k->cin, k->h, k->w, k->cout, k->cin, k->a.kh, k->a.kw, k->a.stride_h,
                    k->a.stride_w, k->a.pad_h, k->a.pad_w, got, tf32 ? "TF32" : "FMA", WORKSPACE_CAP >> 20,
                    p->refused[pass] ? "; the others refused these operands when run" : "");
}

/* Chooses the algorithm of one pass from cuDNN's heuristics. */
static int choose(conv_plan *p, int pass)
{
    cudnnHandle_t h = rft_cuda.cudnn;
    RFT_CUDA_CHECK(cudnnSetConvolutionMathType(p->conv, p->key.tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    int max = 0, got = 0;
    switch (pass) {
    case FORWARD: {
        cudnnConvolutionFwdAlgoPerf_t perf[MAX_ALGOS];
        RFT_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max));
        max = max < MAX_ALGOS ? max : MAX_ALGOS;
        RFT_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y, max, &got, perf));
        return pick(p, pass, perf, got);
    }
    case BACKWARD_DATA: {
        cudnnConvolutionBwdDataAlgoPerf_t perf[MAX_ALGOS];
        RFT_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max));
        max = max < MAX_ALGOS ? max : MAX_ALGOS;
        RFT_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->conv, p->x, max, &got, perf));
        return pick(p, pass, perf, got);
    }
    default: {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[MAX_ALGOS];
        RFT_CUDA_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max));
        max = max < MAX_ALGOS ? max : MAX_ALGOS;
        RFT_CUDA_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->conv, p->w, max, &got, perf));
        return pick(p, pass, perf, got);
    }
    }
}

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

/* The plan of (x's shape, cout, args) with pass's algorithm chosen, its math type set on the
 * convolution descriptor and the workspace in *ws. */
static int plan_for(const rft_conv2d_args *a, const rft_tensor *x, int64_t cout, int pass, conv_plan **out,
                    void **ws)
{
    const int64_t ho = (x->shape[2] + 2 * (int64_t)a->pad_h - a->kh) / a->stride_h + 1;
    const int64_t wo = (x->shape[3] + 2 * (int64_t)a->pad_w - a->kw) / a->stride_w + 1;
    const int64_t dims[7] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], cout, ho, wo};
    for (int i = 0; i < 7; i++)
        if (!fits_int(dims[i]))
            return rft_fail(RFT_ESHAPE, "conv2d: input %s with %lld output channels is too large for cuDNN's "
                            "32-bit sizes", rft_shape_str(x), (long long)cout);
    plan_key k;
    memset(&k, 0, sizeof k);
    k.n = (int)dims[0]; k.cin = (int)dims[1]; k.h = (int)dims[2]; k.w = (int)dims[3];
    k.cout = (int)dims[4]; k.ho = (int)dims[5]; k.wo = (int)dims[6];
    k.a = *a;
    k.tf32 = rft_cuda.tf32;

    conv_plan *p = NULL;
    for (int i = 0; i < PLAN_SLOTS && !p; i++)
        if (plans[i].used && memcmp(&plans[i].key, &k, sizeof k) == 0) p = &plans[i];
    if (!p) {
        for (int i = 0; i < PLAN_SLOTS && !p; i++)
            if (!plans[i].used) p = &plans[i];
        if (!p) {
            p = &plans[next_slot];
            next_slot = (next_slot + 1) % PLAN_SLOTS;
        }
        plan_clear(p);
        int rc = plan_fill(p, &k);
        if (rc != RFT_OK) {
            plan_clear(p);
            return rc;
        }
        p->used = true;
    }
    if (!p->chosen[pass]) RFT_TRY(choose(p, pass));
    RFT_CUDA_CHECK(cudnnSetConvolutionMathType(p->conv, p->math[pass]));
    *ws = NULL;
    if (p->ws[pass] > 0) RFT_TRY(rft_cuda_workspace(p->ws[pass], ws));
    *out = p;
    return RFT_OK;
}

/* A pass run with the plan's algorithm gave status s. NOT_SUPPORTED at execution (an algorithm that
 * the heuristics offered but that refuses these operands, e.g. their alignment) marks it refused and
 * asks for the next candidate: *retry is set, and the caller runs the pass again. */
static int after_run(conv_plan *p, int pass, cudnnStatus_t s, const char *stmt, int line, bool *retry)
{
    *retry = false;
    if (s == CUDNN_STATUS_SUCCESS) return RFT_OK;
    if (s == CUDNN_STATUS_NOT_SUPPORTED && (unsigned)p->algo[pass] < 32) {
        p->refused[pass] |= 1u << (unsigned)p->algo[pass];
        p->chosen[pass] = false;
        *retry = true;
        return RFT_OK;
    }
    return rft_cuda_fail(s, stmt, __FILE__, line);
}

/* ---- launchers ------------------------------------------------------------------------------ */

/* y: (N,Cout,Ho,Wo) += b, if b */
static int add_bias(const rft_tensor *b, rft_tensor *y)
{
    if (!b) return RFT_OK;
    const int64_t n = y->numel, c = y->shape[1], hw = y->shape[2] * y->shape[3];
    RFT_LAUNCH(conv2d_bias_add_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(b), rft_f32(y), n, c, hw);
    return RFT_OK;
}

/* x: (N,Cin,H,W), w: (Cout,Cin,kh,kw), b: (Cout) or NULL -> y: (N,Cout,Ho,Wo) */
int rft_cuda_conv2d_forward(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w, const rft_tensor *b,
                            rft_tensor *y)
{
    if (y->numel == 0) return RFT_OK;
    if (x->numel == 0) {                          /* no input values: every output is its bias */
        RFT_CUDA_CHECK(cudaMemsetAsync(rft_ptr(y), 0, rft_nbytes(y), rft_cuda.stream));
        return add_bias(b, y);
    }
    const float one = 1.0f, zero = 0.0f;
    for (bool retry = true; retry;) {         /* the next candidate while one refuses to run */
        conv_plan *p;
        void *ws;
        RFT_TRY(plan_for(a, x, w->shape[0], FORWARD, &p, &ws));
        cudnnStatus_t s = cudnnConvolutionForward(rft_cuda.cudnn, &one, p->x, rft_ptr(x), p->w, rft_ptr(w), p->conv,
                                                  (cudnnConvolutionFwdAlgo_t)p->algo[FORWARD], ws, p->ws[FORWARD],
                                                  &zero, p->y, rft_ptr(y));
        RFT_TRY(after_run(p, FORWARD, s, "cudnnConvolutionForward", __LINE__, &retry));
    }
    return add_bias(b, y);
}

/* dy: (N,Cout,Ho,Wo), w: (Cout,Cin,kh,kw) -> dx: (N,Cin,H,W) */
int rft_cuda_conv2d_backward_input(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                                   const rft_tensor *dy, rft_tensor *dx)
{
    if (dx->numel == 0) return RFT_OK;
    if (dy->numel == 0) {                         /* no outputs (Cout = 0): nothing flows back */
        RFT_CUDA_CHECK(cudaMemsetAsync(rft_ptr(dx), 0, rft_nbytes(dx), rft_cuda.stream));
        return RFT_OK;
    }
    const float one = 1.0f, zero = 0.0f;
    for (bool retry = true; retry;) {
        conv_plan *p;
        void *ws;
        RFT_TRY(plan_for(a, x, w->shape[0], BACKWARD_DATA, &p, &ws));
        cudnnStatus_t s = cudnnConvolutionBackwardData(rft_cuda.cudnn, &one, p->w, rft_ptr(w), p->y, rft_ptr(dy),
                                                       p->conv, (cudnnConvolutionBwdDataAlgo_t)p->algo[BACKWARD_DATA],
                                                       ws, p->ws[BACKWARD_DATA], &zero, p->x, rft_ptr(dx));
        RFT_TRY(after_run(p, BACKWARD_DATA, s, "cudnnConvolutionBackwardData", __LINE__, &retry));
    }
    return RFT_OK;
}

/* x: (N,Cin,H,W), dy: (N,Cout,Ho,Wo) -> dw: (Cout,Cin,kh,kw) += scale * dL/dw, db: (Cout) += scale * sum
   of dy over N,Ho,Wo */
int rft_cuda_conv2d_backward_params(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *dy, float scale,
                                    rft_tensor *dw, rft_tensor *db)
{
    if (x->shape[0] == 0) return RFT_OK;          /* an empty batch: nothing to add */
    const int64_t n = dy->shape[0], cout = dy->shape[1], hw = dy->shape[2] * dy->shape[3];
    /* The filter pass first: when it fails (no algorithm, no memory) neither dw nor db has changed,
       as on the CPU, so a caller may retry without adding db twice. */
    if (x->numel > 0 && dw->numel > 0) {          /* else dL/dw is empty or 0 */
        const float one = 1.0f;
        for (bool retry = true; retry;) {
            conv_plan *p;
            void *ws;
            RFT_TRY(plan_for(a, x, dw->shape[0], BACKWARD_FILTER, &p, &ws));
            cudnnStatus_t s = cudnnConvolutionBackwardFilter(
                rft_cuda.cudnn, &scale, p->x, rft_ptr(x), p->y, rft_ptr(dy), p->conv,
                (cudnnConvolutionBwdFilterAlgo_t)p->algo[BACKWARD_FILTER], ws, p->ws[BACKWARD_FILTER], &one, p->w,
                rft_ptr(dw));
            RFT_TRY(after_run(p, BACKWARD_FILTER, s, "cudnnConvolutionBackwardFilter", __LINE__, &retry));
        }
    }
    if (db && cout > 0)
        RFT_LAUNCH(conv2d_bias_grad_kernel, (unsigned)cout, RFT_CUDA_THREADS, rft_f32(dy), scale, rft_f32(db), n,
                   cout, hw);
    return RFT_OK;
}
