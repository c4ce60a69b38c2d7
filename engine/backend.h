/* backend.h: the table of functions one device provides (ggml's backend interface, in small).
 *
 * Public functions check their arguments, resize outputs, then call the table of the tensors'
 * device; a NULL entry is "not available on <device>", never a fallback to another device.
 * The CPU table is linked in; the CUDA table comes from librft_cuda.so, loaded on first use, whose
 * one exported symbol `rft_cuda_backend` returns it. Arguments reaching a table are already checked.
 */
#ifndef RFT_BACKEND_H
#define RFT_BACKEND_H
#include "internal.h"

typedef struct rft_backend {
    int abi;                   /* RFT_ABI_VERSION the table was built for */
    size_t size;               /* sizeof(rft_backend) it was built with: a stale library shows here */
    const char *name;
    /* memory */
    void *(*alloc)(size_t nbytes);                                     /* zeroed; NULL if none left */
    void (*free)(void *p);
    int (*synchronize)(void);                                          /* NULL: work is never queued */
    int (*copy)(void *dst, int dst_device, const void *src, int src_device, size_t nbytes);
    /* element-wise basics */
    int (*fill)(rft_tensor *t, double value);
    int (*u8_to_f32)(const rft_tensor *x, float scale, rft_tensor *y);
    int (*stats)(const rft_tensor *t, double *out);
    int (*axpy)(float alpha, const rft_tensor *x, rft_tensor *y);                 /* engine/core/tensor_ops.c */
    int (*scale)(rft_tensor *y, float alpha);
    int (*gather)(const rft_tensor *src, const rft_tensor *idx, rft_tensor *out); /* checks idx's values */
    /* random numbers (engine/core/rand.c gives the formulas) */
    int (*rand_uniform)(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi);
    int (*rand_normal)(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std);
    int (*rand_bernoulli)(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float p);
    /* nn: convolution and linear layers (engine/nn/conv2d.c, linear.c) */
    int (*conv2d_forward)(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w, const rft_tensor *b,
                          rft_tensor *y);
    int (*conv2d_backward_input)(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                                 const rft_tensor *dy, rft_tensor *dx);
    int (*conv2d_backward_params)(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *dy, float scale,
                                  rft_tensor *dw, rft_tensor *db);
    int (*linear_forward)(const rft_tensor *x, const rft_tensor *w, const rft_tensor *b, rft_tensor *y);
    int (*linear_backward_input)(const rft_tensor *x, const rft_tensor *w, const rft_tensor *dy, rft_tensor *dx);
    int (*linear_backward_params)(const rft_tensor *x, const rft_tensor *dy, float scale, rft_tensor *dw,
                                  rft_tensor *db);

    /* nn: element-wise, pooling, normalisation, dropout (engine/nn/) */
    int (*relu_forward)(const rft_tensor *x, rft_tensor *y);
    int (*relu_backward)(const rft_tensor *y, const rft_tensor *dy, rft_tensor *dx);
    int (*relu_backward_add)(const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra, rft_tensor *dx);
    int (*maxpool2d_forward)(const rft_pool2d_args *a, const rft_tensor *x, rft_tensor *y, rft_tensor *argmax);
    int (*maxpool2d_backward)(const rft_pool2d_args *a, const rft_tensor *argmax, const rft_tensor *dy,
                              rft_tensor *dx);
    int (*global_avgpool_forward)(const rft_tensor *x, rft_tensor *y);
    int (*global_avgpool_backward)(const rft_tensor *dy, rft_tensor *dx);
    int (*dropout_forward)(float p, uint64_t seed, uint64_t stream, uint64_t offset, const rft_tensor *x,
                           rft_tensor *y, rft_tensor *mask);
    int (*dropout_backward)(float p, const rft_tensor *mask, const rft_tensor *dy, rft_tensor *dx);
    /* weight, bias NULL: 1 and 0; the backward's dx, dweight, dbias may be NULL (not wanted) */
    int (*batchnorm2d_forward_train)(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                     const rft_tensor *bias, rft_tensor *running_mean, rft_tensor *running_var,
                                     rft_tensor *y, rft_tensor *save_mean, rft_tensor *save_invstd);
    int (*batchnorm2d_forward_eval)(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                    const rft_tensor *bias, const rft_tensor *running_mean,
                                    const rft_tensor *running_var, rft_tensor *y);
    int (*batchnorm2d_backward)(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                const rft_tensor *save_invstd, const rft_tensor *dy, float scale, rft_tensor *dx,
                                rft_tensor *dweight, rft_tensor *dbias);
    int (*batchnorm2d_backward_eval)(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *running_mean,
                                     const rft_tensor *running_var, float eps, const rft_tensor *dy, float scale,
                                     rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias);
    /* extra may be NULL */
    int (*batchnorm2d_relu_backward)(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                     const rft_tensor *save_invstd, const rft_tensor *y, const rft_tensor *dy,
                                     const rft_tensor *extra, float scale, rft_tensor *dx, rft_tensor *dweight,
                                     rft_tensor *dbias);
    int (*batchnorm2d_relu_backward_eval)(const rft_tensor *x, const rft_tensor *weight,
                                          const rft_tensor *running_mean, const rft_tensor *running_var, float eps,
                                          const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra,
                                          float scale, rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias);

    /* losses and metrics (engine/loss/); they check the labels' values */
    int (*cross_entropy)(const rft_tensor *logits, const rft_tensor *labels, int64_t row0, int64_t row1,
                         float scale, double *loss, rft_tensor *dlogits);
    int (*topk_correct)(const rft_tensor *logits, const rft_tensor *labels, int k, int64_t *correct);
    int (*argmax_rows)(const rft_tensor *logits, rft_tensor *pred);

    /* robust-training losses (engine/loss/fma.c, stability.c) */
    int (*fma_loss)(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *grad);
    int (*stability_loss)(const rft_stability_args *a, const rft_tensor *logits, double *loss, rft_tensor *grad);
    int (*invariance_loss)(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                           double *loss, double *value, rft_tensor *grad);
    /* optimizers (engine/optim/) */
    int (*sgd_step)(const rft_sgd_args *a, int first_step, const rft_tensor *grad, rft_tensor *param,
                    rft_tensor *momentum_buf);

    /* data path (engine/data/) */
    int (*crop_flip)(int pad, int flip, uint64_t seed, const rft_tensor *x, const rft_tensor *ids, rft_tensor *y);

    /* augmentations (engine/aug/; arguments checked, y resized, ids may be NULL) */
    int (*aug_brightness)(const rft_tensor *delta, const rft_tensor *x, rft_tensor *y);
    int (*aug_contrast)(const rft_tensor *gamma, const rft_tensor *x, rft_tensor *y);
    int (*aug_saturation)(const rft_tensor *alpha, const rft_tensor *x, rft_tensor *y);
    int (*aug_gaussian_blur)(int border, const rft_tensor *size, const rft_tensor *sigma, const rft_tensor *x,
                             rft_tensor *y);
    int (*aug_gaussian_noise)(uint64_t seed, uint32_t stream, const rft_tensor *ids, const rft_tensor *mean,
                              const rft_tensor *sigma, const rft_tensor *x, rft_tensor *y);
    int (*aug_salt_pepper)(int per_pixel, uint64_t seed, uint32_t stream, const rft_tensor *ids,
                           const rft_tensor *p, const rft_tensor *q, const rft_tensor *rho, const rft_tensor *x,
                           rft_tensor *y);
    int (*aug_affine)(int border, const rft_tensor *theta, const rft_tensor *x, rft_tensor *y);
    int (*aug_hflip)(const rft_tensor *flip, const rft_tensor *x, rft_tensor *y);
    int (*aug_crop)(int border, const rft_tensor *dx, const rft_tensor *dy, const rft_tensor *x, rft_tensor *y);
    int (*aug_draw)(int kind, int nvalues, const float *values, uint64_t seed, uint32_t stream,
                    const rft_tensor *ids, rft_tensor *out);

} rft_backend;

