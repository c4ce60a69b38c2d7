/* memory.cu: device memory for the CUDA backend: a caching allocator (size-bucketed free lists, as
 * in cutorch's THCCachingAllocator and PyTorch's, in small) and the shared, growing workspace.
 *
 * cudaMalloc and cudaFree synchronise the device and cost tens of microseconds, and a training step
 * makes and drops the same tensors every time; so a freed block goes to the free list of its
 * bucket, and the next request of that bucket takes it back without calling CUDA. All work runs on
 * the context's one stream, so a block freed while kernels still use it is safe to reuse: whatever
 * uses it next is queued behind them. When cudaMalloc fails, every cached block is released and
 * the request tried once more. Blocks are zeroed on the stream (cudaMemsetAsync), as the CPU's are.
 *
 * Not here: copies (copy.cu).
 */
#include "cuda_util.h"
#include <mutex>
#include <unordered_map>
#include <vector>

namespace {

struct cache {
    std::mutex lock;
    std::unordered_map<void *, size_t> live;                   /* block -> its bucket size */
    std::unordered_map<size_t, std::vector<void *>> idle;      /* bucket size -> free blocks */
    size_t idle_bytes = 0;
};

/* Made on first use and never destroyed: at exit the driver releases device memory, and a
 * destructor calling cudaFree after cudart's own exit handlers would fail. */
cache *the_cache()
{
    static cache *c = new cache;
    return c;
}

/* Bucket sizes: multiples of 512 bytes up to 4 KiB, then 2^k * {1, 1.25, 1.5, 1.75}: a request
 * wastes at most a quarter of its block, and the number of distinct buckets stays small. */
size_t bucket(size_t n)
{
    if (n <= 4096) return n <= 512 ? 512 : (n + 511) / 512 * 512;
    size_t p = 4096;
    while (p <= n / 2) p *= 2;                                 /* p <= n < 2p */
    size_t q = p / 4;
    return (n + q - 1) / q * q;
}

/* Every idle block back to CUDA (cudaFree synchronises the device). */
void release_idle(cache *c)
{
    for (auto &kv : c->idle)
        for (void *p : kv.second) cudaFree(p);
    c->idle.clear();
    c->idle_bytes = 0;
    cudaGetLastError();
}

}  // namespace

/* A block of at least nbytes, not zeroed; RFT_ENOMEM when the device has no room even after the
 * cache was emptied. */
int rft_cuda_block(size_t nbytes, void **out)
{
    cache *c = the_cache();
    size_t b = bucket(nbytes);
    void *p = NULL;
    std::lock_guard<std::mutex> guard(c->lock);
    auto it = c->idle.find(b);
    if (it != c->idle.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        c->idle_bytes -= b;
    } else if (cudaMalloc(&p, b) != cudaSuccess) {
        cudaGetLastError();
        cudaStreamSynchronize(rft_cuda.stream);   /* queued work may still use the idle blocks */
        cudaGetLastError();
        release_idle(c);
        if (cudaMalloc(&p, b) != cudaSuccess) {
            cudaError_t e = cudaGetLastError();
            size_t free_bytes = 0, total = 0;
            cudaMemGetInfo(&free_bytes, &total);
            cudaGetLastError();
            *out = NULL;
            return rft_fail(RFT_ENOMEM, "cuda: out of device memory allocating %zu bytes (%s; %zu of %zu "
                            "bytes free on device %d)", nbytes, cudaGetErrorString(e), free_bytes, total,
                            rft_cuda.device);
        }
    }
    c->live[p] = b;
    *out = p;
    return RFT_OK;
}

void *rft_cuda_alloc(size_t nbytes)
{
    void *p;
    if (rft_cuda_block(nbytes, &p) != RFT_OK) return NULL;
    if (cudaMemsetAsync(p, 0, nbytes, rft_cuda.stream) != cudaSuccess) {
        cudaGetLastError();
        rft_cuda_free(p);
        return NULL;
    }
    return p;
}

void rft_cuda_free(void *p)
{
    if (!p) return;
    cache *c = the_cache();
    std::lock_guard<std::mutex> guard(c->lock);
    auto it = c->live.find(p);
    if (it == c->live.end()) {                 /* not ours: cannot happen, but never leak it */
        cudaFree(p);
        cudaGetLastError();
        return;
    }
    c->idle[it->second].push_back(p);
    c->idle_bytes += it->second;
    c->live.erase(it);
}

int rft_cuda_workspace(size_t nbytes, void **out)
{
    if (nbytes > rft_cuda.workspace_bytes || !rft_cuda.workspace) {
        void *p;
        RFT_TRY(rft_cuda_block(nbytes ? nbytes : 1, &p));
        rft_cuda_free(rft_cuda.workspace);       /* queued work that still reads it goes first */
        rft_cuda.workspace = p;
        rft_cuda.workspace_bytes = bucket(nbytes ? nbytes : 1);
    }
    *out = rft_cuda.workspace;
    return RFT_OK;
}
