/* invariance.cu: the CUDA twin of engine/loss/invariance.c: the data-augmentation invariance loss
 * (Hernandez-Garcia et al., eq. 3) for one tapped layer in O(B D), and the invariance score's
 * running statistics and scores (eq. 2). The formulas are the CPU file's header; in short, with
 * W_k, T, V_c the sums of squares about the seed-group, batch and class means,
 *   N = (2 / (K' D)) sum_{M_k >= 2} W_k / (M_k - 1),  Den = 2T / ((B - 1) D)  or  sum_c n_c V_c / (P D),
 *   L = N / Den,  grad_i = weight (dN_i (a_i - mean_k) - L dDen_i (a_i - mean_ref)) / Den.
 * Five launches a tap and no host synchronisation (rft_invariance_loss_async):
 *   plan    one block: each row's group and class (its first row with the same id, and the count),
 *           K', P and the refusal code, from the ids on the device (O(B^2) integer compares);
 *   means   a thread per column: the group and class (or batch) means in float, rows summed in
 *           order (the CPU keeps Welford running means: the two agree to rounding), kept at the
 *           slot of each group's first row;
 *   parts   per row and column chunk, the squared distances to the row's two means (double);
 *   finish  one block: N, Den, L and each row's two coefficients; the value and refusal code go
 *           to the caller's out slot (and to a double the synchronous entry reads);
 *   grad    element-wise.
 * rft_invariance_loss (synchronous) runs the same and reads {L, code} once; the factored form
 * (rft_invariance_loss_factored) keeps the means in the caller's tensor, exports each row's
 * coefficients and rows of means instead of the grad launch, and the tapped layer's backward forms
 * the gradient (relu.cu, batchnorm2d.cu: rft_factored_at, cuda_util.h). A refusal writes L = NaN
 * and a zero gradient and fails when read, with the CPU's sentence.
 *
 * Not here: the layer weights (the caller's `weight`) or the choice of layers.
 */
#include "cuda_util.h"
#include "reduce.cuh"
#include <limits.h>

/* The batch's structure and the loss, in the scratch block. */
typedef struct { double kprime, pairs; int code; } inv_head;
typedef struct { double l; int code; } inv_result;

/* ---- loss kernels ------------------------------------------------------------------------------ */

/* One block. grep/gcnt: each row's group (first row with its id) and size; crep/ccnt: its class's,
 * or row 0 and b for every row without classes. */
__global__ void inv_plan_kernel(const int32_t *g, const int32_t *c, int64_t b, int32_t *grep, int32_t *gcnt,
                                int32_t *crep, int32_t *ccnt, inv_head *head)
{
    double kp = 0, pairs = 0;
    for (int64_t i = threadIdx.x; i < b; i += blockDim.x) {
        int64_t r = i, cnt = 0;
        for (int64_t j = 0; j < b; j++)
            if (g[j] == g[i]) { cnt++; if (j < r) r = j; }
        grep[i] = (int32_t)r;
        gcnt[i] = (int32_t)cnt;
        kp += r == i && cnt >= 2;
        if (c) {
            int64_t rc = i, cc = 0;
            for (int64_t j = 0; j < b; j++)
                if (c[j] == c[i]) { cc++; if (j < rc) rc = j; }
            crep[i] = (int32_t)rc;
            ccnt[i] = (int32_t)cc;
            if (rc == i) pairs += 0.5 * (double)cc * (double)(cc - 1);
        } else {
            crep[i] = 0;
            ccnt[i] = (int32_t)b;
        }
    }
    kp = rft_block_sum(kp);
    pairs = rft_block_sum(pairs);
    if (threadIdx.x == 0) {
        if (!c) pairs = 0.5 * (double)b * (double)(b - 1);
        head->kprime = kp;
        head->pairs = pairs;
        head->code = kp == 0 ? RFT_INV_NO_SEED_PAIRS : pairs == 0 ? RFT_INV_NO_CLASS_PAIRS : 0;
    }
}

