/* invariance.cu: the CUDA twin of engine/loss/invariance.c, the data-augmentation invariance loss
 * (Hernandez-Garcia et al., eq. 3) for one tapped layer, from the Gram matrix of the batch:
 *   F: (B,D) rows f_i; G = F F^T; n_i = G_ii; d_ij = (n_i + n_j - 2 G_ij) / D
 *   pair weights (symmetric, zero diagonal), P_g = the copies of seed g, K' = seeds with P_g >= 2:
 *     A:  w_ij = [g_i = g_j] 2 / (K' P_g (P_g - 1))           (mean over seeds of the mean over pairs)
 *     Bw: w_ij = 1 / P over all P pairs, or [c_i = c_j] / P_same over same-class pairs (classes given)
 *   S(W) = (1/D) sum_ij w_ij (n_i - G_ij),  r_i = sum_j w_ij,  L = S(A) / S(Bw)
 *   grad (overwritten) = weight (2/D) M F,  M = [(diag(r_A) - A) - L (diag(r_B) - Bw)] / S(Bw)
 *   loss += weight L, *value = L; S(Bw) <= 0 (every row identical) is taken as 1e-30 (L = 0, grad 0).
 * The two GEMMs (G = F F^T, then M F) are cuBLAS SGEMMs on the context's stream, so the pairwise work
 * does not grow with D. The B x B work is ours: one block per row i finds P_{g_i} and the row's
 * four sums (sum_j w_ij (n_i - G_ij) for A and Bw, r_A, r_B) in double, one block adds the rows up
 * into S(A), S(Bw), L, and a grid-stride kernel writes M in float as the CPU rounds it.
 *
 * The groups (and classes) come to the host first: the pair counts K' and P (or P_same) and their
 * two refusals are the CPU's, word for word, before anything is written. cuBLAS and the CPU's oneDNN
 * sum the Gram matrix in different orders: L agrees to ~1e-6 relative for features whose pairwise
 * distances are not tiny against their norms (d_ij subtracts G_ij from n_i), the gradient likewise.
 *
 * Not here: the layer weights (the caller's `weight`) or the choice of layers.
 */
#include "cuda_util.h"
#include "reduce.cuh"
#include <limits.h>
#include <stdlib.h>

/* ---- kernels -------------------------------------------------------------------------------- */

/* One row's sums: sum_j w_ij (n_i - G_ij) for A and Bw, and r_A, r_B. */
typedef struct { double sa, sb, ra, rb; } inv_row;

/* The totals: S(A), S(Bw) (clamped) and L. */
typedef struct { double sa, sb, l; } inv_result;

/* The pair weights of (i, j), given P_{g_i} - 1 = same_i; the CPU's expressions. */
__device__ __forceinline__ double inv_wa(const int32_t *g, int64_t i, int64_t j, int same_i, double seeds)
{
    return j != i && g[j] == g[i] ? 2.0 / (seeds * (double)same_i * (double)(same_i + 1)) : 0.0;
}

__device__ __forceinline__ double inv_wb(const int32_t *c, int64_t i, int64_t j, double den_pairs)
{
    return j != i && (!c || c[i] == c[j]) ? 1.0 / den_pairs : 0.0;
}

/* gram: (b,b), g, c: (b) i32 (c may be NULL); rows: (b), same: (b) = P_{g_i} - 1; a block per row */
__global__ void inv_rows_kernel(const float *gram, const int32_t *g, const int32_t *c, int64_t b, double seeds,
                                double den_pairs, inv_row *rows, int *same)
{
    for (int64_t i = blockIdx.x; i < b; i += gridDim.x) {
        int cnt = 0;
        for (int64_t j = threadIdx.x; j < b; j += blockDim.x) cnt += j != i && g[j] == g[i];
        cnt = rft_block_sum(cnt);
        const double ni = gram[i * b + i];
        double sa = 0, sb = 0, ra = 0, rb = 0;
        for (int64_t j = threadIdx.x; j < b; j += blockDim.x) {
            /* the diagonal term too, weight 0, as the CPU sums it (0 * inf stays NaN) */
            const double wa = inv_wa(g, i, j, cnt, seeds), wb = inv_wb(c, i, j, den_pairs), gij = gram[i * b + j];
            sa += wa * (ni - gij);
            sb += wb * (ni - gij);
            ra += wa;
            rb += wb;
        }
        sa = rft_block_sum(sa);
        sb = rft_block_sum(sb);
        ra = rft_block_sum(ra);
        rb = rft_block_sum(rb);
        if (threadIdx.x == 0) {
            rows[i].sa = sa; rows[i].sb = sb; rows[i].ra = ra; rows[i].rb = rb;
            same[i] = cnt;
        }
    }
}

