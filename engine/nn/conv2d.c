/* conv2d.c: 2-D convolution of f32 NCHW tensors (cross-correlation, as PyTorch's conv2d): the public
 * entry points with their checks, and the CPU implementation on oneDNN.
 *
 * The CPU path hands oneDNN plain NCHW/OIHW tensors and lets it pick its layouts (nChw16c and
 * friends); the reorders both ways happen inside each call, in the shared workspace, so rft's
 * tensors stay plain at the interface. Weights are reordered on every call: they change each step
 * and nothing tells us when. 3x3 stride-1 convolutions with 16+ channels use Winograd F(4x4,3x3):
 * oneDNN's on AVX-512 CPUs, rft's own (engine/nn/winograd.c) on AVX2 ones, where oneDNN has none;
 * other layers oneDNN's direct convolution, and maps smaller than the kernel one dense GEMM (choices
 * measured with tools/bench/conv_layers.c and conv_layers_torch.py). The choice is made per call from
 * the CPU's features (cpuid), not the build machine's; RFT_CPU_ISA=avx2 takes the AVX2 path on an
 * AVX-512 CPU and RFT_CONV_ALGO forces one algorithm (see forced_algo()).
 *
 * Not here: dilation, groups, CUDA (kernels/conv2d.cu), the module (lua/rft/nn/Conv2d.lua).
 */
#include "backend.h"
#include "nn/dnnl_util.h"
#include "nn/winograd.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- checks --------------------------------------------------------------------------------- */

typedef struct { int64_t n, cin, h, w, cout, ho, wo; } conv_shape;

static int check_args(const rft_conv2d_args *a)
{
    if (!a) return rft_fail(RFT_EARG, "conv2d: args is missing (NULL)");
    if (a->kh < 1 || a->kw < 1)
        return rft_fail(RFT_EARG, "conv2d: kernel is %dx%d, expected at least 1x1", a->kh, a->kw);
    if (a->stride_h < 1 || a->stride_w < 1)
        return rft_fail(RFT_EARG, "conv2d: stride is %d,%d, expected at least 1", a->stride_h, a->stride_w);
    if (a->pad_h < 0 || a->pad_w < 0)
        return rft_fail(RFT_EARG, "conv2d: padding is %d,%d, expected at least 0", a->pad_h, a->pad_w);
    return RFT_OK;
}

static int check_f32_4d(const char *arg, const rft_tensor *t, const rft_tensor *x)
{
    RFT_TRY(rft_check_dtype("conv2d", arg, t, RFT_F32));
    RFT_TRY(rft_check_ndim("conv2d", arg, t, 4));
    return x ? rft_check_same_device("conv2d", arg, x, t) : RFT_OK;
}

/* x: (N,Cin,H,W) against a weight-shaped w: (Cout,Cin,kh,kw); gives the output size. */
static int check_geometry(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                          const char *warg, conv_shape *s)
{
    RFT_TRY(check_args(a));
    RFT_TRY(check_f32_4d("input", x, NULL));
    RFT_TRY(check_f32_4d(warg, w, x));
    if (w->shape[2] != a->kh || w->shape[3] != a->kw)
        return rft_fail(RFT_ESHAPE, "conv2d: %s %s has a %lldx%lld kernel, args say %dx%d", warg,
                        rft_shape_str(w), (long long)w->shape[2], (long long)w->shape[3], a->kh, a->kw);
    if (x->shape[1] != w->shape[1])
        return rft_fail(RFT_ESHAPE, "conv2d: input has %lld channels, %s expects %lld (input %s)",
                        (long long)x->shape[1], warg, (long long)w->shape[1], rft_shape_str(x));
    int64_t hp = x->shape[2] + 2 * (int64_t)a->pad_h, wp = x->shape[3] + 2 * (int64_t)a->pad_w;
    if (hp < a->kh || wp < a->kw)
        return rft_fail(RFT_ESHAPE, "conv2d: kernel %dx%d is larger than the padded input %lldx%lld "
                        "(input %s, padding %d,%d)", a->kh, a->kw, (long long)hp, (long long)wp,
                        rft_shape_str(x), a->pad_h, a->pad_w);
    *s = (conv_shape){x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0],
                      (hp - a->kh) / a->stride_h + 1, (wp - a->kw) / a->stride_w + 1};
    return RFT_OK;
}

