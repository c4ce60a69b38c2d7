/* invariance.c: the data-augmentation invariance loss (Hernandez-Garcia et al., eq. 3) for one
 * tapped layer, in O(B D): sums of squares about means, never a B x B Gram matrix (DESIGN.md §4).
 *
 *   rows a_i in R^D; groups S_k (the copies of seed k, M_k rows), K' = groups with M_k >= 2;
 *   classes C_c (n_c rows); W_k = sum_{i in S_k} |a_i - mean_k|^2, T = sum_i |a_i - mean|^2,
 *   V_c = sum_{i in C_c} |a_i - mean_c|^2; since sum_{i<j in S} |a_i - a_j|^2 = |S| sum_{i in S} |a_i - mean_S|^2:
 *     N   = (2 / (K' D)) sum_{k: M_k >= 2} W_k / (M_k - 1)
 *     Den = 2 T / ((B - 1) D)                        all pairs
 *         = sum_c n_c V_c / (P D),  P = sum_c n_c (n_c - 1) / 2     same-class pairs
 *     L = N / Den
 *     dL/da_i = (dN/da_i - L dDen/da_i) / Den,  dN/da_i = 4 (a_i - mean_k) / (K' D (M_k - 1)) (0 for a
 *     singleton group), dDen/da_i = 4 (a_i - mean) / ((B - 1) D)  or  2 n_c (a_i - mean_c) / (P D).
 * Passes over the map:
 *   1. group after group (the groups shared out among the threads), a block of columns at a time
 *      (the map read from memory once, front to back a few rows at a time, each block of the group's
 *      rows twice from the first-level cache): the group's mean, then W_k about it, never as
 *      |a|^2 - M |mean|^2 (no cancellation); when a group spans classes, row after row instead (the
 *      columns shared out), Welford's running means and sums of squares of the groups and of the
 *      classes; the squares in float over runs of at most 512 values, then in double;
 *   2. when every group lies in one class (always for all pairs), the columns shared out among the
 *      threads: the denominator's means from the groups' and its sums from theirs,
 *      sum_{i in S_k} |a_i - m_ref|^2 = W_k + M_k |m_k - m_ref|^2: work on K means, not on B rows;
 *   3. the gradient, row by row, element by element from the row's two coefficients.
 * In factored form (rft_invariance_loss_factored_taps) pass 3 is left to the tapped layer's backward,
 * which forms each value from the map, the row's two coefficients and its two rows of means as it
 * adds it (ops_factored_value, the same expression as pass 3: the same numbers); every tap of a
 * batch then shares one plan and the parallel regions of pass 1 (two: a region's start and end cost as
 * much for the smallest map as for the largest, and far more on a machine whose cores are busy).
 * The group and class structure (dense indices, sizes, K', P) comes from one sort of the ids,
 * O(B log B) integer work; the CUDA twin (kernels/invariance.cu) computes the same on the device.
 * Not here: layer weights (the caller's `weight`) or the choice of layers. */
#include "backend.h"
#include "ops_check.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Squares are summed in float over runs of at most this many values, then in double. */
enum { INV_BLOCK = 512 };

static int inv_check_args(const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes)
{
    RFT_TRY(rft_check_dtype("invariance", "feature map", f, RFT_F32));
    RFT_TRY(rft_check_dtype("invariance", "groups", groups, RFT_I32));
    RFT_TRY(rft_check_same_device("invariance", "groups", f, groups));
    if (f->ndim < 1) return rft_fail(RFT_ESHAPE, "invariance: the feature map must have a batch dimension");
    int64_t b = f->shape[0];
    if (groups->numel != b)
        return rft_fail(RFT_ESHAPE, "invariance: groups has %lld entries, the feature map %s has %lld rows",
                        (long long)groups->numel, rft_shape_str(f), (long long)b);
    if (classes) {
        RFT_TRY(rft_check_dtype("invariance", "classes", classes, RFT_I32));
        RFT_TRY(rft_check_same_device("invariance", "classes", f, classes));
        if (classes->numel != b)
            return rft_fail(RFT_ESHAPE, "invariance: classes has %lld entries, the feature map has %lld rows",
                            (long long)classes->numel, (long long)b);
    }
    if (b < 2) return rft_fail(RFT_ESHAPE, "invariance: needs at least 2 rows, got %s", rft_shape_str(f));
    return RFT_OK;
}

const char *rft_invariance_refusal(int code)
{
    switch (code) {
    case RFT_INV_NO_SEED_PAIRS: return "invariance: no seed image has two copies in the batch (groups all differ)";
    case RFT_INV_NO_CLASS_PAIRS: return "invariance: no pair of rows shares a class for the same-class denominator";
    default: return NULL;
    }
}

int rft_invariance_loss(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                        double *loss, double *value, rft_tensor *grad)
{
    RFT_TRY(inv_check_args(f, groups, classes));
    RFT_TRY(rft_check_dtype("invariance", "grad", grad, RFT_F32));
    RFT_TRY(rft_check_same_device("invariance", "grad", f, grad));
    if (!loss || !value) return rft_fail(RFT_EARG, "invariance: loss and value are required");
    if (grad->storage == f->storage)
        return rft_fail(RFT_EARG, "invariance: grad shares memory with the feature map (the gradient pass reads it)");
    RFT_TRY(rft_tensor_resize(grad, f->ndim, f->shape));
    RFT_TRY(RFT_CALL("invariance", f, invariance_loss, weight, f, groups, classes, loss, value, grad));
    *loss = rft_canonical(*loss); *value = rft_canonical(*value);   /* Lua reads them (rft.h) */
    return RFT_OK;
}

