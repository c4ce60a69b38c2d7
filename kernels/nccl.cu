/* nccl.cu: collectives between processes on the GPU (engine/dist/dist.c), through NCCL on the
 * backend's one stream, so they queue behind the backward pass that produced the gradients. MPI
 * carries only NCCL's unique id from rank 0 to the others (dist.c); NCCL moves the tensors. One rank
 * per GPU: NCCL refuses two ranks on one device. Built where the CUDA toolkit ships NCCL (its
 * lib64/ on these machines); without it the table has no collectives and dist.c stages device
 * tensors through host memory and MPI. */
#include "cuda_util.h"
#include <nccl.h>
#include <string.h>

static ncclComm_t comm;

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