static int check_bias(const char *arg, const rft_tensor *b, const rft_tensor *x, int64_t cout)
{
    if (!b) return RFT_OK;
    RFT_TRY(rft_check_dtype("conv2d", arg, b, RFT_F32));
    RFT_TRY(rft_check_same_device("conv2d", arg, x, b));
    if (b->ndim != 1 || b->shape[0] != cout)
        return rft_fail(RFT_ESHAPE, "conv2d: %s is %s, expected [%lld] (one per output channel)", arg,
                        rft_shape_str(b), (long long)cout);
    return RFT_OK;
}

static int check_grad_output(const rft_tensor *dy, const rft_tensor *x, const conv_shape *s)
{
    RFT_TRY(check_f32_4d("grad_output", dy, x));
    if (dy->shape[0] != s->n || dy->shape[1] != s->cout || dy->shape[2] != s->ho || dy->shape[3] != s->wo)
        return rft_fail(RFT_ESHAPE, "conv2d: grad_output is %s, expected [%lld,%lld,%lld,%lld] (input %s)",
                        rft_shape_str(dy), (long long)s->n, (long long)s->cout, (long long)s->ho,
                        (long long)s->wo, rft_shape_str(x));
    return RFT_OK;
}

/* Outputs are written in full, so they must not share memory with what is read. */
static int check_out(const char *arg, rft_tensor *out, const rft_tensor *x, const rft_tensor *in1,
                     const rft_tensor *in2)
{
    RFT_TRY(rft_check_dtype("conv2d", arg, out, RFT_F32));
    RFT_TRY(rft_check_same_device("conv2d", arg, x, out));
    if (out->storage == x->storage || (in1 && out->storage == in1->storage) || (in2 && out->storage == in2->storage))
        return rft_fail(RFT_EARG, "conv2d: %s shares memory with an input", arg);
    return RFT_OK;
}

/* ---- public entry points --------------------------------------------------------------------- */

int rft_conv2d_forward(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                       const rft_tensor *b, rft_tensor *y)
{
    conv_shape s = {0};
    RFT_TRY(check_geometry(a, x, w, "weight", &s));
    RFT_TRY(check_bias("bias", b, x, s.cout));
    RFT_TRY(check_out("output", y, x, w, b));
    int64_t shape[4] = {s.n, s.cout, s.ho, s.wo};
    RFT_TRY(rft_tensor_resize(y, 4, shape));
    RFT_DISPATCH("conv2d", x, conv2d_forward, a, x, w, b, y);
}

int rft_conv2d_backward_input(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                              const rft_tensor *dy, rft_tensor *dx)
{
    conv_shape s = {0};
    RFT_TRY(check_geometry(a, x, w, "weight", &s));
    RFT_TRY(check_grad_output(dy, x, &s));
    RFT_TRY(check_out("grad_input", dx, x, w, dy));
    RFT_TRY(rft_tensor_resize(dx, 4, x->shape));
    RFT_DISPATCH("conv2d", x, conv2d_backward_input, a, x, w, dy, dx);
}

int rft_conv2d_backward_params(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *dy,
                               float scale, rft_tensor *dw, rft_tensor *db)
{
    conv_shape s = {0};
    RFT_TRY(check_geometry(a, x, dw, "grad_weight", &s));
    RFT_TRY(check_grad_output(dy, x, &s));
    RFT_TRY(check_out("grad_weight", dw, x, dy, NULL));
    RFT_TRY(check_bias("grad_bias", db, x, s.cout));
    if (db) RFT_TRY(check_out("grad_bias", db, x, dy, NULL));
    RFT_DISPATCH("conv2d", x, conv2d_backward_params, a, x, dy, scale, dw, db);
}

/* ---- CPU: oneDNN ----------------------------------------------------------------------------- */

/* x's shape and, from args, the output's; x already checked. */
static conv_shape shape_of(const rft_conv2d_args *a, const rft_tensor *x, int64_t cout)
{
    return (conv_shape){x->shape[0], x->shape[1], x->shape[2], x->shape[3], cout,
                        (x->shape[2] + 2 * a->pad_h - a->kh) / a->stride_h + 1,
                        (x->shape[3] + 2 * a->pad_w - a->kw) / a->stride_w + 1};
}

