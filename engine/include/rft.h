/* rft.h: the one public interface of librft, the rft engine.
 *
 * Read by two parsers: the C compiler and LuaJIT's ffi.cdef (lua/rft/ffi.lua drops the lines that
 * start with '#' and feeds the rest to ffi.cdef). Hence: preprocessor lines stand alone, no macros
 * inside declarations, integer constants are enums, structs go by pointer.
 *
 * Conventions: every fallible call returns an int status (RFT_OK = 0); rft_last_error() then holds a
 * sentence naming the argument, shape or file at fault. Functions that create tensors return a new
 * reference in *out, their first argument; the caller releases it. Shapes are int64_t, outermost first (N,C,H,W). Arguments
 * go config, read-only tensors, then written tensors. "[out]" marks a tensor the call writes (and
 * resizes when it owns its memory), "[optional]" one that may be NULL.
 *
 * Not here: anything about a particular backend (engine/backend.h is internal), or any vendor type.
 */
#ifndef RFT_H
#define RFT_H
#include <stdint.h>
#include <stddef.h>

typedef struct rft_tensor rft_tensor;                 /* opaque, reference counted */

enum { RFT_ABI_VERSION = 1 };
enum { RFT_OK = 0, RFT_EARG = 1, RFT_ESHAPE = 2, RFT_EDTYPE = 3, RFT_EDEVICE = 4, RFT_ENOMEM = 5,
       RFT_EIO = 6, RFT_EFORMAT = 7, RFT_ECUDA = 8 };
enum { RFT_F32 = 0, RFT_U8 = 1, RFT_I32 = 2 };        /* dtypes */
/* devices; RFT_CPU2 ("cpu2") is the CPU's memory and kernels under a second tag, a stand-in for a
   second device where no GPU is: mixing it with "cpu" fails as mixing "cpu" and "cuda" does, and its
   data is not readable as host memory (copy it to "cpu"), so specs reproduce device mix-ups on a CPU */
enum { RFT_CPU = 0, RFT_CUDA = 1, RFT_CPU2 = 2 };
enum { RFT_MAX_DIMS = 4 };

/* ---- library ---------------------------------------------------------------------------- */
const char *rft_version(void);                        /* "major.minor.patch" */
int  rft_abi_version(void);                           /* RFT_ABI_VERSION of the built library */
const char *rft_last_error(void);                     /* this thread's last failure message */
const char *rft_dtype_name(int dtype);                /* "f32", "u8", "i32", or "?" */
const char *rft_device_name(int device);              /* "cpu", "cuda", "cpu2", or "?" */
int  rft_device_check(int device);                    /* RFT_OK if usable; else why not */
int  rft_device_synchronize(int device);              /* waits for the device's queued work (timing) */
void rft_set_num_threads(int n);                      /* CPU threads for bulk work; n <= 0: all */
int  rft_num_threads(void);

/* ---- tensors ---------------------------------------------------------------------------- */
/* Every tensor is dense and row-major; a view shares its parent's memory. New tensors are zeroed. */
int  rft_tensor_new(rft_tensor **out, int dtype, int device, int ndim, const int64_t *shape);
void rft_tensor_retain(rft_tensor *t);
void rft_tensor_release(rft_tensor *t);               /* NULL is fine */
int64_t rft_memory_in_use(int device);             /* bytes held by live tensors on a device */
int  rft_tensor_dtype(const rft_tensor *t);
int  rft_tensor_device(const rft_tensor *t);
int  rft_tensor_ndim(const rft_tensor *t);
int64_t rft_tensor_dim(const rft_tensor *t, int i);  /* size of dimension i; 0 when out of range */
int64_t rft_tensor_numel(const rft_tensor *t);
int  rft_tensor_is_view(const rft_tensor *t);         /* 1 when it does not own its whole memory */
void *rft_tensor_data(rft_tensor *t);                 /* host address of element 0; NULL off the CPU */
/* Give t a new shape of the same dtype; reallocates only when it owns its memory and it is too
   small. A view can only take a shape of the same element count. Contents are unspecified. */
int  rft_tensor_resize(rft_tensor *t, int ndim, const int64_t *shape);
/* A new tensor sharing t's memory with another shape of the same element count. */
int  rft_tensor_reshape(rft_tensor **out, const rft_tensor *t, int ndim, const int64_t *shape);
/* Rows [i, j) along the first dimension, sharing t's memory. */
int  rft_tensor_view(rft_tensor **out, const rft_tensor *t, int64_t i, int64_t j);
int  rft_tensor_clone(rft_tensor **out, const rft_tensor *t, int device);   /* deep copy */
int  rft_tensor_fill(rft_tensor *t /* [out] */, double value);
/* dst and src: same dtype and element count, any devices. */
int  rft_tensor_copy(rft_tensor *dst /* [out] */, const rft_tensor *src);
int  rft_tensor_copy_from_host(rft_tensor *t /* [out] */, const void *src, int64_t nbytes);
int  rft_tensor_copy_to_host(const rft_tensor *t, void *dst, int64_t nbytes);
/* Concatenate n tensors along the first dimension into out (resized). */
int  rft_tensor_cat(int n, const rft_tensor *const *parts, rft_tensor *out /* [out] */);
/* y = x * scale, u8 to f32 (scale 1/255 maps images to [0,1]). */
int  rft_tensor_u8_to_f32(const rft_tensor *x, float scale, rft_tensor *y /* [out] */);
/* out[0] = min, out[1] = max, out[2] = mean over all elements (double accumulation). A NaN among
   the elements makes all three the one quiet NaN (never a NaN with a payload: see below). */
