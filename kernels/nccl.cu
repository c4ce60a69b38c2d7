/* nccl.cu: collectives between processes on the GPU (engine/dist/dist.c), through NCCL on the
 * backend's one stream, so they queue behind the backward pass that produced the gradients. MPI
 * carries only NCCL's unique id from rank 0 to the others (dist.c); NCCL moves the tensors. One rank
 * per GPU: NCCL refuses two ranks on one device.
 * The gradient buckets of an overlapped training step (rft.dist.gradient_sync) go on a communication
 * stream of their own instead: each waits (an event) for the compute stream's work queued before its
 * start, so its all-reduce runs beside the backward pass of the layers below it, and the join makes
 * the compute stream's later work (the mean's scaling, the optimizer step) wait for each.
 * Built where the CUDA toolkit ships NCCL (its lib64/ on these machines); without it the table has no
 * collectives and dist.c stages device tensors through host memory and MPI. */
#include "cuda_util.h"
#include <nccl.h>
#include <string.h>

static ncclComm_t comm;
static cudaStream_t comm_stream;     /* the buckets' all-reduces */
static cudaEvent_t ready;            /* the compute stream's work before a bucket's start */

#define RFT_NCCL_CHECK(stmt)                                                                              \
    do {                                                                                                  \
        ncclResult_t rft_nc_ = (stmt);                                                                    \
        if (rft_nc_ != ncclSuccess)                                                                       \
            return rft_fail(RFT_ECUDA, "cuda: %s failed: %s (%s)", #stmt, ncclGetErrorString(rft_nc_),     \
                            ncclGetLastError(comm));                                                      \
    } while (0)

int rft_cuda_comm_id(void *id, size_t nbytes)
{
    if (nbytes < sizeof(ncclUniqueId))
        return rft_fail(RFT_EARG, "cuda: NCCL's unique id needs %zu bytes, got %zu", sizeof(ncclUniqueId), nbytes);
    ncclUniqueId u;
    RFT_NCCL_CHECK(ncclGetUniqueId(&u));
    memcpy(id, &u, sizeof u);
    return RFT_OK;
}

int rft_cuda_comm_init(const void *id, size_t nbytes, int rank, int size)
{
    if (comm) return RFT_OK;
    if (nbytes < sizeof(ncclUniqueId))
        return rft_fail(RFT_EARG, "cuda: NCCL's unique id needs %zu bytes, got %zu", sizeof(ncclUniqueId), nbytes);
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    RFT_NCCL_CHECK(ncclCommInitRank(&comm, size, u, rank));
    return RFT_OK;
}

int rft_cuda_allreduce_sum(rft_tensor *t)
{
    ncclDataType_t type = t->dtype == RFT_F32 ? ncclFloat32 : ncclInt32;
    RFT_NCCL_CHECK(ncclAllReduce(rft_ptr(t), rft_ptr(t), (size_t)t->numel, type, ncclSum, comm, rft_cuda.stream));
    return RFT_OK;
}

int rft_cuda_broadcast(rft_tensor *t, int root)
{
    RFT_NCCL_CHECK(ncclBroadcast(rft_ptr(t), rft_ptr(t), rft_nbytes(t), ncclUint8, root, comm, rft_cuda.stream));
    return RFT_OK;
}

/* The communication stream, made on first use, and an event that orders it after the compute stream. */
static int comm_stream_ready(void)
{
    if (comm_stream) return RFT_OK;
    RFT_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    RFT_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_stream, cudaStreamNonBlocking));
    return RFT_OK;
}

/* The ticket is an event recorded on the communication stream after the all-reduce: done when it has
   run; the join makes the compute stream wait for it and destroys it (CUDA frees it once it has run). */
int rft_cuda_allreduce_start(rft_tensor *t, void **ticket)
{
    RFT_TRY(comm_stream_ready());
    /* the gradients in t are complete once the compute stream's work queued so far has run */
    RFT_CUDA_CHECK(cudaEventRecord(ready, rft_cuda.stream));
    RFT_CUDA_CHECK(cudaStreamWaitEvent(comm_stream, ready, 0));
    ncclDataType_t type = t->dtype == RFT_F32 ? ncclFloat32 : ncclInt32;
    RFT_NCCL_CHECK(ncclAllReduce(rft_ptr(t), rft_ptr(t), (size_t)t->numel, type, ncclSum, comm, comm_stream));
    cudaEvent_t done;
    RFT_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    RFT_CUDA_CHECK(cudaEventRecord(done, comm_stream));
    *ticket = (void *)done;
    return RFT_OK;
}

int rft_cuda_allreduce_done(void *ticket, int *done)
{
    cudaError_t s = cudaEventQuery((cudaEvent_t)ticket);
    if (s == cudaErrorNotReady) {         /* not an error: clear it, so the next launch check does not see it */
        (void)cudaGetLastError();
        *done = 0;
        return RFT_OK;
    }
    RFT_CUDA_CHECK(s);
    *done = 1;
    return RFT_OK;
}

int rft_cuda_allreduce_join(void *ticket)
{
    cudaEvent_t done = (cudaEvent_t)ticket;
    RFT_CUDA_CHECK(cudaStreamWaitEvent(rft_cuda.stream, done, 0));
    RFT_CUDA_CHECK(cudaEventDestroy(done));
    return RFT_OK;
}