enum { FORWARD, BACKWARD_INPUT, BACKWARD_PARAMS };

/* Everything a plan depends on; zero-filled before use so that it compares as bytes. */
typedef struct {
    int pass, bias, algo;
    rft_conv2d_args a;
    conv_shape s;
} plan_key;
_Static_assert(sizeof(plan_key) <= RFT_DNNL_KEY_BYTES, "plan_key must fit a plan cache key");

/* The algorithms the CPU path has, and the one a layer gets. RFT_CONV_ALGO forces one for every layer it
   applies to (specs and benchmarks use it to run each algorithm the machine has): "direct" (oneDNN's
   direct convolution), "winograd_dnnl" (oneDNN's Winograd F(4x4,3x3), AVX-512 only), "winograd" (rft's
   own F(4x4,3x3), AVX2 + FMA: engine/nn/winograd.c), "dense" (maps smaller than the kernel as one GEMM);
   unset or "auto": the measured choice (choose()). A forced algorithm that cannot run a layer is an
   error that names it, never a silent fallback. */
enum { ALGO_AUTO, ALGO_DIRECT, ALGO_WINOGRAD_DNNL, ALGO_DENSE, ALGO_WINOGRAD };
static const char *const algo_names[] = {"auto", "direct", "winograd_dnnl", "dense", "winograd"};

static int forced_algo(int *out)
{
    const char *e = getenv("RFT_CONV_ALGO");
    *out = ALGO_AUTO;
    if (!e || !*e) return RFT_OK;
    for (int i = 0; i < (int)(sizeof algo_names / sizeof *algo_names); i++)
        if (strcmp(e, algo_names[i]) == 0) { *out = i; return RFT_OK; }
    return rft_fail(RFT_EARG, "conv2d: RFT_CONV_ALGO is '%s', expected auto, direct, winograd, winograd_dnnl or dense",
                    e);
}

/* Whether the AVX-512 choices apply: the CPU has AVX-512 and neither RFT_CPU_ISA=avx2 nor a oneDNN ISA
   limit below AVX-512 (ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA, which also stops oneDNN's Winograd)
   asks for the AVX2 path. */
static int avx512_path(bool *out)
{
    const char *e = getenv("RFT_CPU_ISA");
    *out = false;
    if (e && *e && strcmp(e, "avx2") != 0 && strcmp(e, "avx512") != 0)
        return rft_fail(RFT_EARG, "conv2d: RFT_CPU_ISA is '%s', expected avx2 or avx512", e);
    if (e && strcmp(e, "avx2") == 0) return RFT_OK;
    const char *lim = getenv("ONEDNN_MAX_CPU_ISA");
    if (!lim || !*lim) lim = getenv("DNNL_MAX_CPU_ISA");
    if (lim && *lim && strncasecmp(lim, "AVX512", 6) != 0 && strcasecmp(lim, "ALL") != 0) return RFT_OK;
    __builtin_cpu_init();
    *out = __builtin_cpu_supports("avx512f");
    return RFT_OK;
}

static int not_applicable(int algo, const char *why)
{
    return rft_fail(RFT_EARG, "conv2d: algorithm %s (RFT_CONV_ALGO) cannot run this layer: %s", algo_names[algo],
                    why);
}

static bool wino_shape(const plan_key *k)
{
    return k->a.kh == 3 && k->a.kw == 3 && k->a.stride_h == 1 && k->a.stride_w == 1;
}

/* Winograd (oneDNN's F(4x4,3x3) on AVX-512) for 3x3 stride-1 layers: on VGG-16's CIFAR layers it
   took 40-65% off every pass, except where its tiles are mostly padding: under 16 channels (oneDNN
   pads channels to 16; the 3-channel first layer ran 3.7x slower than direct) or outputs under 4x4
   (a 4x4 tile for a 2x2 map: 1.4x slower). tools/bench/conv_layers.c measures it. */
static int algorithm(const plan_key *k, dnnl_alg_kind_t *alg)
{
    if (k->algo == ALGO_DIRECT) { *alg = dnnl_convolution_direct; return RFT_OK; }
    if (k->algo == ALGO_WINOGRAD_DNNL) {
        if (!wino_shape(k)) return not_applicable(k->algo, "it is not a 3x3 stride-1 convolution");
        *alg = dnnl_convolution_winograd;
        return RFT_OK;
    }
    bool wino = wino_shape(k) && k->s.cin >= 16 && k->s.cout >= 16 && k->s.ho >= 4 && k->s.wo >= 4;
    *alg = wino ? dnnl_convolution_winograd : dnnl_convolution_direct;
    return RFT_OK;
}

