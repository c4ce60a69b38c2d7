/* mpi_abi.h: the table librft_mpi.so gives librft (engine/dist/dist.c). librft never links MPI: the
 * MPI support is its own small library, loaded only when the process was started by an MPI launcher,
 * so that rft builds and runs where no MPI is installed (as the CUDA backend is loaded only for CUDA).
 * Buffers are host memory; counts are elements. Every call returns RFT_OK or an rft status after
 * writing a sentence into err (size RFT_MPI_ERRLEN). */
#ifndef RFT_MPI_ABI_H
#define RFT_MPI_ABI_H
#include <stddef.h>

enum { RFT_MPI_ABI = 2, RFT_MPI_ERRLEN = 512 };
enum { RFT_MPI_F32 = 0, RFT_MPI_F64 = 1, RFT_MPI_U8 = 2, RFT_MPI_I32 = 3 };

typedef struct rft_mpi_table {
    int abi;                                   /* RFT_MPI_ABI */
    int rank, size, local_rank, local_size;    /* in MPI_COMM_WORLD and on this host */
    const char *library;                       /* the MPI library's own version line */
    int (*allreduce_sum)(void *buf, size_t count, int type, char *err);       /* in place */
    int (*broadcast)(void *buf, size_t bytes, int root, char *err);
    int (*barrier)(char *err);
    /* Non-blocking sum in place (MPI_Iallreduce on a communicator of its own, so that it never
       matches the blocking collectives issued while it is in flight): *request names it until
       wait or a test that reports it done; count must fit MPI's int. */
    int (*iallreduce_sum)(void *buf, size_t count, int type, int *request, char *err);
    int (*test)(int request, int *done, char *err);    /* drives MPI's progress; done: 1 when complete */
    int (*wait)(int request, char *err);
} rft_mpi_table;

/* librft_mpi's one exported symbol: initialises MPI (once) and returns its table, or NULL after
   writing why into err. */
typedef const rft_mpi_table *(*rft_mpi_open_fn)(char *err);
#endif
