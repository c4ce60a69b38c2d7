/* backend_ops.h: the one list of engine ops a device table provides (an X-macro). Each line
 * X(name, (parameters)) generates the table's member `int (*name)(parameters)` (engine/backend.h),
 * the CPU prototype `rft_cpu_name` (engine/backend.h) and the CUDA one `rft_cuda_name`
 * (kernels/cuda_util.h), and both initialisers (engine/core/backend.c, kernels/backend.cu).
 * Adding an op is one line here plus its two implementations; the public entry point calls it with
 * RFT_DISPATCH (engine/backend.h).
 *
 * Not here: memory (alloc, free, copy, synchronize), which backend.h spells out; the public header
 * (engine/include/rft.h), which ffi.cdef reads and so cannot use macros. Internal to librft and
 * librft_cuda. Every op returns an int status; arguments reaching it are already checked.
 * Changing the list changes the table's size, which librft checks when it loads librft_cuda: a stale
 * backend is refused with both sizes named. */
#ifndef RFT_BACKEND_OPS_H
#define RFT_BACKEND_OPS_H

/* clang-format off */
#define RFT_BACKEND_OPS(X)                                                                                      \
    /* element-wise basics (engine/core/tensor.c, tensor_ops.c) */                                              \
    X(fill, (rft_tensor *t, double value))                                                                      \
    X(u8_to_f32, (const rft_tensor *x, float scale, rft_tensor *y))                                             \
    X(stats, (const rft_tensor *t, double *out))                                                                \
    X(axpy, (float alpha, const rft_tensor *x, rft_tensor *y))                                                  \
    X(scale, (rft_tensor *y, float alpha))                                                                      \
    X(gather, (const rft_tensor *src, const rft_tensor *idx, rft_tensor *out)) /* checks idx's values */        \
    /* random numbers (engine/core/rand.c gives the formulas) */                                                \
    X(rand_uniform, (rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi))       \
    X(rand_normal, (rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std))     \
    X(rand_bernoulli, (rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float p))                \
    /* nn: convolution and linear layers (engine/nn/conv2d.c, linear.c) */                                      \
    X(conv2d_forward, (const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w, const rft_tensor *b,  \
                       rft_tensor *y))                                                                          \
    X(conv2d_backward_input, (const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,               \
                              const rft_tensor *dy, rft_tensor *dx))                                            \
    X(conv2d_backward_params, (const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *dy, float scale, \
                               rft_tensor *dw, rft_tensor *db))                                                 \
    X(linear_forward, (const rft_tensor *x, const rft_tensor *w, const rft_tensor *b, rft_tensor *y))           \
    X(linear_backward_input, (const rft_tensor *x, const rft_tensor *w, const rft_tensor *dy, rft_tensor *dx))  \
    X(linear_backward_params, (const rft_tensor *x, const rft_tensor *dy, float scale, rft_tensor *dw,          \
                               rft_tensor *db))                                                                 \
    /* nn: element-wise, pooling, normalisation, dropout (engine/nn/) */                                        \
    X(relu_forward, (const rft_tensor *x, rft_tensor *y))                                                       \
    X(relu_backward, (const rft_tensor *y, const rft_tensor *dy, rft_tensor *dx))                               \
    X(relu_backward_add, (const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra, rft_tensor *dx))  \
    X(relu_backward_add_factored, (const rft_tensor *y, const rft_tensor *dy, const rft_tensor *coef,           \
                                   const rft_tensor *means, const rft_tensor *index, rft_tensor *dx))           \
    X(maxpool2d_forward, (const rft_pool2d_args *a, const rft_tensor *x, rft_tensor *y, rft_tensor *argmax))    \
    X(maxpool2d_backward, (const rft_pool2d_args *a, const rft_tensor *argmax, const rft_tensor *dy,             \
                           rft_tensor *dx))                                                                     \
    X(global_avgpool_forward, (const rft_tensor *x, rft_tensor *y))                                             \
    X(global_avgpool_backward, (const rft_tensor *dy, rft_tensor *dx))                                          \
    X(dropout_forward, (float p, uint64_t seed, uint64_t stream, uint64_t offset, const rft_tensor *x,           \
                        rft_tensor *y, rft_tensor *mask))                                                       \
    X(dropout_backward, (float p, const rft_tensor *mask, const rft_tensor *dy, rft_tensor *dx))                \
    /* batch norm: weight, bias NULL mean 1 and 0; the backward's dx, dweight, dbias may be NULL */             \
    X(batchnorm2d_forward_train, (const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,   \
                                  const rft_tensor *bias, rft_tensor *running_mean, rft_tensor *running_var,    \
                                  rft_tensor *y, rft_tensor *save_mean, rft_tensor *save_invstd))               \
    X(batchnorm2d_forward_eval, (const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,    \
                                 const rft_tensor *bias, const rft_tensor *running_mean,                        \
                                 const rft_tensor *running_var, rft_tensor *y))                                 \
    X(batchnorm2d_backward, (const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,        \
                             const rft_tensor *save_invstd, const rft_tensor *dy, float scale, rft_tensor *dx,  \
                             rft_tensor *dweight, rft_tensor *dbias))                                           \
    X(batchnorm2d_backward_eval, (const rft_tensor *x, const rft_tensor *weight, const rft_tensor *running_mean, \
                                  const rft_tensor *running_var, float eps, const rft_tensor *dy, float scale,  \
                                  rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias))                      \
    /* batch norm + ReLU fused (y: the fused output; extra, a tap gradient to add, may be NULL) */             \
    X(batchnorm2d_relu_backward, (const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,   \
                                  const rft_tensor *save_invstd, const rft_tensor *y, const rft_tensor *dy,     \
                                  const rft_tensor *extra, float scale, rft_tensor *dx, rft_tensor *dweight,    \
                                  rft_tensor *dbias))                                                           \
    /* the same with the tap gradient in factored form (rft_invariance_loss_factored, rft_fma_loss_factored) */ \
    X(batchnorm2d_relu_backward_factored, (const rft_tensor *x, const rft_tensor *weight,                       \
                                           const rft_tensor *save_mean, const rft_tensor *save_invstd,          \
                                           const rft_tensor *y, const rft_tensor *dy, const rft_tensor *coef,   \
                                           const rft_tensor *means, const rft_tensor *index, float scale,       \
                                           rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias))             \
    X(batchnorm2d_relu_backward_eval, (const rft_tensor *x, const rft_tensor *weight,                           \
                                       const rft_tensor *running_mean, const rft_tensor *running_var, float eps, \
                                       const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra,      \
                                       float scale, rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias))    \
    X(batchnorm2d_relu_backward_eval_factored, (const rft_tensor *x, const rft_tensor *weight,                  \
                                                const rft_tensor *running_mean, const rft_tensor *running_var,  \
                                                float eps, const rft_tensor *y, const rft_tensor *dy,           \
                                                const rft_tensor *coef, const rft_tensor *means,                \
                                                const rft_tensor *index, float scale, rft_tensor *dx,           \
                                                rft_tensor *dweight, rft_tensor *dbias))                        \
    /* losses and metrics (engine/loss/); they check the labels' values */                                      \
    X(cross_entropy, (const rft_tensor *logits, const rft_tensor *labels, int64_t row0, int64_t row1,           \
                      float smoothing, float scale, double *loss, rft_tensor *dlogits))                                          \
    X(topk_correct, (const rft_tensor *logits, const rft_tensor *labels, int k, int64_t *correct))              \
    X(argmax_rows, (const rft_tensor *logits, rft_tensor *pred))                                                \
    X(metrics_take, (double *loss_sum, int64_t *correct))     /* deferred totals (engine/loss/metrics.c) */     \
    /* robust-training losses (engine/loss/fma.c, stability.c, invariance.c) */                                 \
    X(fma_loss, (const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *grad))      \
    X(fma_loss_factored, (const rft_fma_args *a, float scale, const rft_tensor *f, double *loss,                \
                          rft_tensor *coef, rft_tensor *index))                                                 \
    X(stability_loss, (const rft_stability_args *a, const rft_tensor *logits, double *loss, rft_tensor *grad))  \
    X(invariance_loss, (float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,  \
                        double *loss, double *value, rft_tensor *grad))                                         \
    X(invariance_loss_async, (float weight, const rft_tensor *f, const rft_tensor *groups,                      \
                              const rft_tensor *classes, rft_tensor *out, int64_t slot, rft_tensor *grad))      \
    X(invariance_loss_factored_taps, (int64_t n, const float *weights, const rft_tensor *const *f,              \
                                      const rft_tensor *groups, const rft_tensor *classes, double *loss,        \
                                      double *values, rft_tensor *const *coef, rft_tensor *const *means,        \
                                      rft_tensor *const *index))                                                \
    X(factored_grad, (const rft_tensor *f, const rft_tensor *coef, const rft_tensor *means,                     \
                      const rft_tensor *index, rft_tensor *grad))                                               \
    X(invariance_stats, (const rft_tensor *f, rft_tensor *stats))                                               \
    X(invariance_score, (const rft_tensor *f, const rft_tensor *g, const rft_tensor *stats, rft_tensor *out,    \
                         int64_t offset, int64_t stride))                                                       \
    /* optimizers (engine/optim/) */                                                                            \
    X(sgd_step, (const rft_sgd_args *a, int first_step, const rft_tensor *grad, rft_tensor *param,              \
                 rft_tensor *momentum_buf))                                                                     \
    /* data path (engine/data/) */                                                                              \
    X(crop_flip, (int pad, int flip, uint64_t seed, const rft_tensor *x, const rft_tensor *ids, rft_tensor *y)) \
    /* augmentations (engine/aug/; arguments checked, y resized, ids may be NULL) */                            \
    X(aug_brightness, (const rft_tensor *delta, const rft_tensor *x, rft_tensor *y))                            \
    X(aug_contrast, (const rft_tensor *gamma, const rft_tensor *x, rft_tensor *y))                              \
    X(aug_saturation, (const rft_tensor *alpha, const rft_tensor *x, rft_tensor *y))                            \
    X(aug_gaussian_blur, (int border, const rft_tensor *size, const rft_tensor *sigma, const rft_tensor *x,      \
                          rft_tensor *y))                                                                       \
    X(aug_gaussian_noise, (uint64_t seed, uint32_t stream, const rft_tensor *ids, const rft_tensor *mean,       \
                           const rft_tensor *sigma, const rft_tensor *x, rft_tensor *y))                        \
    X(aug_salt_pepper, (int per_pixel, uint64_t seed, uint32_t stream, const rft_tensor *ids,                   \
                        const rft_tensor *p, const rft_tensor *q, const rft_tensor *rho, const rft_tensor *x,   \
                        rft_tensor *y))                                                                         \
    X(aug_affine, (int border, const rft_tensor *theta, const rft_tensor *x, rft_tensor *y))                    \
    X(aug_hflip, (const rft_tensor *flip, const rft_tensor *x, rft_tensor *y))                                  \
    X(aug_crop, (int border, const rft_tensor *dx, const rft_tensor *dy, const rft_tensor *x, rft_tensor *y))   \
    X(aug_draw, (int kind, int nvalues, const float *values, uint64_t seed, uint32_t stream,                    \
                 const rft_tensor *ids, rft_tensor *out))
/* clang-format on */

#endif
