/* backend.c: device dispatch. The CPU table is linked in; the CUDA table lives in librft_cuda.so,
 * looked for beside librft itself (or at $RFT_CUDA_LIB) and loaded on first use. Asking for a
 * device that cannot be had is an error that says why; nothing ever falls back to the CPU. */
#define _GNU_SOURCE
#include "backend.h"
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rft_backend cpu_backend = {
    .abi = RFT_ABI_VERSION,
    .size = sizeof(rft_backend),
    .name = "cpu",
    .alloc = rft_cpu_alloc,
    .free = rft_cpu_free,
    .copy = rft_cpu_copy,
    .fill = rft_cpu_fill,
    .u8_to_f32 = rft_cpu_u8_to_f32,
    .stats = rft_cpu_stats,
    .axpy = rft_cpu_axpy,
    .scale = rft_cpu_scale,
    .gather = rft_cpu_gather,
    .rand_uniform = rft_cpu_rand_uniform,
    .rand_normal = rft_cpu_rand_normal,
    .rand_bernoulli = rft_cpu_rand_bernoulli,
    /* nn: convolution and linear layers */
    .conv2d_forward = rft_cpu_conv2d_forward,
    .conv2d_backward_input = rft_cpu_conv2d_backward_input,
    .conv2d_backward_params = rft_cpu_conv2d_backward_params,
    .linear_forward = rft_cpu_linear_forward,
    .linear_backward_input = rft_cpu_linear_backward_input,
    .linear_backward_params = rft_cpu_linear_backward_params,

    /* nn: element-wise, pooling, normalisation, dropout */
    .relu_forward = rft_cpu_relu_forward,
    .relu_backward = rft_cpu_relu_backward,
    .relu_backward_add = rft_cpu_relu_backward_add,
    .maxpool2d_forward = rft_cpu_maxpool2d_forward,
    .maxpool2d_backward = rft_cpu_maxpool2d_backward,
    .global_avgpool_forward = rft_cpu_global_avgpool_forward,
    .global_avgpool_backward = rft_cpu_global_avgpool_backward,
    .dropout_forward = rft_cpu_dropout_forward,
    .dropout_backward = rft_cpu_dropout_backward,
    .batchnorm2d_forward_train = rft_cpu_batchnorm2d_forward_train,
    .batchnorm2d_forward_eval = rft_cpu_batchnorm2d_forward_eval,
    .batchnorm2d_backward = rft_cpu_batchnorm2d_backward,
    .batchnorm2d_backward_eval = rft_cpu_batchnorm2d_backward_eval,
    .batchnorm2d_relu_backward = rft_cpu_batchnorm2d_relu_backward,
    .batchnorm2d_relu_backward_eval = rft_cpu_batchnorm2d_relu_backward_eval,

    /* losses and metrics */
    .cross_entropy = rft_cpu_cross_entropy,
    .topk_correct = rft_cpu_topk_correct,
    .argmax_rows = rft_cpu_argmax_rows,

    /* robust-training losses */
    .fma_loss = rft_cpu_fma_loss,
    .stability_loss = rft_cpu_stability_loss,
    .invariance_loss = rft_cpu_invariance_loss,
    /* optimizers */
    .sgd_step = rft_cpu_sgd_step,

    /* data path */
    .crop_flip = rft_cpu_crop_flip,

    /* augmentations */
    .aug_brightness = rft_cpu_aug_brightness,
    .aug_contrast = rft_cpu_aug_contrast,
    .aug_saturation = rft_cpu_aug_saturation,
    .aug_gaussian_blur = rft_cpu_aug_gaussian_blur,
    .aug_gaussian_noise = rft_cpu_aug_gaussian_noise,
    .aug_salt_pepper = rft_cpu_aug_salt_pepper,
    .aug_affine = rft_cpu_aug_affine,
    .aug_hflip = rft_cpu_aug_hflip,
    .aug_crop = rft_cpu_aug_crop,
    .aug_draw = rft_cpu_aug_draw,
};

static const rft_backend *cuda_backend;
static char cuda_error[768];          /* why CUDA is unusable, once it has been tried */