typedef struct {
    dnnl_memory_desc_t src, weights, bias, dst;    /* layouts left to oneDNN (format "any") */
    dnnl_dims_t strides, pad_l, pad_r;
} conv_descs;

static int make_descs(const plan_key *k, conv_descs *d)
{
    const conv_shape *s = &k->s;
    dnnl_dims_t src = {s->n, s->cin, s->h, s->w}, wei = {s->cout, s->cin, k->a.kh, k->a.kw};
    dnnl_dims_t bias = {s->cout}, dst = {s->n, s->cout, s->ho, s->wo};
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(&d->src, 4, src, dnnl_f32, dnnl_format_tag_any);
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_tag(&d->weights, 4, wei, dnnl_f32, dnnl_format_tag_any);
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_tag(&d->bias, 1, bias, dnnl_f32, dnnl_format_tag_any);
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_tag(&d->dst, 4, dst, dnnl_f32, dnnl_format_tag_any);
    if (st != dnnl_success) return rft_dnnl_fail("conv2d", "memory descriptor", st);
    d->strides[0] = k->a.stride_h; d->strides[1] = k->a.stride_w;
    d->pad_l[0] = k->a.pad_h; d->pad_l[1] = k->a.pad_w;
    /* Right padding that just reaches the last output (PyTorch drops what a stride leaves over). */
    int64_t ph = (s->ho - 1) * k->a.stride_h + k->a.kh - s->h - k->a.pad_h;
    int64_t pw = (s->wo - 1) * k->a.stride_w + k->a.kw - s->w - k->a.pad_w;
    d->pad_r[0] = ph > 0 ? ph : 0; d->pad_r[1] = pw > 0 ? pw : 0;
    return RFT_OK;
}

/* The primitive descriptor of one pass with algorithm alg; forward also serves as the backward
   passes' hint. Returns the oneDNN status so that the caller can fall back on "unimplemented". */
static dnnl_status_t make_pd(const plan_key *k, const conv_descs *d, dnnl_alg_kind_t alg, dnnl_engine_t eng,
                             dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    const dnnl_memory_desc_t *bias = k->bias ? &d->bias : NULL;
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_desc_t hint = NULL;
    dnnl_status_t st = dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, alg, &d->src, &d->weights,
                                                          k->pass == FORWARD ? bias : NULL, &d->dst,
                                                          d->strides, d->pad_l, d->pad_r);
    if (st != dnnl_success) return st;
    if (k->pass == FORWARD) return dnnl_primitive_desc_create(pd, &fd, attr, eng, NULL);
    st = dnnl_primitive_desc_create(&hint, &fd, NULL, eng, NULL);
    if (st != dnnl_success) return st;
    if (k->pass == BACKWARD_INPUT)
        st = dnnl_convolution_backward_data_desc_init(&bd, alg, &d->src, &d->weights, &d->dst, d->strides,
                                                      d->pad_l, d->pad_r);
    else
        st = dnnl_convolution_backward_weights_desc_init(&bd, alg, &d->src, &d->weights, bias, &d->dst,
                                                         d->strides, d->pad_l, d->pad_r);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(pd, &bd, attr, eng, hint);
    dnnl_primitive_desc_destroy(hint);
    return st;
}

static rft_dnnl_arg_spec spec(int arg, int ndims, const int64_t *dims, dnnl_format_tag_t tag, bool output,
                              bool accumulate)
{
    rft_dnnl_arg_spec sp = {.arg = arg, .ndims = ndims, .tag = tag, .output = output, .accumulate = accumulate};
    for (int i = 0; i < ndims; i++) sp.dims[i] = dims[i];
    return sp;
}