int  rft_tensor_stats(const rft_tensor *t, double *out);
/* Every NaN among p[0..n-1] (host memory) becomes the one quiet NaN. LuaJIT keeps its values
   NaN-tagged: a float or double NaN with a payload read into a Lua number can be taken for a
   reference of another type (a crash, or worse), so every float that reaches Lua is made canonical
   first. Returns the number of NaNs found. */
int64_t rft_host_f32_canonicalize(float *p, int64_t n);
/* *index = the first element of t (CPU, f32; other dtypes are always finite: -1) that is NaN or
   +-Inf, or -1 when every element is finite. */
int  rft_tensor_find_nonfinite(const rft_tensor *t, int64_t *index /* [out] */);
/* y += alpha * x over all elements (f32, same element count, any shapes). */
int  rft_tensor_axpy(float alpha, const rft_tensor *x, rft_tensor *y /* [out] */);
/* y *= alpha (f32). */
int  rft_tensor_scale(rft_tensor *y /* [out] */, float alpha);
/* out[i] = src[idx[i]], whole rows along the first dimension: src any dtype [R,...], idx i32 [B] with
   0 <= idx[i] < R (else an error naming i), out the dtype of src, resized to [B,...]. */
int  rft_tensor_gather(const rft_tensor *src, const rft_tensor *idx, rft_tensor *out /* [out] */);

/* ---- random numbers ---------------------------------------------------------------------- */
/* Philox-4x32-10 keyed by seed. Element i of t takes the value of counter position offset + i
   in stream `stream`: it depends only on (seed, stream, offset + i), never on threads or on how
   the work is split. */
int  rft_rand_uniform(rft_tensor *t /* [out] f32 */, uint64_t seed, uint64_t stream, uint64_t offset,
                      float lo, float hi);
int  rft_rand_normal(rft_tensor *t /* [out] f32 */, uint64_t seed, uint64_t stream, uint64_t offset,
                     float mean, float std);
int  rft_rand_bernoulli(rft_tensor *t /* [out] f32 or u8 or i32: 0/1 */, uint64_t seed, uint64_t stream,
                        uint64_t offset, float p);
/* The raw generator: out = Philox-4x32-10(counter[4], key[2]), for checking against known answers.
   rft_rand_* use counter = (position lo, position hi, stream lo, stream hi), key = (seed lo, seed hi). */
void rft_philox4x32_10(const uint32_t *counter, const uint32_t *key, uint32_t *out /* [4] */);
/* A uniformly random permutation of 0..n-1 (Fisher-Yates on Philox draws). */
int  rft_rand_permutation(rft_tensor *t /* [out] i32 [n] */, uint64_t seed, uint64_t stream);

/* ---- data and images --------------------------------------------------------------------- */
/* One CIFAR-10 binary batch file (records of 1 label byte + 3072 bytes CHW): images u8 [N,3,32,32],
   labels i32 [N]. Checks the file's size and every label. */
int  rft_cifar10_read(rft_tensor **images /* [out] new */, rft_tensor **labels /* [out] new */,
                      const char *path);
/* PNG files hold u8 images [C,H,W], C = 1 (grey), 3 (RGB) or 4 (RGBA). Writing is atomic. */
int  rft_png_write(const char *path, const rft_tensor *img);
int  rft_png_read(rft_tensor **img /* [out] new */, const char *path);
/* Tile a batch [N,C,H,W] (f32 in [0,1], clipped, or u8; C = 1 or 3) into one u8 image [C,H',W']:
   `cols` images a row, `margin` pixels of grey level `background` (0..255) between and around them,
   every pixel repeated scale x scale times. */
int  rft_image_grid(rft_tensor **out /* [out] new */, const rft_tensor *batch, int cols, int margin,
                    int scale, int background);

/* ---- held-out corruptions (CIFAR-10-C) ---------------------------------------------------------- */
/* The corruptions of Hendrycks & Dietterich's CIFAR-10-C generator (engine/corrupt/, DESIGN.md §5),
   CPU only: corruption k (0 .. RFT_CORRUPT_COUNT-1, in the order of rft_corrupt_name) at severity
   1..5 of x: f32 [N,3,32,32] holding CIFAR pixels v/255 (rounded to the nearest such value) into
   y (resized; y may be x). Each works on 0-255 values as the generator does and ends with its
   uint8 truncation of the clipped values, so y is on the same 1/255 grid. The draws come from
   Philox keyed by (seed, stream = id << 32 | k << 8 | severity), id = ids[i] (i32 [N]; NULL:
   0..N-1), so an image's result depends only on (seed, its id, k, severity). */
enum { RFT_CORRUPT_COUNT = 19 };
const char *rft_corrupt_name(int k);                  /* NULL when k is out of range */
int  rft_corrupt_apply(int corruption, int severity, uint64_t seed, const rft_tensor *ids /* [optional] */,
                       const rft_tensor *x, rft_tensor *y /* [out] */);