int rft_invariance_loss_async(float weight, const rft_tensor *f, const rft_tensor *groups,
                              const rft_tensor *classes, rft_tensor *out, int64_t slot, rft_tensor *grad)
{
    RFT_TRY(inv_check_args(f, groups, classes));
    RFT_TRY(rft_check_dtype("invariance", "grad", grad, RFT_F32));
    RFT_TRY(rft_check_same_device("invariance", "grad", f, grad));
    RFT_TRY(rft_check_dtype("invariance", "out", out, RFT_F32));
    RFT_TRY(rft_check_same_device("invariance", "out", f, out));
    if (slot < 0 || 2 * slot + 1 >= out->numel)
        return rft_fail(RFT_ESHAPE, "invariance: slot %lld needs out to hold at least %lld values, it has %s",
                        (long long)slot, (long long)(2 * slot + 2), rft_shape_str(out));
    if (grad->storage == f->storage)
        return rft_fail(RFT_EARG, "invariance: grad shares memory with the feature map (the gradient pass reads it)");
    RFT_TRY(rft_tensor_resize(grad, f->ndim, f->shape));
    RFT_DISPATCH("invariance", f, invariance_loss_async, weight, f, groups, classes, out, slot, grad);
}

int rft_invariance_loss_factored_taps(int64_t n, const float *weights, const rft_tensor *const *f,
                                      const rft_tensor *groups, const rft_tensor *classes, double *loss,
                                      double *values, rft_tensor *const *coef, rft_tensor *const *means,
                                      rft_tensor *const *index)
{
    const char *op = "invariance (factored)";
    if (n < 1 || !weights || !f || !coef || !means || !index || !loss || !values)
        return rft_fail(RFT_EARG, "%s: needs n >= 1 (got %lld) maps with their weights, coef, means and index "
                        "tensors, and loss and values", op, (long long)n);
    for (int64_t j = 0; j < n; j++) {
        RFT_TRY(inv_check_args(f[j], groups, classes));
        if (j > 0) {
            RFT_TRY(rft_check_same_device(op, "every map", f[0], f[j]));
            if (f[j]->shape[0] != f[0]->shape[0])
                return rft_fail(RFT_ESHAPE, "%s: map %lld is %s, map 0 %s: every map needs the same rows", op,
                                (long long)j, rft_shape_str(f[j]), rft_shape_str(f[0]));
        }
        RFT_TRY(ops_f32_like(op, "coef", coef[j], f[j]));
        RFT_TRY(ops_f32_like(op, "means", means[j], f[j]));
        RFT_TRY(rft_check_dtype(op, "index", index[j], RFT_I32));
        RFT_TRY(rft_check_same_device(op, "index", f[j], index[j]));
        const rft_storage *mine[3] = { coef[j]->storage, means[j]->storage, index[j]->storage };
        for (int64_t k = 0; k < n; k++)
            for (int u = 0; u < 3; u++)
                if (mine[u] == f[k]->storage)
                    return rft_fail(RFT_EARG, "%s: coef, means or index of map %lld shares memory with a feature map",
                                    op, (long long)j);
        for (int64_t k = 0; k <= j; k++) {
            const rft_storage *theirs[3] = { coef[k]->storage, means[k]->storage, index[k]->storage };
            for (int u = 0; u < 3; u++)
                for (int v = 0; v < 3; v++)
                    if ((k < j || u < v) && mine[u] == theirs[v])
                        return rft_fail(RFT_EARG, "%s: coef, means and index must be tensors that share no memory "
                                        "(map %lld's with map %lld's)", op, (long long)j, (long long)k);
        }
    }
    const int64_t b = f[0]->shape[0], pair[2] = { b, 2 };
    for (int64_t j = 0; j < n; j++) {
        const int64_t mshape[2] = { b + (classes ? b : 1), f[j]->numel / b };
        RFT_TRY(rft_tensor_resize(coef[j], 2, pair));
        RFT_TRY(rft_tensor_resize(index[j], 2, pair));
        RFT_TRY(rft_tensor_resize(means[j], 2, mshape));
    }
    RFT_TRY(RFT_CALL(op, f[0], invariance_loss_factored_taps, n, weights, f, groups, classes, loss, values, coef,
                     means, index));
    *loss = rft_canonical(*loss);                   /* Lua reads them (rft.h) */
    for (int64_t j = 0; j < n; j++) values[j] = rft_canonical(values[j]);
    return RFT_OK;
}

int rft_invariance_loss_factored(float weight, const rft_tensor *f, const rft_tensor *groups,
                                 const rft_tensor *classes, double *loss, double *value, rft_tensor *coef,
                                 rft_tensor *means, rft_tensor *index)
{
    if (!f || !coef || !means || !index)
        return rft_fail(RFT_EARG, "invariance (factored): f, coef, means and index are required");
    return rft_invariance_loss_factored_taps(1, &weight, &f, groups, classes, loss, value, &coef, &means, &index);
}

int rft_factored_grad(const rft_tensor *f, const rft_tensor *coef, const rft_tensor *means, const rft_tensor *index,
                      rft_tensor *grad)
{
    const char *op = "factored_grad";
    RFT_TRY(rft_check_dtype(op, "map", f, RFT_F32));
    RFT_TRY(ops_f32_like(op, "grad", grad, f));
    RFT_TRY(ops_factored(op, f, coef, means, index, grad));
    if (grad->storage == f->storage) return rft_fail(RFT_EARG, "%s: grad shares memory with the map", op);
    RFT_TRY(rft_tensor_resize(grad, f->ndim, f->shape));
    RFT_DISPATCH(op, f, factored_grad, f, coef, means, index, grad);
}

