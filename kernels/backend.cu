/* backend.cu: the entry point of librft_cuda, the CUDA backend that librft dlopens on first use
 * (engine/core/backend.c). rft_cuda_backend() finds a usable device, makes the one context (a
 * stream, a cuBLAS and a cuDNN handle on it) and returns the table; when there is no device or no
 * driver it returns NULL after rft_fail() has said which, in one line, and librft reports that line.
 * Also here: the conversion of CUDA, cuBLAS and cuDNN statuses into rft errors.
 *
 * Not here: memory (memory.cu, copy.cu) or any op (tensor.cu, rand.cu, one file per area).
 */
#include "cuda_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RFT_CUDA_ARCHS
#define RFT_CUDA_ARCHS "?"
#endif

rft_cuda_context rft_cuda;

/* ---- errors --------------------------------------------------------------------------------- */

/* "kernels/tensor.cu" from the absolute path nvcc was given. */
static const char *short_file(const char *file)
{
    const char *k = strstr(file, "kernels/");
    return k ? k : file;
}

int rft_cuda_fail(cudaError_t s, const char *stmt, const char *file, int line)
{
    cudaGetLastError();             /* clear it, or the next launch check would report it again */
    return rft_fail(RFT_ECUDA, "cuda: %s (%s:%d: %s)", cudaGetErrorString(s), short_file(file), line, stmt);
}

int rft_cuda_fail(cublasStatus_t s, const char *stmt, const char *file, int line)
{
    return rft_fail(RFT_ECUDA, "cublas: %s (%s:%d: %s)", cublasGetStatusString(s), short_file(file), line,
                    stmt);
}

int rft_cuda_fail(cudnnStatus_t s, const char *stmt, const char *file, int line)
{
    return rft_fail(RFT_ECUDA, "cudnn: %s (%s:%d: %s)", cudnnGetErrorString(s), short_file(file), line, stmt);
}

/* ---- finding a device ---------------------------------------------------------------------- */

/* Why cudaGetDeviceCount found nothing, in words a user can act on. */
static int no_device(cudaError_t e)
{
    const char *why = e == cudaSuccess ? "it reports 0 devices" : cudaGetErrorString(e);
    cudaGetLastError();
    if (e == cudaErrorInsufficientDriver) {
        int driver = 0;
        cudaDriverGetVersion(&driver);
        cudaGetLastError();
        if (driver == 0)
            return rft_fail(RFT_EDEVICE, "cuda: no CUDA device found: no NVIDIA driver is installed "
                            "(cudaGetDeviceCount: %s); use device 'cpu'", why);
        return rft_fail(RFT_EDEVICE, "cuda: the NVIDIA driver supports CUDA %d.%d, this backend was built "
                        "with CUDA %d.%d: update the driver (cudaGetDeviceCount: %s)", driver / 1000,
                        driver % 1000 / 10, CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10, why);
    }
    return rft_fail(RFT_EDEVICE, "cuda: no CUDA device found (cudaGetDeviceCount: %s); use device 'cpu'", why);
}

/* A kernel that does nothing: asking for its attributes tells whether this build's code can run on
 * the device (a GPU older than the built architectures has no image for it). */
__global__ void probe_kernel(void) {}

static int open_device(void)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) return no_device(e);

    /* one GPU per rank under an MPI launcher: the rank's place on its host picks the device */
    int dev = 0;
    static const char *local_rank_vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"};
    for (const char *var : local_rank_vars) {
        const char *v = getenv(var);
        if (v && *v) { dev = atoi(v) % count; break; }
    }
    const char *env = getenv("RFT_CUDA_DEVICE");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 0 || v >= count)
            return rft_fail(RFT_EDEVICE, "cuda: RFT_CUDA_DEVICE=%s is not a device number (this machine has "
                            "%d device%s, 0..%d)", env, count, count == 1 ? "" : "s", count - 1);
        dev = (int)v;
    }
    RFT_CUDA_CHECK(cudaSetDevice(dev));
    cudaDeviceProp prop;
    RFT_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    rft_cuda.device = dev;
    rft_cuda.sm_count = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
    snprintf(rft_cuda.name, sizeof rft_cuda.name, "%s", prop.name);

    cudaFuncAttributes attr;
    e = cudaFuncGetAttributes(&attr, probe_kernel);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return rft_fail(RFT_EDEVICE, "cuda: device %d (%s, compute capability %d.%d) cannot run this build's "
                        "kernels, built for architectures %s (%s): rebuild with "
                        "-DCMAKE_CUDA_ARCHITECTURES=%d%d", dev, prop.name, prop.major, prop.minor,
                        RFT_CUDA_ARCHS, cudaGetErrorString(e), prop.major, prop.minor);
    }
    return RFT_OK;
}