/* Reads the frost photographs frost1.png .. frost5.jpg of dir once (libpng, libjpeg) and keeps them,
   scaled by 0.2 as the generator does, for the corruption "frost"; until then frost is an error. */
int  rft_corrupt_frost_load(const char *dir);
int  rft_corrupt_frost_loaded(void);                  /* 1 after a successful rft_corrupt_frost_load */

/* ---- nn: convolution and linear layers ------------------------------------------------------ */
/* 2-D convolution (cross-correlation, as PyTorch's conv2d), f32, NCHW. Output size per spatial
   dimension: (in + 2*pad - k) / stride + 1. backward_params adds scale * the gradient; zeroing is the
   caller's, a separate call. */
typedef struct { int kh, kw, stride_h, stride_w, pad_h, pad_w; } rft_conv2d_args;
/* x: (N,Cin,H,W), w: (Cout,Cin,kh,kw), b: (Cout) [optional], y: (N,Cout,Ho,Wo) [out, resized] */
int  rft_conv2d_forward(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                        const rft_tensor *b, rft_tensor *y);
/* dy: (N,Cout,Ho,Wo); dx (shape of x) [out, resized] = dL/dx */
int  rft_conv2d_backward_input(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *w,
                               const rft_tensor *dy, rft_tensor *dx);
/* dw: (Cout,Cin,kh,kw) [accumulates] += scale * dL/dw, db: (Cout) [optional, accumulates] += scale * dL/db
   (dy summed over N,Ho,Wo) */
int  rft_conv2d_backward_params(const rft_conv2d_args *a, const rft_tensor *x, const rft_tensor *dy,
                                float scale, rft_tensor *dw, rft_tensor *db);
/* Fully connected layer y = x w^T + b. x: (N,in), w: (out,in) (PyTorch layout), b: (out) [optional],
   y: (N,out) [out, resized] */
int  rft_linear_forward(const rft_tensor *x, const rft_tensor *w, const rft_tensor *b, rft_tensor *y);
/* dy: (N,out); dx: (N,in) [out, resized] = dy w */
int  rft_linear_backward_input(const rft_tensor *x, const rft_tensor *w, const rft_tensor *dy,
                               rft_tensor *dx);
/* dw: (out,in) [accumulates] += scale * dy^T x, db: (out) [optional, accumulates] += scale * sum over N of dy */
int  rft_linear_backward_params(const rft_tensor *x, const rft_tensor *dy, float scale, rft_tensor *dw,
                                rft_tensor *db);

/* ---- nn: element-wise, pooling, normalisation, dropout --------------------------------------- */
/* Every layer input and output here is f32; x is (N,C,H,W) unless said otherwise. */
/* y = max(x, 0); y may be x (in place). */
int  rft_relu_forward(const rft_tensor *x, rft_tensor *y /* [out] */);
/* The same for a two-view batch x = [x ; x~] (2B rows; CPU only), also writing FMA's sums of each pair
   of y's rows (rft_fma_loss_sums): sums [out] holds 2B doubles, {sum of y_i, sum of (y_i - y_(B+i))^2}
   for i < B, made as each pair is written. */
int  rft_relu_forward_pairs(const rft_tensor *x, rft_tensor *y /* [out] */, double *sums /* [out] */);
/* dx = dy where y > 0, else 0, from the forward's output y; dx may be dy (in place). */
int  rft_relu_backward(const rft_tensor *y, const rft_tensor *dy, rft_tensor *dx /* [out] */);
/* dx = dy + extra where y > 0, else 0: the backward of a tapped ReLU whose tap gradient `extra` joins
   the gradient arriving at its output, in one pass ((dy + extra) rounds as the separate sum would);
   extra like y; dx may be dy (in place), not extra. */
int  rft_relu_backward_add(const rft_tensor *y, const rft_tensor *dy, const rft_tensor *extra,
                           rft_tensor *dx /* [out] */);
/* The same with the tap gradient in factored form (coef, means, index: rft_invariance_loss_factored
   over the map y): dx = dy + extra where y > 0, else 0, extra formed from y as rft_factored_grad
   writes it (the same numbers), never written out. dx may be dy. */
int  rft_relu_backward_add_factored(const rft_tensor *y, const rft_tensor *dy, const rft_tensor *coef,
                                    const rft_tensor *means, const rft_tensor *index, rft_tensor *dx /* [out] */);

typedef struct { int kh, kw, stride_h, stride_w, pad_h, pad_w; } rft_pool2d_args;
/* y: (N,C,OH,OW), OH = (H + 2 pad_h - kh) / stride_h + 1 (floor), likewise OW; pad <= kernel/2.
   argmax: i32, y's shape, the index h*W + w in x's plane of each maximum (PyTorch's indices).
   Padding is never selected; on ties the first maximum in row-major order wins; NaN propagates. */
int  rft_maxpool2d_forward(const rft_pool2d_args *a, const rft_tensor *x, rft_tensor *y /* [out] */,
                           rft_tensor *argmax /* [out] i32 */);
/* dx (x's shape): every dy routed to its argmax; the other positions 0. */
int  rft_maxpool2d_backward(const rft_pool2d_args *a, const rft_tensor *x, const rft_tensor *argmax,
                            const rft_tensor *dy, rft_tensor *dx /* [out] */);