int rft_invariance_read(const rft_tensor *out, int64_t n, double *values)
{
    RFT_TRY(rft_check_dtype("invariance", "out", out, RFT_F32));
    if (n < 0 || 2 * n > out->numel)
        return rft_fail(RFT_ESHAPE, "invariance: reading %lld results needs %lld values, out is %s", (long long)n,
                        (long long)(2 * n), rft_shape_str(out));
    if (!values && n > 0) return rft_fail(RFT_EARG, "invariance: values is required");
    float *host = malloc(sizeof(float) * (size_t)(2 * n + 1));
    if (!host) return rft_fail(RFT_ENOMEM, "invariance: out of memory");
    const rft_backend *be = rft_backend_of(out);
    int rc = be->copy(host, RFT_CPU, rft_f32(out), out->device, sizeof(float) * (size_t)(2 * n));
    for (int64_t s = 0; rc == RFT_OK && s < n; s++) {
        const char *why = rft_invariance_refusal((int)host[2 * s + 1]);
        if (why) rc = rft_fail(RFT_EARG, "%s", why);
        values[s] = rft_canonical(host[2 * s]);      /* Lua reads them (rft.h) */
    }
    free(host);
    return rc;
}

/* ---- CPU ---------------------------------------------------------------------------------------- */

/* The batch's structure: row -> dense group / class index, their sizes, K' and P; the class of each
 * group (every row of a group in one class: the denominator's means come from the group sums). */
typedef struct {
    int64_t b, ng, nc, kprime;
    double pairs;                 /* the denominator's pairs: B(B-1)/2, or P over same-class pairs */
    int32_t *gi, *ci;             /* [b]; ci NULL without classes */
    int32_t *rows;                /* [b]: the rows group by group (group k's gn[k] after those of 0..k-1),
                                     each group's in increasing order */
    int64_t *gn, *cn;             /* [ng], [nc] */
    int32_t *gc;                  /* [ng]: the class of group k (0 without classes) */
    int pure;                     /* every group lies in one class */
} inv_plan;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Dense indices 0..n-1 of ids in increasing id order; sizes[] counted. keys: scratch [b]. */
static int64_t inv_dense(const int32_t *ids, int64_t b, int64_t *keys, int32_t *idx, int64_t *sizes)
{
    for (int64_t i = 0; i < b; i++) keys[i] = (int64_t)(((uint64_t)((uint32_t)ids[i] ^ 0x80000000u) << 32) | (uint64_t)i);
    qsort(keys, (size_t)b, sizeof *keys, cmp_i64);
    int64_t n = -1, prev = 0;
    for (int64_t r = 0; r < b; r++) {
        int64_t v = keys[r] >> 32, i = keys[r] & 0xffffffff;
        if (r == 0 || v != prev) { n++; sizes[n] = 0; prev = v; }
        idx[i] = (int32_t)n;
        sizes[n]++;
    }
    return n + 1;
}

static void inv_plan_free(inv_plan *p)
{
    free(p->gi); free(p->ci); free(p->rows); free(p->gn); free(p->cn); free(p->gc);
}

static int inv_plan_make(const int32_t *g, const int32_t *c, int64_t b, inv_plan *p)
{
    memset(p, 0, sizeof *p);
    p->b = b;
    int64_t *keys = malloc(sizeof(int64_t) * (size_t)b);
    p->gi = malloc(sizeof(int32_t) * (size_t)b);
    p->gn = malloc(sizeof(int64_t) * (size_t)b);
    p->gc = malloc(sizeof(int32_t) * (size_t)b);
    p->rows = malloc(sizeof(int32_t) * (size_t)b);
    if (c) { p->ci = malloc(sizeof(int32_t) * (size_t)b); p->cn = malloc(sizeof(int64_t) * (size_t)b); }
    if (!keys || !p->gi || !p->gn || !p->gc || !p->rows || (c && (!p->ci || !p->cn))) {
        free(keys);
        inv_plan_free(p);
        return rft_fail(RFT_ENOMEM, "invariance: out of memory");
    }
    p->ng = inv_dense(g, b, keys, p->gi, p->gn);
    for (int64_t r = 0; r < b; r++) p->rows[r] = (int32_t)(keys[r] & 0xffffffff);   /* sorted by (id, row) */
    for (int64_t k = 0; k < p->ng; k++) p->kprime += p->gn[k] >= 2;
    p->pure = 1;
    if (c) {
        p->nc = inv_dense(c, b, keys, p->ci, p->cn);
        for (int64_t k = 0; k < p->nc; k++) p->pairs += 0.5 * (double)p->cn[k] * (double)(p->cn[k] - 1);
        for (int64_t k = 0; k < p->ng; k++) p->gc[k] = -1;
        for (int64_t i = 0; i < b; i++) {
            int32_t *gc = &p->gc[p->gi[i]];
            if (*gc < 0) *gc = p->ci[i];
            else if (*gc != p->ci[i]) p->pure = 0;
        }
    } else {
        p->nc = 1;
        p->pairs = 0.5 * (double)b * (double)(b - 1);
        memset(p->gc, 0, sizeof(int32_t) * (size_t)p->ng);
    }
    free(keys);
    const char *why = rft_invariance_refusal(p->kprime == 0 ? RFT_INV_NO_SEED_PAIRS
                                             : p->pairs == 0 ? RFT_INV_NO_CLASS_PAIRS : 0);
    if (why) { inv_plan_free(p); return rft_fail(RFT_EARG, "%s", why); }
    return RFT_OK;
}

/* Scratch kept between calls (a training step calls once per tap with the same sizes): fresh pages
 * for every call cost more in page faults than the passes themselves. */
static _Thread_local struct { void *p; size_t n; } inv_ws;

static void *inv_workspace(size_t n)
{
    if (n > inv_ws.n) {
        free(inv_ws.p);
        inv_ws.p = malloc(n);
        inv_ws.n = inv_ws.p ? n : 0;
    }
    return inv_ws.p;
}