static int build_plan(rft_dnnl_plan *p, const plan_key *k, float scale)
{
    dnnl_engine_t eng;
    conv_descs d;
    dnnl_primitive_attr_t attr;
    dnnl_primitive_desc_t pd = NULL;
    RFT_TRY(rft_dnnl_engine("conv2d", &eng));
    RFT_TRY(make_descs(k, &d));
    RFT_TRY(rft_dnnl_attr("conv2d", &attr));
    dnnl_alg_kind_t alg = dnnl_convolution_direct;
    int rc = algorithm(k, &alg);
    if (rc) {
        dnnl_primitive_attr_destroy(attr);
        return rc;
    }
    dnnl_status_t st = make_pd(k, &d, alg, eng, attr, &pd);
    if (st == dnnl_unimplemented && alg != dnnl_convolution_direct) {
        if (k->algo != ALGO_AUTO) {
            dnnl_primitive_attr_destroy(attr);
            return not_applicable(k->algo, "oneDNN has no Winograd for this CPU (it needs AVX-512)");
        }
        st = make_pd(k, &d, dnnl_convolution_direct, eng, attr, &pd);
    }
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return rft_dnnl_fail("conv2d", "convolution set-up", st);

    const conv_shape *s = &k->s;
    int64_t xd[4] = {s->n, s->cin, s->h, s->w}, wd[4] = {s->cout, s->cin, k->a.kh, k->a.kw};
    int64_t yd[4] = {s->n, s->cout, s->ho, s->wo}, bd[1] = {s->cout};
    rft_dnnl_arg_spec sp[4];
    int n = 0;
    switch (k->pass) {
    case FORWARD:
        sp[n++] = spec(DNNL_ARG_SRC, 4, xd, dnnl_nchw, false, false);
        sp[n++] = spec(DNNL_ARG_WEIGHTS, 4, wd, dnnl_oihw, false, false);
        if (k->bias) sp[n++] = spec(DNNL_ARG_BIAS, 1, bd, dnnl_x, false, false);
        sp[n++] = spec(DNNL_ARG_DST, 4, yd, dnnl_nchw, true, false);
        break;
    case BACKWARD_INPUT:
        sp[n++] = spec(DNNL_ARG_WEIGHTS, 4, wd, dnnl_oihw, false, false);
        sp[n++] = spec(DNNL_ARG_DIFF_DST, 4, yd, dnnl_nchw, false, false);
        sp[n++] = spec(DNNL_ARG_DIFF_SRC, 4, xd, dnnl_nchw, true, false);
        break;
    default:
        sp[n++] = spec(DNNL_ARG_SRC, 4, xd, dnnl_nchw, false, false);
        sp[n++] = spec(DNNL_ARG_DIFF_DST, 4, yd, dnnl_nchw, false, false);
        sp[n++] = spec(DNNL_ARG_DIFF_WEIGHTS, 4, wd, dnnl_oihw, true, true);
        if (k->bias) sp[n++] = spec(DNNL_ARG_DIFF_BIAS, 1, bd, dnnl_x, true, true);
        break;
    }
    return rft_dnnl_plan_build(p, "conv2d", pd, n, sp, scale);
}

/* Finds or builds the plan for (pass, shapes, args) and runs it on data (in the plan's spec order). */
static int run(int pass, int algo, const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w_or_dw,
               bool bias, void *const *data, float scale)
{
    if (x->shape[0] == 0) return RFT_OK;            /* an empty batch: nothing to compute or add */
    plan_key k;
    memset(&k, 0, sizeof k);
    k.pass = pass;
    k.algo = algo;
    k.bias = bias;
    k.a = *a;
    k.s = shape_of(a, x, w_or_dw->shape[0]);
    rft_dnnl_plan *slot, *p = rft_dnnl_plan_find(&k, sizeof k, &slot);
    if (!p) {
        RFT_TRY(build_plan(slot, &k, scale));
        p = slot;
    }
    return rft_dnnl_plan_run(p, "conv2d", data, scale);
}

/* ---- CPU: maps smaller than the kernel, as one GEMM --------------------------------------------- */

/* When H*W < kh*kw (VGG's 2x2 maps under a 3x3 kernel), most taps of every window fall on padding.
   The convolution is then a dense layer from Cin*H*W to Cout*Ho*Wo features whose matrix wd holds
   taps of w (or 0), and one GEMM over it does fewer FLOPs than any convolution algorithm: 4/9 of
   direct's on 2x2 maps, where it measured 2-3x faster than oneDNN's direct convolution backward and
   1.3x forward. Only while wd, (Cout*Ho*Wo, Cin*H*W), stays within twice the size of w: it lives in
   the workspace. */