/* y (N,C) = the mean of each (H,W) plane. */
int  rft_global_avgpool_forward(const rft_tensor *x, rft_tensor *y /* [out] */);
/* dx (x's shape) = dy / (H*W) broadcast over each plane. */
int  rft_global_avgpool_backward(const rft_tensor *x, const rft_tensor *dy, rft_tensor *dx /* [out] */);

/* Inverted dropout, any shape: mask[k] = Bernoulli(1 - p) from Philox (seed, stream) at position
   offset + k (the same draws as rft_rand_bernoulli(mask, seed, stream, offset, 1 - p)),
   y = x * mask / (1 - p); p = 1 drops everything (y = 0). y may be x. */
int  rft_dropout_forward(float p, uint64_t seed, uint64_t stream, uint64_t offset, const rft_tensor *x,
                         rft_tensor *y /* [out] */, rft_tensor *mask /* [out] u8 */);
/* dx = dy * mask / (1 - p); dx may be dy. */
int  rft_dropout_backward(float p, const rft_tensor *mask, const rft_tensor *dy, rft_tensor *dx /* [out] */);

/* Batch normalisation over (N,H,W) per channel, PyTorch's semantics: y = (x - mean) * invstd * weight
   + bias, invstd = 1/sqrt(var + eps) with the biased batch variance; the running statistics become
   (1 - momentum) * old + momentum * batch value, the variance the unbiased one (PyTorch: eps 1e-5,
   momentum 0.1). weight and bias (C) are optional: without them, 1 and 0. */
typedef struct {
    float eps, momentum;
    int relu;          /* 1: the ReLU that follows is fused into the forward, y = max(BN(x), 0) */
} rft_batchnorm_args;
int  rft_batchnorm2d_forward_train(const rft_batchnorm_args *a, const rft_tensor *x,
                                   const rft_tensor *weight /* [optional] */, const rft_tensor *bias /* [optional] */,
                                   rft_tensor *running_mean /* [out] updated, (C) */,
                                   rft_tensor *running_var /* [out] updated, (C) */, rft_tensor *y /* [out] */,
                                   rft_tensor *save_mean /* [out] (C) */, rft_tensor *save_invstd /* [out] (C) */);
/* With the running statistics instead of the batch's; nothing is updated. */
int  rft_batchnorm2d_forward_eval(const rft_batchnorm_args *a, const rft_tensor *x,
                                  const rft_tensor *weight /* [optional] */, const rft_tensor *bias /* [optional] */,
                                  const rft_tensor *running_mean, const rft_tensor *running_var,
                                  rft_tensor *y /* [out] */);
/* The training-mode gradient (through the batch statistics saved by forward_train):
   dx = dL/dx, dweight += scale * dL/dweight, dbias += scale * dL/dbias. */
int  rft_batchnorm2d_backward(const rft_tensor *x, const rft_tensor *weight /* [optional] */,
                              const rft_tensor *save_mean, const rft_tensor *save_invstd, const rft_tensor *dy,
                              float scale, rft_tensor *dx /* [out] [optional] */,
                              rft_tensor *dweight /* [accumulates] [optional] */,
                              rft_tensor *dbias /* [accumulates] [optional] */);
/* The gradient with frozen running statistics (fine-tuning with batch norm in eval mode). */
int  rft_batchnorm2d_backward_eval(const rft_tensor *x, const rft_tensor *weight /* [optional] */,
                                   const rft_tensor *running_mean, const rft_tensor *running_var, float eps,
                                   const rft_tensor *dy, float scale, rft_tensor *dx /* [out] [optional] */,
                                   rft_tensor *dweight /* [accumulates] [optional] */,
                                   rft_tensor *dbias /* [accumulates] [optional] */);
/* The backward of ReLU(BN(x)) fused (forward with a->relu): from the fused output y, the gradient
   at the ReLU's output dy and an optional tap gradient extra joining it there, g = (dy + extra) *
   [y > 0] is formed plane by plane and the batch-norm backward above runs on it, without writing g:
   the same numbers as rft_relu_backward(_add) then rft_batchnorm2d_backward(_eval). dx may be dy. */
int  rft_batchnorm2d_relu_backward(const rft_tensor *x, const rft_tensor *weight /* [optional] */,
                                   const rft_tensor *save_mean, const rft_tensor *save_invstd, const rft_tensor *y,
                                   const rft_tensor *dy, const rft_tensor *extra /* [optional] */, float scale,
                                   rft_tensor *dx /* [out] [optional] */,
                                   rft_tensor *dweight /* [accumulates] [optional] */,
                                   rft_tensor *dbias /* [accumulates] [optional] */);
/* The same (training mode) with the tap gradient in factored form over the map y (coef, means,
   index: rft_invariance_loss_factored), formed from y plane by plane: rft_batchnorm2d_relu_backward's
   numbers with extra = rft_factored_grad(y, ...), without that map. */
int  rft_batchnorm2d_relu_backward_factored(const rft_tensor *x, const rft_tensor *weight /* [optional] */,
                                            const rft_tensor *save_mean, const rft_tensor *save_invstd,
                                            const rft_tensor *y, const rft_tensor *dy, const rft_tensor *coef,
                                            const rft_tensor *means, const rft_tensor *index, float scale,
                                            rft_tensor *dx /* [out] [optional] */,
                                            rft_tensor *dweight /* [accumulates] [optional] */,
                                            rft_tensor *dbias /* [accumulates] [optional] */);