/* The table for a device, loading it on first use; fails with the reason it is not usable. */
int rft_backend_get(int device, const rft_backend **out);
/* The table of t's device (t's device was usable when t was made). */
const rft_backend *rft_backend_of(const rft_tensor *t);

/* Entry point exported by librft_cuda.so. */
typedef const rft_backend *(*rft_cuda_backend_fn)(void);

/* The CPU implementations, for the CPU table. */
void *rft_cpu_alloc(size_t nbytes);
void rft_cpu_free(void *p);
int rft_cpu_copy(void *dst, int dst_device, const void *src, int src_device, size_t nbytes);
int rft_cpu_fill(rft_tensor *t, double value);
int rft_cpu_u8_to_f32(const rft_tensor *x, float scale, rft_tensor *y);
int rft_cpu_stats(const rft_tensor *t, double *out);
int rft_cpu_axpy(float alpha, const rft_tensor *x, rft_tensor *y);
int rft_cpu_scale(rft_tensor *y, float alpha);
int rft_cpu_gather(const rft_tensor *src, const rft_tensor *idx, rft_tensor *out);
int rft_cpu_rand_uniform(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi);
int rft_cpu_rand_normal(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std);
int rft_cpu_rand_bernoulli(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float p);

/* nn: convolution and linear layers */
int rft_cpu_conv2d_forward(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w, const rft_tensor *b,
                           rft_tensor *y);