/* rows: (b) -> *res; one block */
__global__ void inv_total_kernel(const inv_row *rows, int64_t b, int64_t dim, inv_result *res)
{
    double sa = 0, sb = 0;
    for (int64_t i = threadIdx.x; i < b; i += blockDim.x) { sa += rows[i].sa; sb += rows[i].sb; }
    sa = rft_block_sum(sa);
    sb = rft_block_sum(sb);
    if (threadIdx.x == 0) {
        sa /= (double)dim;
        sb /= (double)dim;
        if (sb <= 0) sb = 1e-30;
        res->sa = sa;
        res->sb = sb;
        res->l = sa / sb;
    }
}

/* m: (b,b) f32 = ((diag(r_A) - A) - L (diag(r_B) - Bw)) / S(Bw), element by element as the CPU */
__global__ void inv_m_kernel(const int32_t *g, const int32_t *c, const int *same, const inv_row *rows,
                             const inv_result *res, int64_t b, double seeds, double den_pairs, float *m)
{
    const double l = res->l, sb = res->sb;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < b * b; e += (int64_t)blockDim.x * gridDim.x) {
        const int64_t i = e / b, j = e - i * b;
        const double a_ij = (i == j ? rows[i].ra : 0) - inv_wa(g, i, j, same[i], seeds);
        const double b_ij = (i == j ? rows[i].rb : 0) - inv_wb(c, i, j, den_pairs);
        m[e] = (float)(__dsub_rn(a_ij, __dmul_rn(l, b_ij)) / sb);    /* two roundings, as the CPU */
    }
}

/* ---- launchers ------------------------------------------------------------------------------ */

/* The CPU's pair counts from the host copies of groups and classes: seeds with >= 2 copies, and the
 * pairs of the denominator. */
static void inv_counts(const int32_t *g, const int32_t *c, int64_t b, int64_t *seeds, int64_t *den_pairs)
{
    *seeds = 0;
    *den_pairs = 0;
    for (int64_t i = 0; i < b; i++) {
        int64_t same = 0, first = 1;
        for (int64_t j = 0; j < b; j++) {
            if (j != i && g[j] == g[i]) { same++; if (j < i) first = 0; }
            if (j > i && (!c || c[i] == c[j])) (*den_pairs)++;
        }
        if (same > 0 && first) (*seeds)++;
    }
}

/* Reads groups (and classes) to the host and counts; fails as the CPU does. */
static int inv_check(const rft_tensor *groups, const rft_tensor *classes, int64_t b, int64_t *seeds,
                     int64_t *den_pairs)
{
    int32_t *host = (int32_t *)malloc(sizeof(int32_t) * 2 * (size_t)b);
    if (!host) return rft_fail(RFT_ENOMEM, "invariance: out of memory");
    int32_t *g = host, *c = classes ? host + b : NULL;
    int rc = rft_cuda_copy(g, RFT_CPU, rft_i32(groups), RFT_CUDA, sizeof(int32_t) * (size_t)b);
    if (rc == RFT_OK && c) rc = rft_cuda_copy(c, RFT_CPU, rft_i32(classes), RFT_CUDA, sizeof(int32_t) * (size_t)b);
    if (rc == RFT_OK) inv_counts(g, c, b, seeds, den_pairs);
    free(host);
    RFT_TRY(rc);
    if (*seeds == 0)
        return rft_fail(RFT_EARG, "invariance: no seed image has two copies in the batch (groups all differ)");
    if (*den_pairs == 0)
        return rft_fail(RFT_EARG, "invariance: no pair of rows shares a class for the same-class denominator");
    return RFT_OK;
}