int  rft_batchnorm2d_relu_backward_eval(const rft_tensor *x, const rft_tensor *weight /* [optional] */,
                                        const rft_tensor *running_mean, const rft_tensor *running_var, float eps,
                                        const rft_tensor *y, const rft_tensor *dy,
                                        const rft_tensor *extra /* [optional] */, float scale,
                                        rft_tensor *dx /* [out] [optional] */,
                                        rft_tensor *dweight /* [accumulates] [optional] */,
                                        rft_tensor *dbias /* [accumulates] [optional] */);
/* The same (eval mode) with the tap gradient in factored form over the map y, as
   rft_batchnorm2d_relu_backward_factored takes it: rft_batchnorm2d_relu_backward_eval's numbers with
   extra = rft_factored_grad(y, ...), without that map (the FMA step's frozen batch norms). */
int  rft_batchnorm2d_relu_backward_eval_factored(const rft_tensor *x, const rft_tensor *weight /* [optional] */,
                                                 const rft_tensor *running_mean, const rft_tensor *running_var,
                                                 float eps, const rft_tensor *y, const rft_tensor *dy,
                                                 const rft_tensor *coef, const rft_tensor *means,
                                                 const rft_tensor *index, float scale,
                                                 rft_tensor *dx /* [out] [optional] */,
                                                 rft_tensor *dweight /* [accumulates] [optional] */,
                                                 rft_tensor *dbias /* [accumulates] [optional] */);

/* ---- losses and metrics ----------------------------------------------------------------------- */
/* Softmax cross-entropy, fused log-softmax + negative log-likelihood, over rows [row0, row1) of
   logits f32 (N,K) with labels i32 [row1 - row0] in 0..K-1: *loss = the mean over those rows of
   logsumexp(z) - z[label]. dlogits (N,K) = scale * dloss/dlogits = scale * (softmax(z) - onehot) / n
   on those rows, 0 on the others (AT and ST use a part of a two-view batch). A NaN logit in those
   rows is not an error: *loss is then the quiet NaN (PyTorch's answer too), so that the training
   loop can stop naming the epoch, batch and learning rate; rft_tensor_find_nonfinite (Lua:
   logits:nonfinite()) names the element. The same holds for the losses below. loss NULL: deferred,
   the value is added to the device's totals (rft_metrics_take) and the call does not wait for the
   device. */
int  rft_cross_entropy(const rft_tensor *logits, const rft_tensor *labels, int64_t row0, int64_t row1,
                       float scale, double *loss /* [out] [optional] */, rft_tensor *dlogits /* [out] [optional] */);
/* rft_cross_entropy against smoothed targets q = (1 - smoothing) onehot(label) + smoothing/K
   (PyTorch's label_smoothing), smoothing in [0, 1]: loss = 1/n sum (logsumexp(z) - q.z), dlogits =
   scale (softmax(z) - q) / n. smoothing 0 is rft_cross_entropy to the bit. */
int  rft_cross_entropy_smoothed(const rft_tensor *logits, const rft_tensor *labels, int64_t row0, int64_t row1,
                                float smoothing, float scale, double *loss /* [out] [optional] */,
                                rft_tensor *dlogits /* [out] [optional] */);
/* *correct = the number of rows of logits (N,K) whose label (i32 [N]) is among the k largest: fewer
   than k logits of the row are strictly greater than the label's (ties count as correct). correct NULL:
   deferred, as rft_cross_entropy's loss. */
int  rft_topk_correct(const rft_tensor *logits, const rft_tensor *labels, int k, int64_t *correct /* [out] [optional] */);
/* The totals of the deferred calls on a device since the last take (the sum of the losses and of the
   counts they would have returned), which start again from 0; waits for the device's queued work. On
   CUDA a label that a deferred call refused is reported here, naming the op and the label. */
int  rft_metrics_take(int device, double *loss_sum /* [out] */, int64_t *correct /* [out] */);
/* The predicted class of each row of logits (N,K): pred i32 [N] [out], the first maximum on ties. */
int  rft_argmax_rows(const rft_tensor *logits, rft_tensor *pred /* [out] */);

/* ---- robust-training losses (engine/loss/fma.c, stability.c) ---------------------------------- */
/* Feature-map augmentation, paper eq. 6, for one tapped layer of a two-view batch f = [x ; x~]
   (2B,...), clean rows first: loss += scale * 1/B sum_i 1/kappa ||(f(x_i) - f(x~_i)) / (m_i + eps)||^2,
   kappa = values per image, m_i = mean of f(x_i). The caller's scale carries gamma * w_l / |L|.
   grad (like f) [out] = d loss / d f; m_i is a constant unless exact_normalizer. */
typedef struct { float eps; int exact_normalizer; } rft_fma_args;
int rft_fma_loss(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss /* [accumulates] */,
                 rft_tensor *grad /* [out] */);
