/* invariance.c: the data-augmentation invariance loss (Hernandez-Garcia et al., eq. 3) for one
 * tapped layer, from the Gram matrix of the batch's feature vectors.
 *
 *   F: (B,D) rows f_i; G = F F^T; n_i = G_ii; d_ij = (n_i + n_j - 2 G_ij) / D
 *   For symmetric pair weights W (zero diagonal, w_ij for each i<j):
 *     S(W) = sum_{i<j} w_ij d_ij = (1/D) [sum_i r_i n_i - sum_{i,j} w_ij G_ij],  r_i = sum_j w_ij
 *     dS/dF = (2/D) (diag(r) - W) F
 *   A: w_ij = [g_i = g_j] / (K' P_g)  (mean over seeds with >= 2 copies of the mean over their pairs)
 *   Bw: w_ij = 1 / P over all pairs, or [c_i = c_j] / P_same over same-class pairs
 *   L = S(A) / S(Bw);  dL/dF = (2/D) [ (diag(r_A) - A) / S(Bw) - S(A) (diag(r_B) - Bw) / S(Bw)^2 ] F
 * Two GEMMs (G, then the B x B matrix times F) through oneDNN's sgemm; pairwise work is B x B.
 * Not here: layer weights (the caller's `weight`) or the choice of layers. */
#include "backend.h"
#include <dnnl.h>
#include <stdlib.h>

int rft_invariance_loss(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                        double *loss, double *value, rft_tensor *grad)
{
    RFT_TRY(rft_check_dtype("invariance", "feature map", f, RFT_F32));
    RFT_TRY(rft_check_dtype("invariance", "groups", groups, RFT_I32));
    RFT_TRY(rft_check_dtype("invariance", "grad", grad, RFT_F32));
    RFT_TRY(rft_check_same_device("invariance", "groups", f, groups));
    RFT_TRY(rft_check_same_device("invariance", "grad", f, grad));
    if (!loss || !value) return rft_fail(RFT_EARG, "invariance: loss and value are required");
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
    if (grad->storage == f->storage)
        return rft_fail(RFT_EARG, "invariance: grad shares memory with the feature map (the gradient GEMM reads it)");
    RFT_TRY(rft_tensor_resize(grad, f->ndim, f->shape));
    RFT_TRY(RFT_CALL("invariance", f, invariance_loss, weight, f, groups, classes, loss, value, grad));
    *loss = rft_canonical(*loss); *value = rft_canonical(*value);   /* Lua reads them (rft.h) */
    return RFT_OK;
}

RFT_CLONES
int rft_cpu_invariance_loss(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                            double *loss, double *value, rft_tensor *grad)
{
    int64_t b = f->shape[0], dim = f->numel / b;
    const int32_t *g = rft_i32(groups), *c = classes ? rft_i32(classes) : NULL;
    float *gram = malloc(sizeof(float) * (size_t)(b * b));
    double *wa = calloc((size_t)(b * b), sizeof(double)), *wb = calloc((size_t)(b * b), sizeof(double));
    float *m = malloc(sizeof(float) * (size_t)(b * b));
    int rc = RFT_OK;
    if (!gram || !wa || !wb || !m) { rc = rft_fail(RFT_ENOMEM, "invariance: out of memory"); goto done; }
    if (dnnl_sgemm('N', 'T', b, b, dim, 1.0f, rft_f32(f), dim, rft_f32(f), dim, 0.0f, gram, b) != dnnl_success) {
        rc = rft_fail(RFT_EARG, "invariance: the Gram matrix GEMM failed for %s", rft_shape_str(f));
        goto done;
    }
    /* pair weights: count pairs per seed, seeds with pairs, and denominator pairs */
    int64_t seeds = 0, den_pairs = 0;
    for (int64_t i = 0; i < b; i++) {
        int64_t same = 0, first = 1;
        for (int64_t j = 0; j < b; j++) {
            if (j != i && g[j] == g[i]) { same++; if (j < i) first = 0; }
            if (j > i && (!c || c[i] == c[j])) den_pairs++;
        }
        if (same > 0 && first) seeds++;
    }
    if (seeds == 0)
        { rc = rft_fail(RFT_EARG, "invariance: no seed image has two copies in the batch (groups all differ)"); goto done; }
    if (den_pairs == 0)
        { rc = rft_fail(RFT_EARG, "invariance: no pair of rows shares a class for the same-class denominator"); goto done; }
    for (int64_t i = 0; i < b; i++) {
        int64_t same = 0;
        for (int64_t j = 0; j < b; j++) same += j != i && g[j] == g[i];
        for (int64_t j = 0; j < b; j++) {
            if (j == i) continue;
            if (g[j] == g[i]) wa[i * b + j] = 2.0 / ((double)seeds * (double)same * (double)(same + 1));
            if (!c || c[i] == c[j]) wb[i * b + j] = 1.0 / (double)den_pairs;
        }
    }
    /* S(W) = (1/D) [sum_i r_i n_i - sum_ij w_ij G_ij] */
    double sa = 0, sb = 0;
    for (int64_t i = 0; i < b; i++)
        for (int64_t j = 0; j < b; j++) {
            double gij = gram[i * b + j], ni = gram[i * b + i];
            sa += wa[i * b + j] * (ni - gij);
            sb += wb[i * b + j] * (ni - gij);
        }
    sa /= (double)dim; sb /= (double)dim;
    if (sb <= 0) sb = 1e-30;             /* every row identical: L is 0/0; report 0 with zero gradient */
    double l = sa / sb;
    /* M = (diag(r_A) - A)/S_B - L (diag(r_B) - Bw)/S_B, then grad = weight * (2/D) M F */
    for (int64_t i = 0; i < b; i++) {
        double ra = 0, rb = 0;
        for (int64_t j = 0; j < b; j++) { ra += wa[i * b + j]; rb += wb[i * b + j]; }
        for (int64_t j = 0; j < b; j++) {
            double a_ij = (i == j ? ra : 0) - wa[i * b + j], b_ij = (i == j ? rb : 0) - wb[i * b + j];
            m[i * b + j] = (float)((a_ij - l * b_ij) / sb);
        }
    }
    float scale = (float)(weight * 2.0 / (double)dim);
    if (dnnl_sgemm('N', 'N', b, dim, b, scale, m, b, rft_f32(f), dim, 0.0f, rft_f32(grad), dim) != dnnl_success) {
        rc = rft_fail(RFT_EARG, "invariance: the gradient GEMM failed for %s", rft_shape_str(f));
        goto done;
    }
    *value = l;
    *loss += weight * l;
done:
    free(gram); free(wa); free(wb); free(m);
    return rc;
}