/* A thread per column: gmean[grep_i] and rmean[crep_i] (rows of dim floats) = the means. */
__global__ void inv_means_kernel(const float *x, int64_t b, int64_t dim, const int32_t *grep, const int32_t *gcnt,
                                 const int32_t *crep, const int32_t *ccnt, float *gmean, float *rmean)
{
    for (int64_t d = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; d < dim; d += (int64_t)blockDim.x * gridDim.x) {
        for (int64_t i = 0; i < b; i++) {
            if (grep[i] == i) gmean[i * dim + d] = 0.0f;
            if (crep[i] == i) rmean[i * dim + d] = 0.0f;
        }
        for (int64_t i = 0; i < b; i++) {
            const float v = x[i * dim + d];
            gmean[grep[i] * dim + d] += v;
            rmean[crep[i] * dim + d] += v;
        }
        for (int64_t i = 0; i < b; i++) {
            if (grep[i] == i) gmean[i * dim + d] *= 1.0f / (float)gcnt[i];
            if (crep[i] == i) rmean[i * dim + d] *= 1.0f / (float)ccnt[i];
        }
    }
}

/* grid (nblk, rows): parts[i * nblk + blk] = (|a_i - gmean|^2, |a_i - rmean|^2) over the block's columns. */
__global__ void inv_parts_kernel(const float *x, int64_t b, int64_t dim, const int32_t *grep, const int32_t *crep,
                                 const float *gmean, const float *rmean, int nblk, double2 *parts)
{
    for (int64_t i = blockIdx.y; i < b; i += gridDim.y) {
        const float *a = x + i * dim, *gm = gmean + grep[i] * dim, *rm = rmean + crep[i] * dim;
        double sw = 0, sr = 0;
        for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < dim; e += (int64_t)blockDim.x * nblk) {
            const float u = __fsub_rn(a[e], gm[e]), v = __fsub_rn(a[e], rm[e]);
            sw += (double)u * u;
            sr += (double)v * v;
        }
        sw = rft_block_sum(sw);
        sr = rft_block_sum(sr);
        if (threadIdx.x == 0) parts[i * nblk + blockIdx.x] = make_double2(sw, sr);
    }
}

/* One block: L and each row's coefficients (coef[i] = (weight dN_i / Den, weight L dDen_i / Den)). */
__global__ void inv_finish_kernel(const double2 *parts, int nblk, int64_t b, int64_t dim, const int32_t *gcnt,
                                  const int32_t *ccnt, int cls, const inv_head *head, float weight, float2 *coef,
                                  inv_result *res, float *out, int64_t slot)
{
    const double kp = head->kprime, pairs = head->pairs;
    const int code = head->code;
    double num = 0, den = 0;
    for (int64_t i = threadIdx.x; i < b; i += blockDim.x) {
        double w = 0, r = 0;
        for (int k = 0; k < nblk; k++) { w += parts[i * nblk + k].x; r += parts[i * nblk + k].y; }
        if (gcnt[i] >= 2) num += w / (double)(gcnt[i] - 1);
        den += cls ? (double)ccnt[i] * r : r;
    }
    num = rft_block_sum(num);
    den = rft_block_sum(den);
    num *= 2.0 / (kp * (double)dim);
    den *= cls ? 1.0 / (pairs * (double)dim) : 2.0 / ((double)(b - 1) * (double)dim);
    if (den <= 0) den = 1e-30;           /* every row identical: L is 0/0; report 0 with zero gradient */
    const double l = code ? (double)NAN : num / den;
    for (int64_t i = threadIdx.x; i < b; i += blockDim.x) {
        const double dn = gcnt[i] >= 2 ? 4.0 / (kp * (double)dim * (double)(gcnt[i] - 1)) : 0.0;
        const double dd = cls ? 2.0 * (double)ccnt[i] / (pairs * (double)dim) : 4.0 / ((double)(b - 1) * (double)dim);
        /* a refusal, or D = 0 (no columns: L is 0/0 and no element reads coef), gives 0 as on the CPU */
        coef[i] = code || dim == 0 ? make_float2(0.0f, 0.0f)
                                   : make_float2((float)(weight * dn / den), (float)(weight * l * dd / den));
    }
    if (threadIdx.x == 0) {
        res->l = l;
        res->code = code;
        if (out) { out[2 * slot] = (float)l; out[2 * slot + 1] = (float)code; }
    }
}