/* The same loss with its gradient in factored form over f itself (rft_factored_grad(f, coef, f, index)
   writes rft_fma_loss's grad, the same f32 values): clean row i has coef {c_i, 0, shift_i} and index
   {B + i, i}, distorted row B + i has {c_i, 0, 0} and {i, B + i}, i.e. c_i (f_i - f_partner) + shift_i.
   coef f32 [2B,3] and index i32 [2B,2] are resized here. One read of f instead of a read and a write
   of the gradient map: the tapped layer's backward forms it (rft_relu_backward_add_factored,
   rft_batchnorm2d_relu_backward(_eval)_factored with means = f). */
int rft_fma_loss_factored(const rft_fma_args *a, float scale, const rft_tensor *f, double *loss /* [accumulates] */,
                          rft_tensor *coef /* [out] */, rft_tensor *index /* [out] */);
/* rft_fma_loss_factored's loss, coef and index from the sums rft_relu_forward_pairs made of f (CPU
   only): the same numbers without reading f (whose shape still says B and kappa). */
int rft_fma_loss_sums(const rft_fma_args *a, float scale, const rft_tensor *f, const double *sums,
                      double *loss /* [accumulates] */, rft_tensor *coef /* [out] */, rft_tensor *index /* [out] */);
/* Stability training (Zheng et al. 2016) on logits (2B,K) of [x ; x~]: loss = alpha * 1/B sum_i
   -sum_j P(j|x_i) log P(j|x~_i) (kl: minus P's entropy, i.e. KL(P(x) || P(x~))); grad (2B,K) [out];
   clean_const: no gradient to the clean rows. */
typedef struct { float alpha; int kl; int clean_const; } rft_stability_args;
int rft_stability_loss(const rft_stability_args *a, const rft_tensor *logits, double *loss /* [out] */,
                       rft_tensor *grad /* [out] */);

/* Data-augmentation invariance, second paper eq. 3, for one tapped layer of a batch of K seed
   images x M augmented copies: f (B,...), groups i32 [B] the seed of each row (any values), d(a,b) =
   mean of (a-b)^2 over the layer's D values, pairs i<j:
     L_inv = [mean over seeds with >= 2 copies of mean_{i<j same seed} d] / [mean_{i<j} d over all
             pairs, or over same-class pairs when classes (i32 [B]) is given (the authors' released code)]
   computed in O(B D) from sums of squares about the seed-group, class and batch means (DESIGN.md §4),
   never from a B x B matrix. loss += weight * L_inv; *value = L_inv; grad (like f) [out] =
   weight * dL_inv/df. On a device this waits for the device once (to read L_inv). */
int rft_invariance_loss(float weight, const rft_tensor *f, const rft_tensor *groups,
                        const rft_tensor *classes /* [optional] */, double *loss /* [accumulates] */,
                        double *value /* [out] */, rft_tensor *grad /* [out] */);
/* The same without waiting for the device: out (f32 on f's device, at least 2 slot + 2 values)
   receives out[2 slot] = L_inv and out[2 slot + 1] = 0, or a refusal code when the batch has no seed
   with two copies, or no same-class pair (the CPU refuses at once, a device when read). Call it for
   every tap, each with its slot, then rft_invariance_read once. */
int rft_invariance_loss_async(float weight, const rft_tensor *f, const rft_tensor *groups,
                              const rft_tensor *classes /* [optional] */, rft_tensor *out /* [out] */,
                              int64_t slot, rft_tensor *grad /* [out] */);
/* The same loss with its gradient in factored form instead of a map: every row's gradient is
     grad_i = coef[i][0] (f_i - means[index[i][0]]) - coef[i][1] (f_i - means[index[i][1]])
   (f32 values, each rounded as that expression; rft_factored_grad writes them out), the rows of means
   being the seed-group means and the denominator's (batch or class) means. coef f32 [B,2], index i32
   [B,2] and means f32 [B + (classes ? B : 1), D] are resized here; they hold the gradient of this f
   only while f keeps its values. Spares the pass that writes the gradient map when the tapped layer's
   backward forms it (rft_relu_backward_add_factored, rft_batchnorm2d_relu_backward_factored). Waits
   for a device once, as rft_invariance_loss. */
int rft_invariance_loss_factored(float weight, const rft_tensor *f, const rft_tensor *groups,
                                 const rft_tensor *classes /* [optional] */, double *loss /* [accumulates] */,
                                 double *value /* [out] */, rft_tensor *coef /* [out] */,
                                 rft_tensor *means /* [out] */, rft_tensor *index /* [out] */);
/* The same for n maps f[0..n-1] of one batch (the taps of one forward pass), weights[j] each:
   loss += sum_j weights[j] L_j, values[j] = L_j, coef[j], means[j], index[j] as above. One pass over
   each map and, on the CPU, the same parallel regions for all of them (a region's start and end cost the
   same whatever the map's size); a device is waited for once per map. */
int rft_invariance_loss_factored_taps(int64_t n, const float *weights, const rft_tensor *const *f,
                                      const rft_tensor *groups, const rft_tensor *classes /* [optional] */,
                                      double *loss /* [accumulates] */, double *values /* [out] */,
                                      rft_tensor *const *coef /* [out] */, rft_tensor *const *means /* [out] */,
                                      rft_tensor *const *index /* [out] */);