/* One row into a running mean (Welford): the row is the cnt-th of its set; m (n values) the set's
 * mean so far, updated; returns the row's addition to the set's sum of squares about its mean,
 * (a - m_old) . (a - m_new), summed in float over runs of INV_BLOCK values and in double across. */
static inline __attribute__((always_inline)) double inv_welford(const float *a, float *m, int64_t n, int32_t cnt)
{
    if (cnt == 1) { memcpy(m, a, sizeof(float) * (size_t)n); return 0; }
    const float inv = 1.0f / (float)cnt;
    double total = 0;
    for (int64_t e0 = 0; e0 < n; e0 += INV_BLOCK) {
        const int64_t e1 = n - e0 < INV_BLOCK ? n : e0 + INV_BLOCK;
        float acc = 0;
        #pragma omp simd reduction(+:acc)
        for (int64_t e = e0; e < e1; e++) {
            const float d = a[e] - m[e];
            m[e] += d * inv;
            acc += d * (a[e] - m[e]);
        }
        total += acc;
    }
    return total;
}

/* Group k's mean over columns [d0, d1) into m and its sum of squares about that mean, W_k: the group's
 * rows (mk of them, at x + rows[j] * dim) a block of columns at a time, small enough to stay in the
 * first-level cache between the two sweeps (the mean, then the squares about it), so that the map
 * is read from memory once; the squares in float over a row's block, then in double. */
static inline __attribute__((always_inline)) double inv_group(const float *x, int64_t dim, const int32_t *rows,
                                                              int64_t mk, float *m, int64_t d0, int64_t d1)
{
    if (mk == 1) { memcpy(m + d0, x + rows[0] * dim + d0, sizeof(float) * (size_t)(d1 - d0)); return 0; }
    const int64_t step = mk <= 8 ? INV_BLOCK : mk >= 256 ? 16 : 4096 / mk / 16 * 16;
    const float inv = 1.0f / (float)mk;
    double total = 0;
    for (int64_t e0 = d0; e0 < d1; e0 += step) {
        const int64_t e1 = d1 - e0 < step ? d1 : e0 + step;
        /* the rows added in order, four per sweep of m where they can be, the division in the last
           sweep (the same sums and quotient as one row at a time) */
        int64_t j = 1;
        int scaled = 0;
        {
            const float *a = x + rows[0] * dim;
            if (mk >= 4) {
                const float *b = x + rows[1] * dim, *c = x + rows[2] * dim, *d = x + rows[3] * dim;
                scaled = mk == 4;
                const float f = scaled ? inv : 1.0f;
                #pragma omp simd
                for (int64_t e = e0; e < e1; e++) m[e] = (a[e] + b[e] + c[e] + d[e]) * f;
                j = 4;
            } else {
                #pragma omp simd
                for (int64_t e = e0; e < e1; e++) m[e] = a[e];
            }
        }
        for (; j + 3 < mk; j += 4) {
            const float *a = x + rows[j] * dim, *b = x + rows[j + 1] * dim, *c = x + rows[j + 2] * dim,
                        *d = x + rows[j + 3] * dim;
            scaled = j + 4 == mk;
            const float f = scaled ? inv : 1.0f;
            #pragma omp simd
            for (int64_t e = e0; e < e1; e++) m[e] = (m[e] + a[e] + b[e] + c[e] + d[e]) * f;
        }
        for (; j < mk; j++) {
            const float *a = x + rows[j] * dim;
            #pragma omp simd
            for (int64_t e = e0; e < e1; e++) m[e] += a[e];
        }
        if (!scaled) {
            #pragma omp simd
            for (int64_t e = e0; e < e1; e++) m[e] *= inv;
        }
        /* each row's squares in its own sum, four rows per sweep: four chains of additions in flight
           instead of one (each addition of a chain waits for the one before) */
        for (j = 0; j + 3 < mk; j += 4) {
            const float *a = x + rows[j] * dim, *b = x + rows[j + 1] * dim, *c = x + rows[j + 2] * dim,
                        *d = x + rows[j + 3] * dim;
            float sa = 0, sb = 0, sc = 0, sd = 0;
            #pragma omp simd reduction(+:sa, sb, sc, sd)
            for (int64_t e = e0; e < e1; e++) {
                const float u = a[e] - m[e], v = b[e] - m[e], w = c[e] - m[e], z = d[e] - m[e];
                sa += u * u; sb += v * v; sc += w * w; sd += z * z;
            }
            total += sa; total += sb; total += sc; total += sd;
        }
        for (; j < mk; j++) {
            const float *a = x + rows[j] * dim;
            float acc = 0;
            #pragma omp simd reduction(+:acc)
            for (int64_t e = e0; e < e1; e++) { const float u = a[e] - m[e]; acc += u * u; }
            total += acc;
        }
    }
    return total;
}

/* One map's share of a call: its values, threads, per-thread partial sums and means. */
typedef struct {
    const rft_tensor *f;
    int64_t dim;
    int nt;              /* threads on its columns: 1 below RFT_PAR_MIN (then thread `owner` alone) */
    int owner;
    double *part;        /* [nt][ns]: W_k, then V_c or the groups' between terms */
    int32_t *seen;       /* [nt][ng + nc]: rows seen of each group and class */
    float *gmean, *rmean;
} inv_map;

/* doubles a thread's partial sums take: W_k, then V_c or the between terms */
static int64_t inv_ns(const inv_plan *p) { return p->ng + (p->ng > p->nc ? p->ng : p->nc); }

