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
#define RFT_CPU_ENTRY(name, params) .name = rft_cpu_##name,
    RFT_BACKEND_OPS(RFT_CPU_ENTRY)
#undef RFT_CPU_ENTRY
};

static const rft_backend *cuda_backend;
static char cuda_error[PATH_MAX + 1024];        /* why CUDA is unusable, once it has been tried */

static void cuda_library_path(char *path, size_t n)
{
    const char *env = getenv("RFT_CUDA_LIB");
    if (env && *env) { snprintf(path, n, "%s", env); return; }
    Dl_info info;
    if (dladdr((void *)rft_backend_get, &info) && info.dli_fname) {
        /* librft's folder as an absolute path, however librft was reached ("lua/../build/librft.so"
           from ffi.load, "$ORIGIN" from rftlua): messages then name one file whoever loaded it */
        char dir[PATH_MAX];
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash) {
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - info.dli_fname), info.dli_fname);
            char real[PATH_MAX];
            snprintf(path, n, "%s/librft_cuda.so", realpath(dir, real) ? real : dir);
            return;
        }
    }
    snprintf(path, n, "librft_cuda.so");
}

static int load_cuda(void)
{
    if (cuda_backend) return RFT_OK;
    if (cuda_error[0]) return rft_fail(RFT_EDEVICE, "%s", cuda_error);
    char path[PATH_MAX + 32];
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

int rft_backend_unavailable(const char *op, const rft_backend *b)
{
    return rft_fail(RFT_EDEVICE, "%s: not available on %s", op, b->name);
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