/* grad (like f) [out] = a factored gradient written out: row i = coef[i][0] (f_i - means[index[i][0]])
   - coef[i][1] (f_i - means[index[i][1]]) (+ coef[i][2] where coef has 3 columns). Index values outside
   means' rows fail on the CPU; on a GPU, which cannot refuse without waiting for the device, that row
   comes out NaN (here and in the backwards that form the gradient from the map). */
int rft_factored_grad(const rft_tensor *f, const rft_tensor *coef, const rft_tensor *means,
                      const rft_tensor *index, rft_tensor *grad /* [out] */);
/* values[s] = L_inv of slot s, s < n, from out (one copy to the host: waits for the device); fails
   with the loss's own sentence if a slot holds a refusal. */
int rft_invariance_read(const rft_tensor *out, int64_t n, double *values /* [out] */);

/* Invariance score, second paper eq. 2, with the N x N denominator in O(N D): features f (N,...) of
   a dataset's images x_j, D values a row, f_bar their mean and S = mean_j |f_j - f_bar|^2, so that
   1/N sum_j d(f_i, f_j) = (|f_i - f_bar|^2 + S) / D.
   rft_invariance_stats folds a batch of rows into stats, f32 [D + 2] on f's device = (f_bar, n, S),
   by Chan's pairwise update (zero, or empty: then made [D + 2] and zeroed, before the first batch).
   rft_invariance_score: out[offset + i stride] = 1 - |f_i - g_i|^2 / (|f_i - f_bar|^2 + S) for row i of
   f and g (G(x_i)'s features, f's shape), 0 where that denominator is 0; out f32 (an empty out with
   offset 0 and stride 1 is made [N]). */
int rft_invariance_stats(const rft_tensor *f, rft_tensor *stats /* [accumulates] */);
int rft_invariance_score(const rft_tensor *f, const rft_tensor *g, const rft_tensor *stats, rft_tensor *out /* [out] */,
                         int64_t offset, int64_t stride);

/* ---- optimizers ------------------------------------------------------------------------------- */
/* torch.optim.SGD with dampening 0: g = grad + weight_decay * param; buf = g on the first step, else
   momentum * buf + g; step = nesterov ? g + momentum * buf : buf (g itself when momentum is 0);
   param -= lr * step. All f32 with one element count; momentum_buf may be NULL when momentum is 0. */
typedef struct { float lr, momentum, weight_decay; int nesterov; } rft_sgd_args;
int  rft_sgd_step(const rft_sgd_args *a, int first_step, const rft_tensor *grad, rft_tensor *param /* [out] */,
                  rft_tensor *momentum_buf /* [out] [optional] */);

/* ---- data path -------------------------------------------------------------------------------- */
/* The standard CIFAR training augmentation fused with the conversion to f32: image i of x (N,C,H,W),
   u8 (scaled by 1/255) or f32 (copied), is zero-padded by `pad` on every side, cropped back to HxW at a
   random place and, when flip = 1, mirrored left-right with probability 1/2. The draws come from
   Philox keyed by (seed, stream = ids[i]), so an image's result depends only on the seed and its
   dataset index ids[i] (i32 [N], >= 0), never on the batch. y: f32 (N,C,H,W). ids may be on the CPU
   for x on the GPU: they are checked at once and sent along, and the call does not wait for the device. */
int  rft_crop_flip(int pad, int flip, uint64_t seed, const rft_tensor *x, const rft_tensor *ids,
                   rft_tensor *y /* [out] */);

/* ---- augmentations ---------------------------------------------------------------------------- */
/* Distortions of a batch x: f32 [N,C,H,W] in [0,1] (engine/aug/, DESIGN.md §4). Each kernel writes
   y (resized to x's shape; y may be x itself) and clips every value to [0,1].
   Parameters are f32 tensors on x's device holding 1 value (every image) or N values (image i takes
   value i). Random kernels draw from Philox keyed by `seed` with the stream (id << 32 | stream),
   id = ids[i] (i32 [N], the images' dataset indices; NULL: 0..N-1), so an image's distortion
   depends only on (seed, stream, its id, the element), never on the batch, threads or device. */
enum { RFT_BORDER_REFLECT101 = 0, RFT_BORDER_REFLECT = 1, RFT_BORDER_REPLICATE = 2,
       RFT_BORDER_CONSTANT = 3, RFT_BORDER_WRAP = 4 };  /* dcb|abcd, cba|abcd, aaa|abcd, 000|abcd, bcd|abcd */
enum { RFT_DRAW_UNIFORM = 0, RFT_DRAW_TRUNCNORMAL = 1, RFT_DRAW_CHOICE = 2, RFT_DRAW_INTEGER = 3,
       RFT_DRAW_BERNOULLI = 4 };
/* y = x + delta (brightness, every channel). */
int  rft_aug_brightness(const rft_tensor *delta, const rft_tensor *x, rft_tensor *y /* [out] */);
/* y = (x - m)·gamma + m, m the mean of each channel of each image. */
int  rft_aug_contrast(const rft_tensor *gamma, const rft_tensor *x, rft_tensor *y /* [out] */);
/* HSL saturation scaled by alpha >= 0, hue and lightness kept (closed form; C = 3, RGB). */
int  rft_aug_saturation(const rft_tensor *alpha, const rft_tensor *x, rft_tensor *y /* [out] */);
/* Each channel convolved with the normalised size x size Gaussian of std sigma (separable); size odd,
   at most 2·min(H,W) - 1; border: RFT_BORDER_* (reflect-101 by default in rft.aug). */