/* Pass 1 on thread t's share of map m. When every group lies in one class, in two steps (two
   parallel regions, inv_pass1_all): first each group over all its columns (the groups shared out
   among the threads: a thread reads a few rows at a time, front to back, which the processor's
   prefetchers follow), its mean and W_k (inv_group); then the denominator's means from the groups'
   and each group's between term, the columns shared out. Otherwise row after row, the columns
   shared out: Welford's running means and sums of squares of the groups and of the classes. */
static inline __attribute__((always_inline)) void inv_pass1_groups(const inv_plan *p, const inv_map *m, int t)
{
    const int64_t b = p->b, dim = m->dim, ng = p->ng, nm = p->nc, ns = inv_ns(p), nt = m->nt;
    const float *x = rft_f32(m->f);
    float *gmean = m->gmean, *rmean = m->rmean;
    double *wk = m->part + t * ns, *vc = wk + ng;
    memset(wk, 0, sizeof(double) * (size_t)ns);
    if (p->pure) {
        const int64_t k0 = ng * t / nt, k1 = ng * (t + 1) / nt;
        int64_t r = 0;
        for (int64_t k = 0; k < k0; k++) r += p->gn[k];
        for (int64_t k = k0; k < k1; r += p->gn[k], k++)
            wk[k] = inv_group(x, dim, p->rows + r, p->gn[k], gmean + k * dim, 0, dim);
        return;
    }
    const int64_t d0 = dim * t / nt / 16 * 16, d1 = t == nt - 1 ? dim : dim * (t + 1) / nt / 16 * 16;
    int32_t *gs = m->seen + t * (ng + nm), *cs = gs + ng;
    memset(gs, 0, sizeof(int32_t) * (size_t)(ng + nm));
    for (int64_t i = 0; d1 > d0 && i < b; i++) {
        const float *a = x + i * dim + d0;
        const int32_t k = p->gi[i], c = p->ci[i];
        wk[k] += inv_welford(a, gmean + k * dim + d0, d1 - d0, ++gs[k]);
        vc[c] += inv_welford(a, rmean + c * dim + d0, d1 - d0, ++cs[c]);
    }
}

/* The second step when every group lies in one class: on thread t's share of the columns, a block
   at a time, the denominator's means from the groups' and each group's between term,
   sum_{i in S_k} |a_i - m_ref|^2 = W_k + M_k |m_k - m_ref|^2 (K means read, not B rows). */
static inline __attribute__((always_inline)) void inv_pass1_between(const inv_plan *p, const inv_map *m, int t)
{
    const int64_t b = p->b, dim = m->dim, ng = p->ng, nm = p->nc, ns = inv_ns(p), nt = m->nt;
    const int cls = p->ci != NULL;
    float *gmean = m->gmean, *rmean = m->rmean;
    const int64_t d0 = dim * t / nt / 16 * 16, d1 = t == nt - 1 ? dim : dim * (t + 1) / nt / 16 * 16;
    double *vc = m->part + t * ns + ng;
    for (int64_t e0 = d0; e0 < d1; e0 += INV_BLOCK) {
        const int64_t e1 = d1 - e0 < INV_BLOCK ? d1 : e0 + INV_BLOCK, n = e1 - e0;
        for (int64_t c = 0; c < nm; c++) memset(rmean + c * dim + e0, 0, sizeof(float) * (size_t)n);
        for (int64_t k = 0; k < ng; k++) {
            const float w = (float)p->gn[k] / (float)(cls ? p->cn[p->gc[k]] : b);
            const float *gm = gmean + k * dim;
            float *rm = rmean + p->gc[k] * dim;
            #pragma omp simd
            for (int64_t e = e0; e < e1; e++) rm[e] += w * gm[e];
        }
        /* the between terms, indexed by group; four groups per sweep, as inv_group's squares */
        int64_t k = 0;
        for (; k + 3 < ng; k += 4) {
            const float *ga = gmean + k * dim, *gb = ga + dim, *gc = gb + dim, *gd = gc + dim;
            const float *ra = rmean + p->gc[k] * dim, *rb = rmean + p->gc[k + 1] * dim,
                        *rc = rmean + p->gc[k + 2] * dim, *rd = rmean + p->gc[k + 3] * dim;
            float sa = 0, sb = 0, sc = 0, sd = 0;
            #pragma omp simd reduction(+:sa, sb, sc, sd)
            for (int64_t e = e0; e < e1; e++) {
                const float u = ga[e] - ra[e], v = gb[e] - rb[e], w = gc[e] - rc[e], z = gd[e] - rd[e];
                sa += u * u; sb += v * v; sc += w * w; sd += z * z;
            }
            vc[k] += sa; vc[k + 1] += sb; vc[k + 2] += sc; vc[k + 3] += sd;
        }
        for (; k < ng; k++) {
            const float *gm = gmean + k * dim, *rm = rmean + p->gc[k] * dim;
            float acc = 0;
            #pragma omp simd reduction(+:acc)
            for (int64_t e = e0; e < e1; e++) { const float u = gm[e] - rm[e]; acc += u * u; }
            vc[k] += acc;
        }
    }
}

/* Pass 1 over every map: each large map's work shared out among the threads, each small one
   (nt = 1) on one thread, round robin; the first step of every map in one parallel region, the
   second (groups in one class only) in another. Two forks and joins for all taps. */
RFT_CLONES
static void inv_pass1_all(const inv_plan *p, const inv_map *maps, int64_t n, int nt)
{
    for (int step = 0; step < 1 + p->pure; step++) {
        #pragma omp parallel num_threads(nt) if (nt > 1)
        {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            for (int64_t j = 0; j < n; j++) {
                const inv_map *m = &maps[j];
                if (m->dim == 0) continue;
                const int mine = m->nt > 1 ? t < m->nt : t == m->owner;
                const int tt = m->nt > 1 ? t : 0;
                if (mine && step == 0) inv_pass1_groups(p, m, tt);
                if (mine && step == 1) inv_pass1_between(p, m, tt);
            }
        }
    }
}