static bool dense(const rft_tensor *x, const rft_conv2d_args *a)
{
    int64_t kk = (int64_t)a->kh * a->kw, hw = x->shape[2] * x->shape[3];
    conv_shape s = shape_of(a, x, 1);
    return hw < kk && hw * s.ho * s.wo <= 2 * kk;
}

/* The tap of the kernel joining output position p = (oy,ox) to input position q = (iy,ix), or -1. */
static int64_t tap(const conv_shape *s, const rft_conv2d_args *a, int64_t p, int64_t q)
{
    int64_t ky = q / s->w - p / s->wo * a->stride_h + a->pad_h;
    int64_t kx = q % s->w - p % s->wo * a->stride_w + a->pad_w;
    return ky >= 0 && ky < a->kh && kx >= 0 && kx < a->kw ? ky * a->kw + kx : -1;
}

/* w: (Cout,Cin,kh,kw) -> wd: (Cout*Ho*Wo, Cin*H*W), wd[(o,p),(i,q)] = w[o,i,tap(p,q)] or 0 */
RFT_CLONES
static void dense_weights(const conv_shape *s, const rft_conv2d_args *a, const float *w, float *wd)
{
    int64_t np = s->ho * s->wo, nq = s->h * s->w, kk = (int64_t)a->kh * a->kw, k = s->cin * nq;
    #pragma omp parallel for
    for (int64_t o = 0; o < s->cout; o++)
        for (int64_t p = 0; p < np; p++) {
            float *row = wd + (o * np + p) * k;
            for (int64_t q = 0; q < nq; q++) {
                int64_t t = tap(s, a, p, q);
                for (int64_t i = 0; i < s->cin; i++) row[i * nq + q] = t < 0 ? 0.0f : w[(o * s->cin + i) * kk + t];
            }
        }
}

/* a: (r,c) -> at: (c,r), in 32x32 tiles */
RFT_CLONES
static void transpose(const float *a, int64_t r, int64_t c, float *at)
{
    #pragma omp parallel for
    for (int64_t i0 = 0; i0 < r; i0 += 32)
        for (int64_t j0 = 0; j0 < c; j0 += 32)
            for (int64_t i = i0; i < i0 + 32 && i < r; i++)
                for (int64_t j = j0; j < j0 + 32 && j < c; j++) at[j * r + i] = a[i * c + j];
}

static int sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda, const float *B,
                 int64_t ldb, float beta, float *C, int64_t ldc)
{
    dnnl_status_t st = dnnl_sgemm(ta, tb, m, n, k, 1.0f, A, lda, B, ldb, beta, C, ldc);
    return st == dnnl_success ? RFT_OK : rft_dnnl_fail("conv2d", "sgemm", st);
}

RFT_CLONES
static int dense_forward(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w, const rft_tensor *b,
                         rft_tensor *y)
{
    conv_shape s = shape_of(a, x, w->shape[0]);
    int64_t np = s.ho * s.wo, m = s.cout * np, k = s.cin * s.h * s.w;
    float *wd, *Y = rft_f32(y);
    RFT_TRY(rft_dnnl_workspace("conv2d", (size_t)(m * k + k * s.n + m * s.n) * sizeof(float), (char **)&wd));
    float *xt = wd + m * k, *yt = xt + k * s.n;
    dense_weights(&s, a, rft_f32(w), wd);
    /* yᵀ: (Cout*Ho*Wo, N) = wd xᵀ, with x: (N, Cin*H*W). dnnl_sgemm ran 2-3x slower here on y = x wdᵀ
       (a transposed B), so the two small activations are transposed instead of the large wd. */
    transpose(rft_f32(x), s.n, k, xt);
    RFT_TRY(sgemm('N', 'N', m, s.n, k, wd, k, xt, s.n, 0.0f, yt, s.n));
    transpose(yt, m, s.n, Y);
    if (b) {
        const float *B = rft_f32(b);
        #pragma omp parallel for
        for (int64_t r = 0; r < s.n * s.cout; r++)
            for (int64_t p = 0; p < np; p++) Y[r * np + p] += B[r % s.cout];
    }
    return RFT_OK;
}