int  rft_aug_gaussian_blur(int border, const rft_tensor *size, const rft_tensor *sigma, const rft_tensor *x,
                           rft_tensor *y /* [out] */);
/* y = x + mean + sigma·n, n standard normal per value. */
int  rft_aug_gaussian_noise(uint64_t seed, uint32_t stream, const rft_tensor *ids /* [optional] */,
                            const rft_tensor *mean, const rft_tensor *sigma, const rft_tensor *x,
                            rft_tensor *y /* [out] */);
/* y = x + rho·m·(2b - 1), m ~ Bernoulli(p), b ~ Bernoulli(q), per value (per_pixel = 0) or one
   (m, b) per pixel shared by its channels (per_pixel = 1). */
int  rft_aug_salt_pepper(int per_pixel, uint64_t seed, uint32_t stream, const rft_tensor *ids /* [optional] */,
                         const rft_tensor *p, const rft_tensor *q, const rft_tensor *rho, const rft_tensor *x,
                         rft_tensor *y /* [out] */);
/* Inverse-mapped affine warp: output pixel (col u, row v) reads input (a u + b v + c, d u + e v + f),
   theta f32 [N,2,3] or [1,2,3] = {{a,b,c},{d,e,f}}, bilinear, border RFT_BORDER_* (replicate in
   DESIGN.md). y must not be x. */
int  rft_aug_affine(int border, const rft_tensor *theta, const rft_tensor *x, rft_tensor *y /* [out] */);
/* Mirror left-right the images whose flip value is not 0. */
int  rft_aug_hflip(const rft_tensor *flip, const rft_tensor *x, rft_tensor *y /* [out] */);
/* Shift by whole pixels: y[c,h,w] = x[c, h+dy, w+dx] (a crop of x padded by max |dx|, |dy|), the
   outside read under border (RFT_BORDER_CONSTANT: zeros). dx, dy integer-valued. y must not be x. */
int  rft_aug_crop(int border, const rft_tensor *dx, const rft_tensor *dy, const rft_tensor *x,
                  rft_tensor *y /* [out] */);
/* One value per image into out (f32 [N], resized), drawn from Philox (seed, id << 32 | stream):
   UNIFORM values {a, b}; TRUNCNORMAL {a, b} (centre (a+b)/2, sigma (b-a)/4, redrawn until inside);
   CHOICE values {v1, ..., vn} (each with probability 1/n); INTEGER {a, b} (a..b inclusive);
   BERNOULLI {p} (1 with probability p, else 0). values is a host array of nvalues floats. */
int  rft_aug_draw(int kind, int nvalues, const float *values, uint64_t seed, uint32_t stream,
                  const rft_tensor *ids /* [optional] */, int64_t n, rft_tensor *out /* [out] */);
/* The stream tag of part k of a pipeline whose stream is `stream` (a 32-bit mix of both). */
uint32_t rft_aug_substream(uint32_t stream, uint32_t k);

/* ---- data-parallel collectives (engine/dist/dist.c; DESIGN.md §6) ----------------------------- */
/* One rank (rank 0 of 1) in a plain process, where every collective leaves its tensor unchanged. In a
   process started by an MPI launcher, the first call loads librft_mpi.so and initialises MPI, and
   ranks other than 0 send their standard output to /dev/null (unless $RFT_DIST_ALL_PRINT is set);
   every rank must then make the same collective calls in the same order. */
enum { RFT_REDUCE_SUM = 0, RFT_REDUCE_MEAN = 1 };
int  rft_dist_init(void);                             /* idempotent; an error says why MPI cannot be had */
int  rft_dist_rank(void);                             /* 0 in a plain process */
int  rft_dist_size(void);                             /* 1 in a plain process */
int  rft_dist_local_rank(void);                       /* rank among the processes of this host */
const char *rft_dist_library(void);                   /* the MPI library's version line; "" without MPI */
/* In place over all ranks: f32 sum or mean, i32 sum. */
int  rft_dist_allreduce(rft_tensor *t /* [out] */, int op);
int  rft_dist_broadcast(rft_tensor *t /* [out] */, int root);   /* root's values to every rank */
int  rft_dist_allreduce_f64(double *values /* [out] */, int64_t n, int op);   /* host numbers (metrics) */
int  rft_dist_barrier(void);
/* The same all-reduce, started now and finished later, so that it runs while the caller computes
   (the gradient buckets of an overlapped training step, rft.dist.gradient_sync). t must stay
   untouched until rft_dist_wait(*request) returns; the op's mean is applied there. *request is 0
   when there is nothing to wait for (one rank). CPU tensors go through MPI's non-blocking
   all-reduce, which advances only inside MPI calls: rft_dist_test drives it (done: 1 when complete).
   CUDA tensors with NCCL go on a communication stream that waits for the work queued before the
   start; rft_dist_wait makes the work queued after it wait for them in turn. Other device tensors
   are reduced through host memory at the start. */
int  rft_dist_iallreduce(rft_tensor *t /* [out] */, int op, int64_t *request /* [out] */);
int  rft_dist_test(int64_t request, int *done /* [out] */);
int  rft_dist_wait(int64_t request);

#endif