static void cuda_library_path(char *path, size_t n)
{
    const char *env = getenv("RFT_CUDA_LIB");
    if (env && *env) { snprintf(path, n, "%s", env); return; }
    Dl_info info;
    if (dladdr((void *)rft_backend_get, &info) && info.dli_fname) {
        /* the absolute path, however librft was loaded (a relative path from LuaJIT's ffi.load, or
           the run path), so that the reason CUDA is missing reads the same from every host program */
        char full[PATH_MAX];
        const char *name = realpath(info.dli_fname, full) ? full : info.dli_fname;
        const char *slash = strrchr(name, '/');
        if (slash) { snprintf(path, n, "%.*s/librft_cuda.so", (int)(slash - name), name); return; }
    }
    snprintf(path, n, "librft_cuda.so");
}

static int load_cuda(void)
{
    if (cuda_backend) return RFT_OK;
    if (cuda_error[0]) return rft_fail(RFT_EDEVICE, "%s", cuda_error);
    char path[512];
    cuda_library_path(path, sizeof path);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(cuda_error, sizeof cuda_error,
                 "cuda: the CUDA backend cannot be loaded (%s); build rft where nvcc is found, or use "
                 "device 'cpu'", dlerror());
        return rft_fail(RFT_EDEVICE, "%s", cuda_error);
    }
    rft_cuda_backend_fn get = (rft_cuda_backend_fn)dlsym(h, "rft_cuda_backend");
    rft_fail(RFT_OK, "%s", "");
    const rft_backend *b = get ? get() : NULL;
    if (!b && get && rft_last_error()[0]) {
        /* the backend's own sentence ("cuda: no CUDA device found (...)"), as it is */
        snprintf(cuda_error, sizeof cuda_error, "%s", rft_last_error());
    } else if (!b) {
        snprintf(cuda_error, sizeof cuda_error, "cuda: %s: %s", path,
                 get ? "rft_cuda_backend gave no table and no reason" : "no symbol rft_cuda_backend");
    } else if (b->abi != RFT_ABI_VERSION || b->size != sizeof(rft_backend)) {
        snprintf(cuda_error, sizeof cuda_error, "cuda: %s was built for another librft (ABI %d, table of %zu "
                 "bytes; librft has ABI %d, %zu bytes): rebuild both", path, b->abi, b->size, RFT_ABI_VERSION,
                 sizeof(rft_backend));
    } else {
        cuda_backend = b;
        return RFT_OK;
    }
    /* h stays loaded: its setup code has run, and unloading the CUDA libraries after that is unsafe */
    return rft_fail(RFT_EDEVICE, "%s", cuda_error);
}

/* RFT_CPU2: the CPU table under the name "cpu2" (made at first use; tensors exist on a device only
   after rft_backend_get has given its table, so rft_backend_of finds it made) */
static rft_backend cpu2_backend;

int rft_backend_get(int device, const rft_backend **out)
{
    switch (device) {
    case RFT_CPU: *out = &cpu_backend; return RFT_OK;
    case RFT_CUDA: RFT_TRY(load_cuda()); *out = cuda_backend; return RFT_OK;
    case RFT_CPU2:
        if (!cpu2_backend.name) { cpu2_backend = cpu_backend; cpu2_backend.name = "cpu2"; }
        *out = &cpu2_backend;
        return RFT_OK;
    default: return rft_fail(RFT_EARG, "device: unknown device %d (expected cpu, cuda or cpu2)", device);
    }
}

const rft_backend *rft_backend_of(const rft_tensor *t)
{
    return t->device == RFT_CUDA ? cuda_backend : t->device == RFT_CPU2 ? &cpu2_backend : &cpu_backend;
}

int rft_device_check(int device)
{
    const rft_backend *b;
    return rft_backend_get(device, &b);
}

int rft_device_synchronize(int device)
{
    const rft_backend *b;
    RFT_TRY(rft_backend_get(device, &b));
    return b->synchronize ? b->synchronize() : RFT_OK;
}