__global__ void inv_grad_kernel(const float *x, int64_t b, int64_t dim, const int32_t *grep, const int32_t *crep,
                                const float *gmean, const float *rmean, const float2 *coef, float *g)
{
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < b * dim; e += (int64_t)blockDim.x * gridDim.x) {
        const int64_t i = e / dim, d = e - i * dim;
        const float a = x[e], gm = gmean[grep[i] * dim + d], rm = rmean[crep[i] * dim + d];
        const float2 cf = coef[i];
        /* + 0: the CPU's ops_factored_value adds the third coefficient, 0 here, which turns -0 into +0 */
        g[e] = __fadd_rn(__fsub_rn(__fmul_rn(cf.x, __fsub_rn(a, gm)), __fmul_rn(cf.y, __fsub_rn(a, rm))), 0.0f);
    }
}

/* The factored form's coefficients and rows of means (rft_invariance_loss_factored): group means at
   rows 0..b-1 (each group's first row), the denominator's at b + its first row (or b). */
__global__ void inv_export_kernel(int64_t b, const int32_t *grep, const int32_t *crep, const float2 *coef,
                                  float *coef_out, int32_t *index)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < b; i += (int64_t)blockDim.x * gridDim.x) {
        coef_out[2 * i] = coef[i].x;
        coef_out[2 * i + 1] = coef[i].y;
        index[2 * i] = grep[i];
        index[2 * i + 1] = (int32_t)(b + crep[i]);
    }
}

/* A factored gradient written out: row i = coef[i][0] (f_i - means[index[i][0]]) - coef[i][1] (...). */
__global__ void factored_grad_kernel(const float *x, rft_cuda_factored fx, float *g, int64_t n)
{
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)blockDim.x * gridDim.x)
        g[e] = rft_factored_at(fx, x[e], e);
}

/* ---- loss launchers ---------------------------------------------------------------------------- */

/* Where each array lives in the one scratch block. */
typedef struct {
    float *gmean, *rmean;
    int32_t *grep, *gcnt, *crep, *ccnt;
    double2 *parts;
    float2 *coef;
    inv_head *head;
    inv_result *res;
    size_t bytes;
} inv_scratch;

/* means: NULL, or the factored form's [b + (cls ? b : 1), dim], which then holds the means */
static inv_scratch inv_layout(char *base, int64_t b, int64_t dim, int cls, int nblk, float *means)
{
    inv_scratch s;
    size_t off = 0, ib = rft_align256((size_t)b * sizeof(int32_t));
    if (means) {
        s.gmean = means;
        s.rmean = means + b * dim;
    } else {
        s.gmean = (float *)(base + off); off += rft_align256((size_t)(b * dim) * sizeof(float));
        s.rmean = (float *)(base + off); off += rft_align256((size_t)((cls ? b : 1) * dim) * sizeof(float));
    }
    s.grep = (int32_t *)(base + off); off += ib;
    s.gcnt = (int32_t *)(base + off); off += ib;
    s.crep = (int32_t *)(base + off); off += ib;
    s.ccnt = (int32_t *)(base + off); off += ib;
    s.parts = (double2 *)(base + off); off += rft_align256((size_t)b * (size_t)nblk * sizeof(double2));
    s.coef = (float2 *)(base + off); off += rft_align256((size_t)b * sizeof(float2));
    s.head = (inv_head *)(base + off); off += rft_align256(sizeof(inv_head));
    s.res = (inv_result *)(base + off); off += rft_align256(sizeof(inv_result));
    s.bytes = off;
    return s;
}