static int dense_backward_input(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                                const rft_tensor *dy, rft_tensor *dx)
{
    conv_shape s = shape_of(a, x, w->shape[0]);
    int64_t m = s.cout * s.ho * s.wo, k = s.cin * s.h * s.w;
    float *wd;
    RFT_TRY(rft_dnnl_workspace("conv2d", (size_t)(m * k) * sizeof(float), (char **)&wd));
    dense_weights(&s, a, rft_f32(w), wd);
    /* dx: (N, Cin*H*W) = dy: (N, Cout*Ho*Wo) wd */
    return sgemm('N', 'N', s.n, k, m, rft_f32(dy), m, wd, k, 0.0f, rft_f32(dx), k);
}

RFT_CLONES
static int dense_backward_params(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *dy, float scale,
                                 rft_tensor *dw, rft_tensor *db)
{
    conv_shape s = shape_of(a, x, dw->shape[0]);
    int64_t np = s.ho * s.wo, nq = s.h * s.w, m = s.cout * np, k = s.cin * nq, kk = (int64_t)a->kh * a->kw;
    float *dwd, *DW = rft_f32(dw);
    const float *DY = rft_f32(dy);
    RFT_TRY(rft_dnnl_workspace("conv2d", (size_t)(m * k) * sizeof(float), (char **)&dwd));
    /* dwd: (Cout*Ho*Wo, Cin*H*W) = dyᵀ x, then folded onto the taps it came from */
    RFT_TRY(sgemm('T', 'N', m, k, s.n, DY, m, rft_f32(x), k, 0.0f, dwd, k));
    #pragma omp parallel for
    for (int64_t o = 0; o < s.cout; o++) {
        for (int64_t p = 0; p < np; p++) {
            const float *row = dwd + (o * np + p) * k;
            for (int64_t q = 0; q < nq; q++) {
                int64_t t = tap(&s, a, p, q);
                if (t < 0) continue;
                for (int64_t i = 0; i < s.cin; i++) DW[(o * s.cin + i) * kk + t] += scale * row[i * nq + q];
            }
        }
        if (db) {
            double sum = 0;
            for (int64_t n = 0; n < s.n; n++)
                for (int64_t p = 0; p < np; p++) sum += DY[(n * s.cout + o) * np + p];
            rft_f32(db)[o] += scale * (float)sum;
        }
    }
    return RFT_OK;
}

/* ---- CPU entry points ------------------------------------------------------------------------ */

/* rft's Winograd on the AVX2 path from this many input and output channels, 4x4 outputs and 32 tiles
   of 4x4 in the batch (tools/bench/conv_layers.c, batch 64, one thread, AVX2 forced on a Zen 5, busy
   machine): VGG-16's layers ran 2-2.5x faster than oneDNN's direct convolution on 32x32 to 4x4 maps, the
   3-channel first layer 2x slower (its GEMMs are 3 deep); a batch of a few images on small maps has
   too few tiles for the 36 transformed weight matrices to pay. */
enum { WINO_MIN_CHANNELS = 16, WINO_MIN_MAP = 4, WINO_MIN_TILES = 32 };

static bool wino_geometry(const rft_conv2d_args *a)
{
    return a->kh == 3 && a->kw == 3 && a->stride_h == 1 && a->stride_w == 1 && a->pad_h <= 2 && a->pad_w <= 2;
}

/* The algorithm for a layer: the forced one (RFT_CONV_ALGO), else dense GEMM where it pays, rft's
   Winograd for 3x3 stride-1 layers on the AVX2 path, and otherwise the oneDNN plan's own choice
   (ALGO_AUTO: oneDNN's Winograd or direct, see algorithm()). */