int rft_cpu_conv2d_backward_input(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                                  const rft_tensor *dy, rft_tensor *dx);
int rft_cpu_conv2d_backward_params(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *dy, float scale,
                                   rft_tensor *dw, rft_tensor *db);
int rft_cpu_linear_forward(const rft_tensor *x, const rft_tensor *w, const rft_tensor *b, rft_tensor *y);
int rft_cpu_linear_backward_input(const rft_tensor *x, const rft_tensor *w, const rft_tensor *dy, rft_tensor *dx);
int rft_cpu_linear_backward_params(const rft_tensor *x, const rft_tensor *dy, float scale, rft_tensor *dw,
                                   rft_tensor *db);

/* nn: element-wise, pooling, normalisation, dropout */
int rft_cpu_relu_forward(const rft_tensor *x, rft_tensor *y);
int rft_cpu_relu_backward(const rft_tensor *y, const rft_tensor *dy, rft_tensor *dx);
int rft_cpu_relu_backward_add(const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra, rft_tensor *dx);
int rft_cpu_maxpool2d_forward(const rft_pool2d_args *a, const rft_tensor *x, rft_tensor *y, rft_tensor *argmax);
int rft_cpu_maxpool2d_backward(const rft_pool2d_args *a, const rft_tensor *argmax, const rft_tensor *dy,
                               rft_tensor *dx);
int rft_cpu_global_avgpool_forward(const rft_tensor *x, rft_tensor *y);
int rft_cpu_global_avgpool_backward(const rft_tensor *dy, rft_tensor *dx);
int rft_cpu_dropout_forward(float p, uint64_t seed, uint64_t stream, uint64_t offset, const rft_tensor *x,
                            rft_tensor *y, rft_tensor *mask);
int rft_cpu_dropout_backward(float p, const rft_tensor *mask, const rft_tensor *dy, rft_tensor *dx);
int rft_cpu_batchnorm2d_forward_train(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                      const rft_tensor *bias, rft_tensor *running_mean, rft_tensor *running_var,
                                      rft_tensor *y, rft_tensor *save_mean, rft_tensor *save_invstd);
int rft_cpu_batchnorm2d_forward_eval(const rft_batchnorm_args *a, const rft_tensor *x, const rft_tensor *weight,
                                     const rft_tensor *bias, const rft_tensor *running_mean,
                                     const rft_tensor *running_var, rft_tensor *y);