/* Column blocks per row for the partial sums: enough to fill the device, none without work. */
static int inv_blocks_per_row(int64_t b, int64_t dim)
{
    int64_t want = (dim + RFT_CUDA_THREADS - 1) / RFT_CUDA_THREADS;
    int64_t fill = ((int64_t)rft_cuda.sm_count * 8 + b - 1) / b;
    if (want > fill) want = fill;
    if (want > 1024) want = 1024;
    return (int)(want > 0 ? want : 1);
}

static int inv_launch(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                      rft_tensor *grad, const inv_scratch *s, int nblk, float *out, int64_t slot)
{
    const int64_t b = f->shape[0], dim = f->numel / b;
    const int cls = classes != NULL;
    const float *x = rft_f32(f);
    RFT_LAUNCH(inv_plan_kernel, 1, RFT_CUDA_THREADS, rft_i32(groups), cls ? rft_i32(classes) : NULL, b, s->grep,
               s->gcnt, s->crep, s->ccnt, s->head);
    if (dim > 0) {
        RFT_LAUNCH(inv_means_kernel, rft_cuda_blocks(dim), RFT_CUDA_THREADS, x, b, dim, s->grep, s->gcnt, s->crep,
                   s->ccnt, s->gmean, s->rmean);
        dim3 grid((unsigned)nblk, (unsigned)(b < 65535 ? b : 65535));
        RFT_LAUNCH(inv_parts_kernel, grid, RFT_CUDA_THREADS, x, b, dim, s->grep, s->crep, s->gmean, s->rmean, nblk,
                   s->parts);
    }
    RFT_LAUNCH(inv_finish_kernel, 1, RFT_CUDA_THREADS, s->parts, dim > 0 ? nblk : 0, b, dim, s->gcnt, s->ccnt, cls,
               s->head, weight, s->coef, s->res, out, slot);
    if (dim > 0 && grad)
        RFT_LAUNCH(inv_grad_kernel, rft_cuda_blocks(b * dim), RFT_CUDA_THREADS, x, b, dim, s->grep, s->crep, s->gmean,
                   s->rmean, s->coef, rft_f32(grad));
    return RFT_OK;
}

/* Runs the loss; with `res`, waits and copies {L, code} there. grad NULL: the factored form into
   coef, means, index instead. */
static int inv_run(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                   rft_tensor *grad, float *out, int64_t slot, inv_result *res, rft_tensor *coef = NULL,
                   rft_tensor *means = NULL, rft_tensor *index = NULL)
{
    const int64_t b = f->shape[0], dim = f->numel / b;
    if (b > INT_MAX)                                     /* row indices are int32 on the device */
        return rft_fail(RFT_ESHAPE, "invariance: feature map %s has more than %d rows", rft_shape_str(f), INT_MAX);
    const int nblk = inv_blocks_per_row(b, dim);
    float *fm = grad ? NULL : rft_f32(means);
    inv_scratch s = inv_layout(NULL, b, dim, classes != NULL, nblk, fm);
    void *scratch;
    RFT_TRY(rft_cuda_block(s.bytes, &scratch));
    s = inv_layout((char *)scratch, b, dim, classes != NULL, nblk, fm);
    int rc = inv_launch(weight, f, groups, classes, grad, &s, nblk, out, slot);
    if (rc == RFT_OK && !grad) {
        inv_export_kernel<<<rft_cuda_blocks(b), RFT_CUDA_THREADS, 0, rft_cuda.stream>>>(b, s.grep, s.crep, s.coef,
                                                                                       rft_f32(coef), rft_i32(index));
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) rc = rft_cuda_fail(e, "inv_export_kernel<<<...>>>", __FILE__, __LINE__);
    }
    if (rc == RFT_OK && res) {
        cudaError_t e = cudaMemcpyAsync(res, s.res, sizeof *res, cudaMemcpyDeviceToHost, rft_cuda.stream);
        if (e == cudaSuccess) e = cudaStreamSynchronize(rft_cuda.stream);
        if (e != cudaSuccess) rc = rft_cuda_fail(e, "reading the invariance loss", __FILE__, __LINE__);
    }
    rft_cuda_free(scratch);     /* the cache hands it out again only to work queued after this */
    return rc;
}

