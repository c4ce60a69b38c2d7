/* rft_mpi.c: librft_mpi.so, the MPI half of rft's data-parallel training (engine/dist/dist.c is the
 * other). Built only where an MPI implementation is found; loaded by librft only in a process that an
 * MPI launcher started. It initialises MPI once (threads: funneled — only the thread that runs Lua
 * calls MPI), finalises it at exit, and wraps the collectives rft needs on host memory: three blocking
 * ones, and the non-blocking sum that the training step's gradient buckets use to overlap the
 * backward pass (on a duplicate of MPI_COMM_WORLD, so that a blocking collective issued while a
 * bucket is in flight, such as synchronised batch norm's, never matches it). */
#include "dist/mpi_abi.h"
#include "rft.h"
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static rft_mpi_table table;
static char version[MPI_MAX_LIBRARY_VERSION_STRING];
static MPI_Comm grad_comm = MPI_COMM_NULL;   /* the non-blocking sums' own communicator */
static MPI_Request *requests;                /* slot k: request k, MPI_REQUEST_NULL when free */
static int *in_use;
static int nrequests;

static int fail(char *err, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int n = 0;
    MPI_Error_string(rc, msg, &n);
    snprintf(err, RFT_MPI_ERRLEN, "dist: %s failed: %.*s", what, n, msg);
    return RFT_EIO;
}

static MPI_Datatype mpi_type(int type)
{
    switch (type) {
    case RFT_MPI_F32: return MPI_FLOAT;
    case RFT_MPI_F64: return MPI_DOUBLE;
    case RFT_MPI_U8: return MPI_UNSIGNED_CHAR;
    default: return MPI_INT32_T;
    }
}

/* MPI counts are int: long buffers go in slices of at most 2^30 elements. */
static int allreduce_sum(void *buf, size_t count, int type, char *err)
{
    size_t esize = type == RFT_MPI_F64 ? 8 : type == RFT_MPI_U8 ? 1 : 4;
    for (size_t at = 0; at < count;) {
        size_t n = count - at < ((size_t)1 << 30) ? count - at : ((size_t)1 << 30);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at * esize, (int)n, mpi_type(type), MPI_SUM,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return fail(err, rc, "MPI_Allreduce");
        at += n;
    }
    return RFT_OK;
}

static int broadcast(void *buf, size_t bytes, int root, char *err)
{
    for (size_t at = 0; at < bytes;) {
        size_t n = bytes - at < ((size_t)1 << 30) ? bytes - at : ((size_t)1 << 30);
        int rc = MPI_Bcast((char *)buf + at, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return fail(err, rc, "MPI_Bcast");
        at += n;
    }
    return RFT_OK;
}

static int barrier(char *err)
{
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? RFT_OK : fail(err, rc, "MPI_Barrier");
}

/* A free request slot (the table grows by doubling), or -1 without memory. */
static int new_slot(void)
{
    for (int k = 0; k < nrequests; k++)
        if (!in_use[k]) return k;
    int n = nrequests ? 2 * nrequests : 64;
    MPI_Request *r = realloc(requests, (size_t)n * sizeof *r);
    if (!r) return -1;
    requests = r;
    int *u = realloc(in_use, (size_t)n * sizeof *u);
    if (!u) return -1;
    in_use = u;
    for (int k = nrequests; k < n; k++) { requests[k] = MPI_REQUEST_NULL; in_use[k] = 0; }
    int k = nrequests;
    nrequests = n;
    return k;
}

static int bad_request(int request, char *err)
{
    if (request >= 0 && request < nrequests && in_use[request]) return 0;
    snprintf(err, RFT_MPI_ERRLEN, "dist: request %d is not a non-blocking all-reduce in flight", request);
    return RFT_EARG;
}

static int iallreduce_sum(void *buf, size_t count, int type, int *request, char *err)
{
    if (count > (size_t)1 << 30) {
        snprintf(err, RFT_MPI_ERRLEN, "dist: a non-blocking all-reduce of %zu elements is over MPI's limit of 2^30 "
                 "a call: use smaller gradient buckets", count);
        return RFT_EARG;
    }
    if (grad_comm == MPI_COMM_NULL) {
        int rc = MPI_Comm_dup(MPI_COMM_WORLD, &grad_comm);
        if (rc != MPI_SUCCESS) return fail(err, rc, "MPI_Comm_dup");
        MPI_Comm_set_errhandler(grad_comm, MPI_ERRORS_RETURN);
    }
    int k = new_slot();
    if (k < 0) {
        snprintf(err, RFT_MPI_ERRLEN, "dist: no memory for another non-blocking all-reduce (%d in flight)", nrequests);
        return RFT_ENOMEM;
    }
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, mpi_type(type), MPI_SUM, grad_comm, &requests[k]);
    if (rc != MPI_SUCCESS) return fail(err, rc, "MPI_Iallreduce");
    in_use[k] = 1;
    *request = k;
    return RFT_OK;
}

static int test_request(int request, int *done, char *err)
{
    int rc = bad_request(request, err);
    if (rc) return rc;
    rc = MPI_Test(&requests[request], done, MPI_STATUS_IGNORE);
    return rc == MPI_SUCCESS ? RFT_OK : fail(err, rc, "MPI_Test");
}

static int wait_request(int request, char *err)
{
    int rc = bad_request(request, err);
    if (rc) return rc;
    rc = MPI_Wait(&requests[request], MPI_STATUS_IGNORE);
    in_use[request] = 0;
    return rc == MPI_SUCCESS ? RFT_OK : fail(err, rc, "MPI_Wait");
}

static void finalize(void)
{
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
}

__attribute__((visibility("default"))) const rft_mpi_table *rft_mpi_open(char *err)
{
    if (table.abi) return &table;
    int provided = 0, rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) { fail(err, rc, "MPI_Init_thread"); return NULL; }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    atexit(finalize);
    MPI_Comm_rank(MPI_COMM_WORLD, &table.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &table.size);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, table.rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &table.local_rank);
    MPI_Comm_size(local, &table.local_size);
    MPI_Comm_free(&local);
    int n = 0;
    MPI_Get_library_version(version, &n);
    for (int i = 0; i < n; i++) if (version[i] == '\n' || version[i] == ',') { version[i] = 0; break; }
    table.library = version;
    table.allreduce_sum = allreduce_sum;
    table.broadcast = broadcast;
    table.barrier = barrier;
    table.iallreduce_sum = iallreduce_sum;
    table.test = test_request;
    table.wait = wait_request;
    table.abi = RFT_MPI_ABI;
    return &table;
}