int rft_cpu_batchnorm2d_backward(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                 const rft_tensor *save_invstd, const rft_tensor *dy, float scale, rft_tensor *dx,
                                 rft_tensor *dweight, rft_tensor *dbias);
int rft_cpu_batchnorm2d_backward_eval(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *running_mean,
                                      const rft_tensor *running_var, float eps, const rft_tensor *dy, float scale,
                                      rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias);
int rft_cpu_batchnorm2d_relu_backward(const rft_tensor *x, const rft_tensor *weight, const rft_tensor *save_mean,
                                      const rft_tensor *save_invstd, const rft_tensor *y, const rft_tensor *dy,
                                      const rft_tensor *extra, float scale, rft_tensor *dx, rft_tensor *dweight,
                                      rft_tensor *dbias);
int rft_cpu_batchnorm2d_relu_backward_eval(const rft_tensor *x, const rft_tensor *weight,
                                           const rft_tensor *running_mean, const rft_tensor *running_var, float eps,
                                           const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra,
                                           float scale, rft_tensor *dx, rft_tensor *dweight, rft_tensor *dbias);

/* losses and metrics */
int rft_cpu_cross_entropy(const rft_tensor *logits, const rft_tensor *labels, int64_t row0, int64_t row1,
                          float scale, double *loss, rft_tensor *dlogits);
int rft_cpu_topk_correct(const rft_tensor *logits, const rft_tensor *labels, int k, int64_t *correct);
int rft_cpu_argmax_rows(const rft_tensor *logits, rft_tensor *pred);

/* robust-training losses */
int rft_cpu_fma_loss(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss, rft_tensor *grad);
int rft_cpu_stability_loss(const rft_stability_args *a, const rft_tensor *logits, double *loss, rft_tensor *grad);
int rft_cpu_invariance_loss(float weight, const rft_tensor *f, const rft_tensor *groups, const rft_tensor *classes,
                            double *loss, double *value, rft_tensor *grad);

/* optimizers */
int rft_cpu_sgd_step(const rft_sgd_args *a, int first_step, const rft_tensor *grad, rft_tensor *param,
                     rft_tensor *momentum_buf);

/* data path */
int rft_cpu_crop_flip(int pad, int flip, uint64_t seed, const rft_tensor *x, const rft_tensor *ids, rft_tensor *y);

/* augmentations */
int rft_cpu_aug_brightness(const rft_tensor *delta, const rft_tensor *x, rft_tensor *y);
int rft_cpu_aug_contrast(const rft_tensor *gamma, const rft_tensor *x, rft_tensor *y);
int rft_cpu_aug_saturation(const rft_tensor *alpha, const rft_tensor *x, rft_tensor *y);
int rft_cpu_aug_gaussian_blur(int border, const rft_tensor *size, const rft_tensor *sigma, const rft_tensor *x,
                              rft_tensor *y);
int rft_cpu_aug_gaussian_noise(uint64_t seed, uint32_t stream, const rft_tensor *ids, const rft_tensor *mean,
                               const rft_tensor *sigma, const rft_tensor *x, rft_tensor *y);
int rft_cpu_aug_salt_pepper(int per_pixel, uint64_t seed, uint32_t stream, const rft_tensor *ids,
                            const rft_tensor *p, const rft_tensor *q, const rft_tensor *rho, const rft_tensor *x,
                            rft_tensor *y);
int rft_cpu_aug_affine(int border, const rft_tensor *theta, const rft_tensor *x, rft_tensor *y);
int rft_cpu_aug_hflip(const rft_tensor *flip, const rft_tensor *x, rft_tensor *y);
int rft_cpu_aug_crop(int border, const rft_tensor *dx, const rft_tensor *dy, const rft_tensor *x, rft_tensor *y);
int rft_cpu_aug_draw(int kind, int nvalues, const float *values, uint64_t seed, uint32_t stream,
                     const rft_tensor *ids, rft_tensor *out);

#endif