int rft_cuda_invariance_loss(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                             double *loss, double *value, rft_tensor *grad)
{
    inv_result res;
    RFT_TRY(inv_run(weight, f, groups, classes, grad, NULL, 0, &res));
    const char *why = rft_invariance_refusal(res.code);
    if (why) return rft_fail(RFT_EARG, "%s", why);
    *value = res.l;
    *loss += weight * res.l;
    return RFT_OK;
}

int rft_cuda_invariance_loss_async(float weight, const rft_tensor *f, const rft_tensor *groups,
                                   const rft_tensor *classes, rft_tensor *out, int64_t slot, rft_tensor *grad)
{
    return inv_run(weight, f, groups, classes, grad, rft_f32(out), slot, NULL);
}

int rft_cuda_invariance_loss_factored_taps(int64_t n, const float *weights, const rft_tensor *const *f,
                                           const rft_tensor *groups, const rft_tensor *classes, double *loss,
                                           double *values, rft_tensor *const *coef, rft_tensor *const *means,
                                           rft_tensor *const *index)
{
    for (int64_t j = 0; j < n; j++) {
        inv_result res;
        RFT_TRY(inv_run(weights[j], f[j], groups, classes, NULL, NULL, 0, &res, coef[j], means[j], index[j]));
        const char *why = rft_invariance_refusal(res.code);
        if (why) return rft_fail(RFT_EARG, "%s", why);
        values[j] = res.l;
        *loss += weights[j] * res.l;
    }
    return RFT_OK;
}

int rft_cuda_factored_grad(const rft_tensor *f, const rft_tensor *coef, const rft_tensor *means,
                           const rft_tensor *index, rft_tensor *grad)
{
    const int64_t n = f->numel;
    if (n == 0) return RFT_OK;
    RFT_LAUNCH(factored_grad_kernel, rft_cuda_blocks(n), RFT_CUDA_THREADS, rft_f32(f),
               rft_cuda_factored_of(f, coef, means, index), rft_f32(grad), n);
    return RFT_OK;
}

/* ---- invariance score: running statistics and scores ------------------------------------------ */

/* A thread per column: mb[d] = the batch's mean of column d (double, rows in order as the CPU). */
__global__ void inv_col_mean_kernel(const float *x, int64_t nb, int64_t dim, double *mb)
{
    for (int64_t d = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; d < dim; d += (int64_t)blockDim.x * gridDim.x) {
        double s = 0;
        for (int64_t i = 0; i < nb; i++) s += x[i * dim + d];
        mb[d] = s / (double)nb;
    }
}

/* grid (nblk, rows): parts[i * nblk + blk] = |f_i - mb|^2 over the block's columns. */
__global__ void inv_col_m2_kernel(const float *x, int64_t nb, int64_t dim, const double *mb, int nblk, double *parts)
{
    for (int64_t i = blockIdx.y; i < nb; i += gridDim.y) {
        double s = 0;
        for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < dim; e += (int64_t)blockDim.x * nblk) {
            const double u = x[i * dim + e] - mb[e];
            s += u * u;
        }
        s = rft_block_sum(s);
        if (threadIdx.x == 0) parts[i * nblk + blockIdx.x] = s;
    }
}

