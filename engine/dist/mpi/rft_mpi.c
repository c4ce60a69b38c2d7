/* rft_mpi.c: librft_mpi.so, the MPI half of rft's data-parallel training (engine/dist/dist.c is the
 * other). Built only where an MPI implementation is found; loaded by librft only in a process that an
 * MPI launcher started. It initialises MPI once (threads: funneled — only the thread that runs Lua
 * calls MPI), finalises it at exit, and wraps the three collectives rft needs on host memory. */
#include "dist/mpi_abi.h"
#include "rft.h"
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static rft_mpi_table table;
static char version[MPI_MAX_LIBRARY_VERSION_STRING];

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
    table.abi = RFT_MPI_ABI;
    return &table;
}
