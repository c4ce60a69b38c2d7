/* linear.c: the fully connected layer y = x wᵀ + b on f32 tensors, weight in PyTorch's (out, in)
 * layout: the public entry points with their checks, and the CPU implementation as three GEMMs.
 *
 * The CPU GEMM is oneDNN's dnnl_sgemm (row-major, OpenMP threads): measured against OpenBLAS 0.3.21
 * here it was as fast or faster on every layer shape, and OpenBLAS reaches its AVX-512 kernel on this
 * CPU only with OPENBLAS_CORETYPE set before it loads, which a library cannot arrange.
 *
 * Not here: CUDA (kernels/linear.cu), the module (lua/rft/nn/Linear.lua), flattening (the caller
 * reshapes (N,C,H,W) to (N,C*H*W)).
 */
#include "backend.h"
#include <dnnl.h>
#include <dnnl_debug.h>
#include <string.h>

/* ---- checks --------------------------------------------------------------------------------- */

static int check_2d(const char *arg, const rft_tensor *t, const rft_tensor *x)
{
    RFT_TRY(rft_check_dtype("linear", arg, t, RFT_F32));
    RFT_TRY(rft_check_ndim("linear", arg, t, 2));
    return x ? rft_check_same_device("linear", arg, x, t) : RFT_OK;
}

/* x: (N,in) against a weight-shaped w: (out,in). */
static int check_weight(const rft_tensor *x, const rft_tensor *w, const char *warg)
{
    RFT_TRY(check_2d("input", x, NULL));
    RFT_TRY(check_2d(warg, w, x));
    if (x->shape[1] != w->shape[1])
        return rft_fail(RFT_ESHAPE, "linear: input has %lld features, %s expects %lld (input %s, %s %s)",
                        (long long)x->shape[1], warg, (long long)w->shape[1], rft_shape_str(x), warg,
                        rft_shape_str(w));
    return RFT_OK;
}

static int check_bias(const char *arg, const rft_tensor *b, const rft_tensor *x, int64_t out)
{
    if (!b) return RFT_OK;
    RFT_TRY(rft_check_dtype("linear", arg, b, RFT_F32));
    RFT_TRY(rft_check_same_device("linear", arg, x, b));
    if (b->ndim != 1 || b->shape[0] != out)
        return rft_fail(RFT_ESHAPE, "linear: %s is %s, expected [%lld] (one per output feature)", arg,
                        rft_shape_str(b), (long long)out);
    return RFT_OK;
}

static int check_grad_output(const rft_tensor *dy, const rft_tensor *x, int64_t out)
{
    RFT_TRY(check_2d("grad_output", dy, x));
    if (dy->shape[0] != x->shape[0] || dy->shape[1] != out)
        return rft_fail(RFT_ESHAPE, "linear: grad_output is %s, expected [%lld,%lld] (input %s)",
                        rft_shape_str(dy), (long long)x->shape[0], (long long)out, rft_shape_str(x));
    return RFT_OK;
}

static int check_out(const char *arg, rft_tensor *out, const rft_tensor *x, const rft_tensor *in1,
                     const rft_tensor *in2)
{
    RFT_TRY(rft_check_dtype("linear", arg, out, RFT_F32));
    RFT_TRY(rft_check_same_device("linear", arg, x, out));
    if (out->storage == x->storage || (in1 && out->storage == in1->storage) || (in2 && out->storage == in2->storage))
        return rft_fail(RFT_EARG, "linear: %s shares memory with an input", arg);
    return RFT_OK;
}

/* ---- public entry points --------------------------------------------------------------------- */

int rft_linear_forward(const rft_tensor *x, const rft_tensor *w, const rft_tensor *b, rft_tensor *y)
{
    RFT_TRY(check_weight(x, w, "weight"));
    RFT_TRY(check_bias("bias", b, x, w->shape[0]));
    RFT_TRY(check_out("output", y, x, w, b));
    int64_t shape[2] = {x->shape[0], w->shape[0]};
    RFT_TRY(rft_tensor_resize(y, 2, shape));
    RFT_DISPATCH("linear", x, linear_forward, x, w, b, y);
}