/* N, Den and L of map m from its partial sums (summed into thread 0's), and each row's two
   coefficients: cg[i] = weight dN_i / Den, cg[b + i] = weight L dDen_i / Den. Returns L. */
static double inv_finish(const inv_plan *p, const inv_map *m, float weight, double *cg)
{
    const int64_t b = p->b, dim = m->dim, ng = p->ng, nm = p->nc, ns = inv_ns(p);
    const int cls = p->ci != NULL;
    double *part = m->part;
    for (int t = 1; t < m->nt; t++)
        for (int64_t j = 0; j < ns; j++) part[j] += part[t * ns + j];
    /* W_k = part[k]; V_c = part[ng + c], or from the groups when pure */
    double num = 0, den = 0;
    for (int64_t k = 0; k < ng; k++) {
        if (p->gn[k] >= 2) num += part[k] / (double)(p->gn[k] - 1);
        if (p->pure) {
            const double v = part[k] + (double)p->gn[k] * part[ng + k];
            den += cls ? (double)p->cn[p->gc[k]] * v : v;
        }
    }
    for (int64_t c = 0; !p->pure && c < nm; c++) den += (double)p->cn[c] * part[ng + c];
    num *= 2.0 / ((double)p->kprime * (double)dim);
    den *= cls ? 1.0 / (p->pairs * (double)dim) : 2.0 / ((double)(b - 1) * (double)dim);
    if (den <= 0) den = 1e-30;             /* every row identical: L is 0/0; report 0 with zero gradient */
    const double l = num / den;
    for (int64_t i = 0; i < b; i++) {
        const int64_t mk = p->gn[p->gi[i]];
        const double dn = mk >= 2 ? 4.0 / ((double)p->kprime * (double)dim * (double)(mk - 1)) : 0.0;
        const double dd = cls ? 2.0 * (double)p->cn[p->ci[i]] / (p->pairs * (double)dim)
                              : 4.0 / ((double)(b - 1) * (double)dim);
        cg[i] = weight * dn / den;
        cg[b + i] = weight * l * dd / den;
    }
    return l;
}

/* Threads for a map: all of them above RFT_PAR_MIN values, else one. */
static int inv_threads(const rft_tensor *f)
{
    int nt = 1;
#ifdef _OPENMP
    if (f->numel > RFT_PAR_MIN) nt = omp_get_max_threads();
#endif
    return nt;
}

/* The loss and its gradient for one map; *value = L: pass 1, the coefficients, pass 3 writing the
   gradient row by row (whole rows stream from memory; a row's two means stay in cache for the next
   rows of its group). The means live in the workspace. */
RFT_CLONES
static int inv_cpu(float weight, const rft_tensor *f, const inv_plan *p, double *value, rft_tensor *grad)
{
    const int64_t b = p->b, dim = f->numel / b, ng = p->ng, nm = p->nc, ns = inv_ns(p);
    const int cls = p->ci != NULL;
    if (dim == 0) { *value = NAN; return RFT_OK; }          /* 0/0: the mean of no values */
    const int nt = inv_threads(f);
    /* per thread: the partial sums and the rows seen; then the rows' coefficients; then the means:
       groups [ng][dim], the denominator's (classes [nc][dim], or the batch [1][dim]) */
    const size_t nd = (size_t)(nt * ns + 2 * b), ni = (size_t)(nt * (ng + nm));
    double *part = inv_workspace(nd * sizeof(double) + ni * sizeof(int32_t) + 16 +
                                 sizeof(float) * (size_t)((ng + nm) * dim));
    if (!part) return rft_fail(RFT_ENOMEM, "invariance: out of memory for %s", rft_shape_str(f));
    double *cg = part + nt * ns;
    int32_t *seen = (int32_t *)(part + nd);
    float *gmean = (float *)((uintptr_t)(seen + ni + 3) & ~(uintptr_t)15);
    const inv_map m = { f, dim, nt, 0, part, seen, gmean, gmean + ng * dim };
    inv_pass1_all(p, &m, 1, nt);
    const double l = inv_finish(p, &m, weight, cg);
    const float *x = rft_f32(f);
    float *gx = rft_f32(grad);
    const float *rmean = m.rmean;
    #pragma omp parallel for schedule(static) if (nt > 1)
    for (int64_t i = 0; i < b; i++) {
        const float *a = x + i * dim;
        const float *gm = gmean + p->gi[i] * dim, *rm = rmean + (cls ? p->ci[i] : 0) * dim;
        const ops_row_coef k = { (float)cg[i], (float)cg[b + i], 0.0f };
        float *o = gx + i * dim;
        #pragma omp simd
        for (int64_t e = 0; e < dim; e++) o[e] = ops_factored_value(a[e], gm[e], rm[e], k);
    }
    *value = l;
    return RFT_OK;
}

/* The factored form for n maps of one batch (rft_invariance_loss_factored_taps): one plan, pass 1
   of every map in the same parallel regions, its means straight into the map's means tensor (groups at
   rows 0..ng-1, the denominator's at b..), then each map's coefficients and rows of means. */