/* ---- the context --------------------------------------------------------------------------- */

static void close_context(void)
{
    if (rft_cuda.cudnn) cudnnDestroy(rft_cuda.cudnn);
    if (rft_cuda.cublas) cublasDestroy(rft_cuda.cublas);
    if (rft_cuda.stream) cudaStreamDestroy(rft_cuda.stream);
    cudaGetLastError();
    memset(&rft_cuda, 0, sizeof rft_cuda);
}

static int make_context(void)
{
    RFT_CUDA_CHECK(cudaStreamCreateWithFlags(&rft_cuda.stream, cudaStreamNonBlocking));

    /* TF32 changes float32 GEMMs by ~1e-3 relative, so it is off unless asked for: results then
       match the CPU's closely. NVIDIA_TF32_OVERRIDE=0 still wins over RFT_TF32=1. */
    const char *tf32 = getenv("RFT_TF32");
    rft_cuda.tf32 = tf32 && strcmp(tf32, "1") == 0;
    RFT_CUDA_CHECK(cublasCreate(&rft_cuda.cublas));
    RFT_CUDA_CHECK(cublasSetStream(rft_cuda.cublas, rft_cuda.stream));
    RFT_CUDA_CHECK(cublasSetMathMode(rft_cuda.cublas, rft_cuda.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                    : CUBLAS_DEFAULT_MATH));

    size_t cudnn_version = cudnnGetVersion();
    if (cudnn_version / 10000 != CUDNN_VERSION / 10000)
        return rft_fail(RFT_EDEVICE, "cuda: the cuDNN library found at run time is version %zu, this backend "
                        "was built with %d: install cuDNN %d", cudnn_version, CUDNN_VERSION,
                        CUDNN_VERSION / 10000);
    RFT_CUDA_CHECK(cudnnCreate(&rft_cuda.cudnn));
    RFT_CUDA_CHECK(cudnnSetStream(rft_cuda.cudnn, rft_cuda.stream));
    return RFT_OK;
}

static int synchronize(void)
{
    RFT_CUDA_CHECK(cudaStreamSynchronize(rft_cuda.stream));
    return RFT_OK;
}

static rft_backend table;

static void fill_table(void)
{
    table.abi = RFT_ABI_VERSION;
    table.size = sizeof(rft_backend);
    table.name = "cuda";
    table.alloc = rft_cuda_alloc;
    table.free = rft_cuda_free;
    table.synchronize = synchronize;
    table.copy = rft_cuda_copy;
#ifdef RFT_NCCL
    table.comm_id = rft_cuda_comm_id;
    table.comm_init = rft_cuda_comm_init;
    table.allreduce_sum = rft_cuda_allreduce_sum;
    table.broadcast = rft_cuda_broadcast;
    table.allreduce_start = rft_cuda_allreduce_start;
    table.allreduce_done = rft_cuda_allreduce_done;
    table.allreduce_join = rft_cuda_allreduce_join;
#endif
#define RFT_CUDA_ENTRY(name, params) table.name = rft_cuda_##name;
    RFT_BACKEND_OPS(RFT_CUDA_ENTRY)
#undef RFT_CUDA_ENTRY
}

/* The one exported symbol. librft calls it once; NULL means rft_last_error() says why. */
extern "C" __attribute__((visibility("default"))) const rft_backend *rft_cuda_backend(void)
{
    if (table.abi) return &table;
    if (open_device() != RFT_OK) return NULL;
    if (make_context() != RFT_OK) {
        char why[1024];
        int dev = rft_cuda.device;
        snprintf(why, sizeof why, "%s", rft_last_error());
        close_context();
        rft_fail(RFT_EDEVICE, "cuda: device %d cannot be set up: %s", dev, why);
        return NULL;
    }
    fill_table();
    return &table;
}
