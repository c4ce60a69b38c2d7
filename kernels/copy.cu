/* copy.cu: the backend's copy entry: host to device, device to host and device to device, all on
 * the context's stream.
 *
 * Host memory reaches the device through a pinned staging buffer in two halves of STAGE_CHUNK
 * bytes, so that copying one chunk into a half overlaps the DMA of the other. Why every host copy,
 * not only large ones: cudaMemcpyAsync from pageable memory "might be synchronous" (CUDA runtime
 * API, "API synchronization behavior"), so whether the caller may reuse its buffer on return is not
 * guaranteed; through staging it always may, and for small copies the extra memcpy costs nothing.
 * Host to device returns once the source has been read (the DMA may still run: later work on the
 * stream is queued behind it); device to host returns when the data is in the host buffer.
 *
 * Not here: allocation (memory.cu).
 */
#include "cuda_util.h"
#include <string.h>

static const size_t STAGE_CHUNK = (size_t)4 << 20;

/* Bytes of the chunk at off in a copy of n. */
static size_t chunk_len(size_t n, size_t off) { return n - off < STAGE_CHUNK ? n - off : STAGE_CHUNK; }

static char *stage[2];                 /* pinned, STAGE_CHUNK bytes each, made on first use */
static cudaEvent_t stage_free[2];      /* recorded after the DMA that last used the half */
static int next_half;                  /* the half the next host-to-device chunk goes through */

static int stage_init(void)
{
    if (stage[0]) return RFT_OK;
    void *p;
    RFT_CUDA_CHECK(cudaHostAlloc(&p, 2 * STAGE_CHUNK, cudaHostAllocDefault));
    for (int k = 0; k < 2; k++) RFT_CUDA_CHECK(cudaEventCreateWithFlags(&stage_free[k], cudaEventDisableTiming));
    stage[0] = (char *)p;
    stage[1] = stage[0] + STAGE_CHUNK;
    return RFT_OK;
}

/* The halves take turns across calls, not only within one: a batch's images and then its labels
 * (two small copies) go through different halves, so the second does not wait for the first's DMA.
 * A half's event was recorded behind whatever the stream held then, so waiting for it may wait for
 * work queued before the copy that last used the half, never for work queued since. */
static int to_device(char *dst, const char *src, size_t n)
{
    RFT_TRY(stage_init());
    for (size_t off = 0; off < n; off += STAGE_CHUNK) {
        const int k = next_half;
        next_half ^= 1;
        size_t len = chunk_len(n, off);
        RFT_CUDA_CHECK(cudaEventSynchronize(stage_free[k]));       /* its last DMA is done */
        memcpy(stage[k], src + off, len);
        RFT_CUDA_CHECK(cudaMemcpyAsync(dst + off, stage[k], len, cudaMemcpyHostToDevice, rft_cuda.stream));
        RFT_CUDA_CHECK(cudaEventRecord(stage_free[k], rft_cuda.stream));
    }
    return RFT_OK;
}

/* Queues chunk i of a device-to-host copy into half i % 2. */
static int fetch_chunk(const char *src, size_t n, size_t i)
{
    size_t off = i * STAGE_CHUNK, len = chunk_len(n, off);
    int k = (int)(i & 1);
    RFT_CUDA_CHECK(cudaEventSynchronize(stage_free[k]));
    RFT_CUDA_CHECK(cudaMemcpyAsync(stage[k], src + off, len, cudaMemcpyDeviceToHost, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaEventRecord(stage_free[k], rft_cuda.stream));
    return RFT_OK;
}

static int to_host(char *dst, const char *src, size_t n)
{
    RFT_TRY(stage_init());
    size_t chunks = (n + STAGE_CHUNK - 1) / STAGE_CHUNK;
    if (chunks) RFT_TRY(fetch_chunk(src, n, 0));
    for (size_t i = 0; i < chunks; i++) {
        if (i + 1 < chunks) RFT_TRY(fetch_chunk(src, n, i + 1));  /* overlaps the memcpy below */
        int k = (int)(i & 1);
        size_t off = i * STAGE_CHUNK, len = chunk_len(n, off);
        RFT_CUDA_CHECK(cudaEventSynchronize(stage_free[k]));
        memcpy(dst + off, stage[k], len);
    }
    return RFT_OK;
}

static int d2d(char *dst, const char *src, size_t n)
{
    RFT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, rft_cuda.stream));
    return RFT_OK;
}

/* memmove semantics: views of one storage may overlap, and cudaMemcpy's result is undefined then. */
static int on_device(char *dst, const char *src, size_t n)
{
    if (dst == src || n == 0) return RFT_OK;
    if (!(dst < src + n && src < dst + n)) return d2d(dst, src, n);
    void *tmp;
    RFT_TRY(rft_cuda_block(n, &tmp));
    int rc = d2d((char *)tmp, src, n);
    if (rc == RFT_OK) rc = d2d(dst, (const char *)tmp, n);
    rft_cuda_free(tmp);                        /* stream order keeps it alive for the copies */
    return rc;
}

int rft_cuda_copy(void *dst, int dst_device, const void *src, int src_device, size_t nbytes)
{
    if (dst_device == RFT_CUDA && src_device == RFT_CUDA) return on_device((char *)dst, (const char *)src, nbytes);
    if (dst_device == RFT_CUDA && src_device == RFT_CPU) return to_device((char *)dst, (const char *)src, nbytes);
    if (dst_device == RFT_CPU && src_device == RFT_CUDA) return to_host((char *)dst, (const char *)src, nbytes);
    memmove(dst, src, nbytes);                 /* cpu to cpu: librft does not send it here */
    return RFT_OK;
}