static int inv_cpu_factored(const inv_plan *p, int64_t n, const float *weights, const rft_tensor *const *f,
                            double *loss, double *values, rft_tensor *const *coef, rft_tensor *const *means,
                            rft_tensor *const *index)
{
    const int64_t b = p->b, ng = p->ng, nm = p->nc, ns = inv_ns(p);
    const int cls = p->ci != NULL;
    int ntmax = 1, small = 0;
    size_t nd = (size_t)(2 * b), ni = 0;
    for (int64_t j = 0; j < n; j++) {
        const int nt = inv_threads(f[j]);
        if (nt > ntmax) ntmax = nt;
        nd += (size_t)(nt * ns);
        ni += (size_t)(nt * (ng + nm));
    }
    inv_map *maps = malloc(sizeof(inv_map) * (size_t)n);
    double *part = inv_workspace(nd * sizeof(double) + ni * sizeof(int32_t));
    if (!maps || !part) { free(maps); return rft_fail(RFT_ENOMEM, "invariance: out of memory for %lld maps", (long long)n); }
    double *cg = part, *pp = part + 2 * b;
    int32_t *seen = (int32_t *)(part + nd);
    for (int64_t j = 0; j < n; j++) {
        const int nt = inv_threads(f[j]);
        const int64_t dim = f[j]->numel / b;
        float *fm = rft_f32(means[j]);
        maps[j] = (inv_map){ f[j], dim, nt, nt == 1 ? small++ % ntmax : 0, pp, seen, fm, fm + b * dim };
        pp += nt * ns;
        seen += nt * (ng + nm);
    }
    inv_pass1_all(p, maps, n, ntmax);
    for (int64_t j = 0; j < n; j++) {
        float *cf = rft_f32(coef[j]);
        int32_t *ix = rft_i32(index[j]);
        double l = NAN;                                      /* D = 0: 0/0, the mean of no values */
        if (maps[j].dim > 0) l = inv_finish(p, &maps[j], weights[j], cg);
        for (int64_t i = 0; i < b; i++) {
            cf[2 * i] = maps[j].dim > 0 ? (float)cg[i] : 0.0f;
            cf[2 * i + 1] = maps[j].dim > 0 ? (float)cg[b + i] : 0.0f;
            ix[2 * i] = p->gi[i];
            ix[2 * i + 1] = (int32_t)(b + (cls ? p->ci[i] : 0));
        }
        values[j] = l;
        *loss += weights[j] * l;
    }
    free(maps);
    return RFT_OK;
}

int rft_cpu_invariance_loss(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                            double *loss, double *value, rft_tensor *grad)
{
    inv_plan p;
    RFT_TRY(inv_plan_make(rft_i32(groups), classes ? rft_i32(classes) : NULL, f->shape[0], &p));
    int rc = inv_cpu(weight, f, &p, value, grad);
    inv_plan_free(&p);
    RFT_TRY(rc);
    *loss += weight * *value;
    return RFT_OK;
}

int rft_cpu_invariance_loss_factored_taps(int64_t n, const float *weights, const rft_tensor *const *f,
                                          const rft_tensor *groups, const rft_tensor *classes, double *loss,
                                          double *values, rft_tensor *const *coef, rft_tensor *const *means,
                                          rft_tensor *const *index)
{
    inv_plan p;
    RFT_TRY(inv_plan_make(rft_i32(groups), classes ? rft_i32(classes) : NULL, f[0]->shape[0], &p));
    int rc = inv_cpu_factored(&p, n, weights, f, loss, values, coef, means, index);
    inv_plan_free(&p);
    return rc;
}

RFT_CLONES
int rft_cpu_factored_grad(const rft_tensor *f, const rft_tensor *coef, const rft_tensor *means,
                          const rft_tensor *index, rft_tensor *grad)
{
    RFT_TRY(ops_factored_rows("factored_grad", index, means->shape[0]));
    const int64_t b = f->shape[0], dim = b ? f->numel / b : 0, ncol = coef->shape[1];
    const float *x = rft_f32(f), *fm = rft_f32(means), *cf = rft_f32(coef);
    const int32_t *ix = rft_i32(index);
    float *gx = rft_f32(grad);
    #pragma omp parallel for schedule(static) if (f->numel > RFT_PAR_MIN)
    for (int64_t t = 0; t < b; t++) {
        const int64_t i = ops_pair_row(t, b);     /* as rft_cpu_relu_backward_add_factored */
        const float *a = x + i * dim, *gm = fm + ix[2 * i] * dim, *rm = fm + ix[2 * i + 1] * dim;
        const ops_row_coef k = ops_factored_coef(cf, ncol, i);
        float *o = gx + i * dim;
        #pragma omp simd
        for (int64_t e = 0; e < dim; e++) o[e] = ops_factored_value(a[e], gm[e], rm[e], k);
    }
    return RFT_OK;
}

int rft_cpu_invariance_loss_async(float weight, const rft_tensor *f, const rft_tensor *groups,
                                  const rft_tensor *classes, rft_tensor *out, int64_t slot, rft_tensor *grad)
{
    double v = 0, l = 0;
    RFT_TRY(rft_cpu_invariance_loss(weight, f, groups, classes, &l, &v, grad));
    rft_f32(out)[2 * slot] = (float)v;
    rft_f32(out)[2 * slot + 1] = 0;
    return RFT_OK;
}

/* ---- invariance score (eq. 2) ------------------------------------------------------------------- */

int rft_invariance_stats(const rft_tensor *f, rft_tensor *stats)
{
    RFT_TRY(rft_check_dtype("invariance stats", "features", f, RFT_F32));
    RFT_TRY(rft_check_dtype("invariance stats", "stats", stats, RFT_F32));
    RFT_TRY(rft_check_same_device("invariance stats", "stats", f, stats));
    if (f->ndim < 1 || f->shape[0] < 1)
        return rft_fail(RFT_ESHAPE, "invariance stats: features %s must hold at least one row", rft_shape_str(f));
    const int64_t dim = f->numel / f->shape[0];
    const rft_backend *be = rft_backend_of(f);
    if (stats->numel == 0) {
        int64_t shape[1] = { dim + 2 };
        RFT_TRY(rft_tensor_resize(stats, 1, shape));
        RFT_TRY(be->fill(stats, 0));
    }
    if (stats->numel != dim + 2)
        return rft_fail(RFT_ESHAPE, "invariance stats: stats %s must hold %lld values (the mean of %lld features, "
                        "the count, the mean squared distance) for features %s", rft_shape_str(stats),
                        (long long)(dim + 2), (long long)dim, rft_shape_str(f));
    RFT_DISPATCH("invariance stats", f, invariance_stats, f, stats);
}