/* One block: Chan et al.'s merge of stats (mean_a, n_a, S_a) with the batch (mb, nb, sum of parts). */
__global__ void inv_merge_kernel(const double *mb, const double *parts, int64_t nparts, int64_t nb, int64_t dim,
                                 float *st)
{
    const double na = st[dim], sa = st[dim + 1], nbd = (double)nb, n = na + nbd;  /* read before thread 0 writes */
    double m2b = 0, delta2 = 0;
    for (int64_t k = threadIdx.x; k < nparts; k += blockDim.x) m2b += parts[k];
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) { const double u = mb[d] - st[d]; delta2 += u * u; }
    m2b = rft_block_sum(m2b);
    delta2 = rft_block_sum(delta2);           /* synchronises: every read of st[d] is done */
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) st[d] = (float)(st[d] + (mb[d] - st[d]) * nbd / n);
    if (threadIdx.x == 0) {
        const double m2 = sa * na + m2b + delta2 * na * nbd / n;
        st[dim] = (float)n;
        st[dim + 1] = (float)(m2 / n);
    }
}

/* A block per row: out[i stride] = 1 - |f_i - g_i|^2 / (|f_i - mean|^2 + S), 0 where that is 0. */
__global__ void inv_score_kernel(const float *x, const float *y, const float *st, int64_t n, int64_t dim, float *out,
                                 int64_t stride)
{
    const double s = st[dim + 1];
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        double num = 0, den = 0;
        for (int64_t e = threadIdx.x; e < dim; e += blockDim.x) {
            const double a = x[i * dim + e], u = a - y[i * dim + e], v = a - st[e];
            num += u * u;
            den += v * v;
        }
        num = rft_block_sum(num);
        den = rft_block_sum(den);
        if (threadIdx.x == 0) {
            den += s;
            out[i * stride] = den > 0 ? (float)(1.0 - num / den) : 0.0f;
        }
    }
}

int rft_cuda_invariance_stats(const rft_tensor *f, rft_tensor *stats)
{
    const int64_t nb = f->shape[0], dim = f->numel / nb;
    const int nblk = inv_blocks_per_row(nb, dim);
    const int64_t nparts = dim > 0 ? nb * nblk : 0;
    const size_t mbytes = rft_align256((size_t)(dim ? dim : 1) * sizeof(double));
    void *scratch;
    RFT_TRY(rft_cuda_block(mbytes + (size_t)(nparts ? nparts : 1) * sizeof(double), &scratch));
    double *mb = (double *)scratch, *parts = (double *)((char *)scratch + mbytes);
    int rc = RFT_OK;
    if (dim > 0) {
        inv_col_mean_kernel<<<rft_cuda_blocks(dim), RFT_CUDA_THREADS, 0, rft_cuda.stream>>>(rft_f32(f), nb, dim, mb);
        dim3 grid((unsigned)nblk, (unsigned)(nb < 65535 ? nb : 65535));
        inv_col_m2_kernel<<<grid, RFT_CUDA_THREADS, 0, rft_cuda.stream>>>(rft_f32(f), nb, dim, mb, nblk, parts);
    }
    inv_merge_kernel<<<1, RFT_CUDA_THREADS, 0, rft_cuda.stream>>>(mb, parts, nparts, nb, dim, rft_f32(stats));
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) rc = rft_cuda_fail(e, "invariance stats kernels<<<...>>>", __FILE__, __LINE__);
    rft_cuda_free(scratch);
    return rc;
}

int rft_cuda_invariance_score(const rft_tensor *f, const rft_tensor *g, const rft_tensor *stats, rft_tensor *out,
                              int64_t offset, int64_t stride)
{
    const int64_t n = f->shape[0], dim = f->numel / n;
    RFT_LAUNCH(inv_score_kernel, (unsigned)(n < 65535 ? n : 65535), RFT_CUDA_THREADS, rft_f32(f), rft_f32(g),
               rft_f32(stats), n, dim, rft_f32(out) + offset, stride);
    return RFT_OK;
}