static int choose(const rft_conv2d_args *a, const rft_tensor *x, int64_t cout, int *algo)
{
    RFT_TRY(forced_algo(algo));
    conv_shape s = shape_of(a, x, cout);
    if (*algo == ALGO_DENSE) {
        int64_t kk = (int64_t)a->kh * a->kw, hw = x->shape[2] * x->shape[3];
        if (hw * s.ho * s.wo > 2 * kk)
            return not_applicable(*algo, "its dense matrix would be over twice the size of the weight");
        return RFT_OK;
    }
    if (*algo == ALGO_WINOGRAD) {
        if (!wino_geometry(a)) return not_applicable(*algo, "it is not a 3x3 stride-1 convolution padded 0 to 2");
        if (!rft_wino_supported()) return not_applicable(*algo, "this CPU lacks AVX2 and FMA");
        return RFT_OK;
    }
    if (*algo != ALGO_AUTO) return RFT_OK;
    if (dense(x, a)) { *algo = ALGO_DENSE; return RFT_OK; }
    bool avx512;
    RFT_TRY(avx512_path(&avx512));
    if (!avx512 && wino_geometry(a) && s.cin >= WINO_MIN_CHANNELS && s.cout >= WINO_MIN_CHANNELS &&
        s.ho >= WINO_MIN_MAP && s.wo >= WINO_MIN_MAP && s.n * ((s.ho + 3) / 4) * ((s.wo + 3) / 4) >= WINO_MIN_TILES &&
        rft_wino_supported())
        *algo = ALGO_WINOGRAD;
    return RFT_OK;
}

static rft_wino_geom wino_geom(const rft_conv2d_args *a, const rft_tensor *x, int64_t cout)
{
    conv_shape s = shape_of(a, x, cout);
    return (rft_wino_geom){s.n, s.cin, s.h, s.w, s.cout, s.ho, s.wo, a->pad_h, a->pad_w};
}

/* x: (N,Cin,H,W), w: (Cout,Cin,kh,kw), b: (Cout) or NULL -> y: (N,Cout,Ho,Wo) */
int rft_cpu_conv2d_forward(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                           const rft_tensor *b, rft_tensor *y)
{
    int algo;
    RFT_TRY(choose(a, x, w->shape[0], &algo));
    if (algo == ALGO_DENSE) return x->shape[0] ? dense_forward(a, x, w, b, y) : RFT_OK;
    if (algo == ALGO_WINOGRAD) {
        rft_wino_geom g = wino_geom(a, x, w->shape[0]);
        return rft_wino_forward(&g, rft_f32(x), rft_f32(w), b ? rft_f32(b) : NULL, rft_f32(y));
    }
    void *data[4];
    int n = 0;
    data[n++] = rft_f32(x);
    data[n++] = rft_f32(w);
    if (b) data[n++] = rft_f32(b);
    data[n++] = rft_f32(y);
    return run(FORWARD, algo, a, x, w, b != NULL, data, 1.0f);
}

/* dy: (N,Cout,Ho,Wo), w: (Cout,Cin,kh,kw) -> dx: (N,Cin,H,W) */
int rft_cpu_conv2d_backward_input(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                                  const rft_tensor *dy, rft_tensor *dx)
{
    int algo;
    RFT_TRY(choose(a, x, w->shape[0], &algo));
    if (algo == ALGO_DENSE) return x->shape[0] ? dense_backward_input(a, x, w, dy, dx) : RFT_OK;
    if (algo == ALGO_WINOGRAD) {
        rft_wino_geom g = wino_geom(a, x, w->shape[0]);
        return rft_wino_backward_data(&g, rft_f32(w), rft_f32(dy), rft_f32(dx));
    }
    void *data[3] = {rft_f32(w), rft_f32(dy), rft_f32(dx)};
    return run(BACKWARD_INPUT, algo, a, x, w, false, data, 1.0f);
}

/* x: (N,Cin,H,W), dy: (N,Cout,Ho,Wo) -> dw: (Cout,Cin,kh,kw) += scale * dL/dw, db: (Cout) += scale * sum
   of dy over N,Ho,Wo */
int rft_cpu_conv2d_backward_params(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *dy,
                                   float scale, rft_tensor *dw, rft_tensor *db)
{
    int algo;
    RFT_TRY(choose(a, x, dw->shape[0], &algo));
    if (algo == ALGO_DENSE) return x->shape[0] ? dense_backward_params(a, x, dy, scale, dw, db) : RFT_OK;
    if (algo == ALGO_WINOGRAD) {
        rft_wino_geom g = wino_geom(a, x, dw->shape[0]);
        return rft_wino_backward_weights(&g, rft_f32(x), rft_f32(dy), scale, rft_f32(dw), db ? rft_f32(db) : NULL);
    }
    void *data[4] = {rft_f32(x), rft_f32(dy), rft_f32(dw), db ? rft_f32(db) : NULL};
    return run(BACKWARD_PARAMS, algo, a, x, dw, db != NULL, data, scale);
}