int rft_invariance_score(const rft_tensor *f, const rft_tensor *g, const rft_tensor *stats, rft_tensor *out,
                         int64_t offset, int64_t stride)
{
    RFT_TRY(rft_check_dtype("invariance score", "f", f, RFT_F32));
    RFT_TRY(rft_check_dtype("invariance score", "g", g, RFT_F32));
    RFT_TRY(rft_check_dtype("invariance score", "stats", stats, RFT_F32));
    RFT_TRY(rft_check_dtype("invariance score", "out", out, RFT_F32));
    RFT_TRY(rft_check_same_device("invariance score", "g", f, g));
    RFT_TRY(rft_check_same_device("invariance score", "stats", f, stats));
    RFT_TRY(rft_check_same_device("invariance score", "out", f, out));
    if (f->ndim < 1) return rft_fail(RFT_ESHAPE, "invariance score: f must have a batch dimension");
    RFT_TRY(ops_same_shape("invariance score", "g", g, "f", f));
    const int64_t n = f->shape[0], dim = n ? f->numel / n : 0;
    if (stats->numel != dim + 2)
        return rft_fail(RFT_ESHAPE, "invariance score: stats %s must hold %lld values for f %s (rft_invariance_stats "
                        "over the same layer)", rft_shape_str(stats), (long long)(dim + 2), rft_shape_str(f));
    if (offset < 0 || stride < 1)
        return rft_fail(RFT_EARG, "invariance score: offset %lld must be >= 0 and stride %lld >= 1",
                        (long long)offset, (long long)stride);
    if (out->numel == 0 && offset == 0 && stride == 1) {
        int64_t shape[1] = { n };
        RFT_TRY(rft_tensor_resize(out, 1, shape));
    }
    if (n > 0 && offset + (n - 1) * stride >= out->numel)
        return rft_fail(RFT_ESHAPE, "invariance score: out %s is too small for %lld scores at offset %lld, stride %lld",
                        rft_shape_str(out), (long long)n, (long long)offset, (long long)stride);
    if (n == 0) return RFT_OK;
    RFT_DISPATCH("invariance score", f, invariance_score, f, g, stats, out, offset, stride);
}

RFT_CLONES
int rft_cpu_invariance_stats(const rft_tensor *f, rft_tensor *stats)
{
    const int64_t nb = f->shape[0], dim = f->numel / nb;
    const float *x = rft_f32(f);
    float *st = rft_f32(stats);
    double *mb = calloc((size_t)(dim ? dim : 1), sizeof(double));
    if (!mb) return rft_fail(RFT_ENOMEM, "invariance stats: out of memory for %s", rft_shape_str(f));
    const int par = f->numel > RFT_PAR_MIN;
    /* the batch's mean, then its sum of squares about that mean */
    #pragma omp parallel for schedule(static) if (par)
    for (int64_t d0 = 0; d0 < dim; d0 += INV_BLOCK) {
        const int64_t n = dim - d0 < INV_BLOCK ? dim - d0 : INV_BLOCK;
        for (int64_t i = 0; i < nb; i++) {
            const float *a = x + i * dim + d0;
            #pragma omp simd
            for (int64_t e = 0; e < n; e++) mb[d0 + e] += a[e];
        }
        for (int64_t e = 0; e < n; e++) mb[d0 + e] /= (double)nb;
    }
    double m2b = 0;
    #pragma omp parallel for reduction(+:m2b) schedule(static) if (par)
    for (int64_t i = 0; i < nb; i++) {
        const float *a = x + i * dim;
        double s = 0;
        #pragma omp simd reduction(+:s)
        for (int64_t e = 0; e < dim; e++) { const double u = a[e] - mb[e]; s += u * u; }
        m2b += s;
    }
    /* Chan et al.: merge (mean_a, n_a, M2_a = n_a S_a) with the batch's (mean_b, n_b, M2_b) */
    const double na = st[dim], nbd = (double)nb, n = na + nbd;
    double delta2 = 0;
    for (int64_t e = 0; e < dim; e++) {
        const double delta = mb[e] - st[e];
        delta2 += delta * delta;
        st[e] = (float)(st[e] + delta * nbd / n);
    }
    const double m2 = (double)st[dim + 1] * na + m2b + delta2 * na * nbd / n;
    st[dim] = (float)n;
    st[dim + 1] = (float)(m2 / n);
    free(mb);
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_invariance_score(const rft_tensor *f, const rft_tensor *g, const rft_tensor *stats, rft_tensor *out,
                             int64_t offset, int64_t stride)
{
    const int64_t n = f->shape[0], dim = f->numel / n;
    const float *x = rft_f32(f), *y = rft_f32(g), *mean = rft_f32(stats);
    const double s = rft_f32(stats)[dim + 1];
    float *o = rft_f32(out) + offset;
    #pragma omp parallel for schedule(static) if (f->numel > RFT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float *a = x + i * dim, *b = y + i * dim;
        double num = 0, den = 0;
        #pragma omp simd reduction(+:num, den)
        for (int64_t e = 0; e < dim; e++) {
            const double u = (double)a[e] - b[e], v = (double)a[e] - mean[e];
            num += u * u;
            den += v * v;
        }
        den += s;
        o[i * stride] = den > 0 ? (float)(1.0 - num / den) : 0.0f;
    }
    return RFT_OK;
}