int rft_linear_backward_input(const rft_tensor *x, const rft_tensor *w, const rft_tensor *dy, rft_tensor *dx)
{
    RFT_TRY(check_weight(x, w, "weight"));
    RFT_TRY(check_grad_output(dy, x, w->shape[0]));
    RFT_TRY(check_out("grad_input", dx, x, w, dy));
    RFT_TRY(rft_tensor_resize(dx, 2, x->shape));
    RFT_DISPATCH("linear", x, linear_backward_input, x, w, dy, dx);
}

int rft_linear_backward_params(const rft_tensor *x, const rft_tensor *dy, float scale, rft_tensor *dw,
                               rft_tensor *db)
{
    RFT_TRY(check_weight(x, dw, "grad_weight"));
    RFT_TRY(check_grad_output(dy, x, dw->shape[0]));
    RFT_TRY(check_out("grad_weight", dw, x, dy, NULL));
    RFT_TRY(check_bias("grad_bias", db, x, dw->shape[0]));
    if (db) RFT_TRY(check_out("grad_bias", db, x, dy, NULL));
    RFT_DISPATCH("linear", x, linear_backward_params, x, dy, scale, dw, db);
}

/* ---- CPU ------------------------------------------------------------------------------------- */

/* Row-major C (m,n) = alpha op(A) op(B) + beta C. */
static int sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (m == 0 || n == 0) return RFT_OK;
    if (k == 0) {             /* no features: C = beta C (dnnl_sgemm rejects the leading dimension 0) */
        if (beta == 0.0f) memset(C, 0, (size_t)(m * ldc) * sizeof(float));
        return RFT_OK;
    }
    dnnl_status_t s = dnnl_sgemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    return s == dnnl_success ? RFT_OK : rft_fail(RFT_EARG, "linear: oneDNN sgemm failed (%s)", dnnl_status2str(s));
}

/* x: (N,in), w: (out,in), b: (out) or NULL -> y: (N,out) = x wᵀ + b */
RFT_CLONES
int rft_cpu_linear_forward(const rft_tensor *x, const rft_tensor *w, const rft_tensor *b, rft_tensor *y)
{
    int64_t n = x->shape[0], in = x->shape[1], out = w->shape[0];
    float *Y = rft_f32(y);
    if (b) {
        const float *B = rft_f32(b);
        #pragma omp parallel for if (n * out >= RFT_PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < out; j++) Y[i * out + j] = B[j];
    }
    return sgemm('N', 'T', n, out, in, 1.0f, rft_f32(x), in, rft_f32(w), in, b ? 1.0f : 0.0f, Y, out);
}

/* dy: (N,out), w: (out,in) -> dx: (N,in) = dy w */
int rft_cpu_linear_backward_input(const rft_tensor *x, const rft_tensor *w, const rft_tensor *dy, rft_tensor *dx)
{
    int64_t n = x->shape[0], in = x->shape[1], out = w->shape[0];
    return sgemm('N', 'N', n, in, out, 1.0f, rft_f32(dy), out, rft_f32(w), in, 0.0f, rft_f32(dx), in);
}

/* x: (N,in), dy: (N,out) -> dw: (out,in) += scale dyᵀ x, db: (out) += scale * column sums of dy */
RFT_CLONES
int rft_cpu_linear_backward_params(const rft_tensor *x, const rft_tensor *dy, float scale, rft_tensor *dw,
                                   rft_tensor *db)
{
    int64_t n = x->shape[0], in = x->shape[1], out = dy->shape[1];
    if (db) {
        const float *DY = rft_f32(dy);
        float *DB = rft_f32(db);
        #pragma omp parallel for if (n * out >= RFT_PAR_MIN)
        for (int64_t j = 0; j < out; j++) {
            double sum = 0;
            for (int64_t i = 0; i < n; i++) sum += DY[i * out + j];
            DB[j] += scale * (float)sum;
        }
    }
    return sgemm('T', 'N', out, in, n, scale, rft_f32(dy), out, rft_f32(x), in, 1.0f, rft_f32(dw), in);
}
