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
    const char *name;
    /* memory */
    void *(*alloc)(size_t nbytes);                                     /* zeroed; NULL if none left */
    void (*free)(void *p);
    int (*copy)(void *dst, int dst_device, const void *src, int src_device, size_t nbytes);
    /* element-wise basics */
    int (*fill)(rft_tensor *t, double value);
    int (*u8_to_f32)(const rft_tensor *x, float scale, rft_tensor *y);
    int (*stats)(const rft_tensor *t, double *out);
    /* random numbers (engine/core/rand.c gives the formulas) */
    int (*rand_uniform)(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi);
    int (*rand_normal)(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std);
    int (*rand_bernoulli)(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float p);
    /* nn: convolution and linear layers (engine/nn/conv2d.c, linear.c) */

    /* nn: element-wise, pooling, normalisation, dropout (engine/nn/) */

    /* losses and metrics (engine/loss/) */

    /* optimizers (engine/optim/) */

    /* data path (engine/data/) */

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
int rft_cpu_rand_uniform(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi);
int rft_cpu_rand_normal(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std);
int rft_cpu_rand_bernoulli(rft_tensor *t, uint64_t seed, uint64_t stream, uint64_t offset, float p);

/* nn: convolution and linear layers */

/* nn: element-wise, pooling, normalisation, dropout */

/* losses and metrics */

/* optimizers */

/* data path */

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