/* Where each array lives in the one scratch block. */
typedef struct { float *gram, *m; inv_row *rows; int *same; inv_result *res; size_t bytes; } inv_scratch;

static inv_scratch inv_layout(char *base, int64_t b)
{
    inv_scratch s;
    size_t off = 0, bb = (size_t)b * (size_t)b;
    s.gram = (float *)(base + off); off += rft_align256(bb * sizeof(float));
    s.m = (float *)(base + off); off += rft_align256(bb * sizeof(float));
    s.rows = (inv_row *)(base + off); off += rft_align256((size_t)b * sizeof(inv_row));
    s.same = (int *)(base + off); off += rft_align256((size_t)b * sizeof(int));
    s.res = (inv_result *)(base + off); off += rft_align256(sizeof(inv_result));
    s.bytes = off;
    return s;
}

static int inv_run(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                   rft_tensor *grad, int64_t seeds, int64_t den_pairs, const inv_scratch *s, inv_result *res)
{
    const int64_t b = f->shape[0], dim = f->numel / b;
    const int nb = (int)b, nd = (int)dim;
    const float one = 1.0f, zero = 0.0f;
    const float *x = rft_f32(f);
    const int32_t *g = rft_i32(groups), *c = classes ? rft_i32(classes) : NULL;
    /* G = F F^T: row-major F (b,dim) is column-major F^T (dim,b), ld dim; G is symmetric */
    RFT_CUDA_CHECK(cublasSgemm(rft_cuda.cublas, CUBLAS_OP_T, CUBLAS_OP_N, nb, nb, nd, &one, x, nd, x, nd, &zero,
                               s->gram, nb));
    RFT_LAUNCH(inv_rows_kernel, (unsigned)(b < 65535 ? b : 65535), RFT_CUDA_THREADS, s->gram, g, c, b,
               (double)seeds, (double)den_pairs, s->rows, s->same);
    RFT_LAUNCH(inv_total_kernel, 1, RFT_CUDA_THREADS, s->rows, b, dim, s->res);
    RFT_LAUNCH(inv_m_kernel, rft_cuda_blocks(b * b), RFT_CUDA_THREADS, g, c, s->same, s->rows, s->res, b,
               (double)seeds, (double)den_pairs, s->m);
    /* grad (b,dim) = scale M F: column-major grad^T (dim,b) = scale F^T (dim,b) M^T (b,b) */
    const float scale = (float)(weight * 2.0 / (double)dim);
    RFT_CUDA_CHECK(cublasSgemm(rft_cuda.cublas, CUBLAS_OP_N, CUBLAS_OP_N, nd, nb, nb, &scale, x, nd, s->m, nb, &zero,
                               rft_f32(grad), nd));
    RFT_CUDA_CHECK(cudaMemcpyAsync(res, s->res, sizeof *res, cudaMemcpyDeviceToHost, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaStreamSynchronize(rft_cuda.stream));
    return RFT_OK;
}

int rft_cuda_invariance_loss(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                             double *loss, double *value, rft_tensor *grad)
{
    const int64_t b = f->shape[0], dim = f->numel / b;
    if (b > INT_MAX || dim > INT_MAX)                    /* cuBLAS takes int sizes */
        return rft_fail(RFT_ESHAPE, "invariance: feature map %s is beyond cuBLAS's sizes (at most %d rows of at "
                        "most %d values)", rft_shape_str(f), INT_MAX, INT_MAX);
    int64_t seeds = 0, den_pairs = 0;
    RFT_TRY(inv_check(groups, classes, b, &seeds, &den_pairs));
    if (dim == 0) {                                      /* the CPU's 0/0: NaN, and a grad with no values */
        *value = NAN;
        *loss += weight * *value;
        return RFT_OK;
    }
    inv_scratch s = inv_layout(NULL, b);
    void *scratch;
    RFT_TRY(rft_cuda_block(s.bytes, &scratch));
    s = inv_layout((char *)scratch, b);
    inv_result res;
    int rc = inv_run(weight, f, groups, classes, grad, seeds, den_pairs, &s, &res);
    rft_cuda_free(scratch);
    RFT_TRY(rc);
    *value = res.l;
    *loss += weight * res.l;
    return RFT_OK;
}
