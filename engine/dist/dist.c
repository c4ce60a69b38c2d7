/* dist.c: data-parallel collectives for rft (DESIGN.md §6). In a plain process there is one rank and
 * every collective leaves its tensor as it is. In a process that an MPI launcher started (OpenMPI,
 * MPICH, or any PMI/PMIx launcher: their environment says so), the first call loads librft_mpi.so from
 * beside librft (or $RFT_MPI_LIB) and initialises MPI; failing to load it is an error that says why,
 * never a silent single-process run, since N such processes would each train alone.
 * Host tensors go through MPI. Device tensors go through the device's own collectives where its
 * backend has them (NCCL on CUDA: MPI only carries NCCL's unique id, once), else through host memory. */
#define _GNU_SOURCE
#include "backend.h"
#include "dist/mpi_abi.h"
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rft_mpi_table *mpi;       /* NULL: one rank (plain process), or not yet initialised */
static int tried;                      /* rft_dist_init has run (successfully or not) */
static char init_error[1024];

/* Started by a launcher: OpenMPI sets OMPI_COMM_WORLD_SIZE, Hydra (MPICH) PMI_SIZE, PMIx PMIX_RANK. */
static int launched(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

static void library_path(char *path, size_t n)
{
    const char *env = getenv("RFT_MPI_LIB");
    if (env && *env) { snprintf(path, n, "%s", env); return; }
    Dl_info info;
    if (dladdr((void *)rft_dist_init, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash) { snprintf(path, n, "%.*s/librft_mpi.so", (int)(slash - info.dli_fname), info.dli_fname); return; }
    }
    snprintf(path, n, "librft_mpi.so");
}

int rft_dist_init(void)
{
    if (tried) return init_error[0] ? rft_fail(RFT_EIO, "%s", init_error) : RFT_OK;
    tried = 1;
    if (!launched()) return RFT_OK;
    char path[512];
    library_path(path, sizeof path);
    void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);   /* global: MPI's own plugins resolve against it */
    if (!h) {
        snprintf(init_error, sizeof init_error, "dist: started by an MPI launcher, but the MPI support "
                 "cannot be loaded (%s); build rft where MPI is installed (tools/setup.sh installs "
                 "OpenMPI)", dlerror());
        return rft_fail(RFT_EIO, "%s", init_error);
    }
    rft_mpi_open_fn open = (rft_mpi_open_fn)dlsym(h, "rft_mpi_open");
    char err[RFT_MPI_ERRLEN] = "";
    const rft_mpi_table *t = open ? open(err) : NULL;
    if (!t) {
        snprintf(init_error, sizeof init_error, "%s", open ? err : "dist: librft_mpi.so has no rft_mpi_open");
        return rft_fail(RFT_EIO, "%s", init_error);
    }
    if (t->abi != RFT_MPI_ABI) {
        snprintf(init_error, sizeof init_error, "dist: %s was built for another librft (MPI ABI %d, expected "
                 "%d): rebuild both", path, t->abi, RFT_MPI_ABI);
        return rft_fail(RFT_EIO, "%s", init_error);
    }
    mpi = t;
    /* rank 0 alone prints: the others' standard output goes nowhere (errors still reach stderr) */
    if (mpi->rank != 0 && !getenv("RFT_DIST_ALL_PRINT") && !freopen("/dev/null", "w", stdout))
        return rft_fail(RFT_EIO, "dist: rank %d cannot send its standard output to /dev/null", mpi->rank);
    return RFT_OK;
}

int rft_dist_rank(void) { return mpi ? mpi->rank : 0; }
int rft_dist_size(void) { return mpi ? mpi->size : 1; }
int rft_dist_local_rank(void) { return mpi ? mpi->local_rank : 0; }
const char *rft_dist_library(void) { return mpi ? mpi->library : ""; }

static int mpi_fail(const char *err) { return rft_fail(RFT_EIO, "%s", err); }

/* The device's collectives (one device kind besides the CPU), set up on first use: rank 0 makes the
   unique id and MPI broadcasts it. A rank that fails here exits, and the launcher ends the others. */
static int device_comm_ready;
static int device_comm(const rft_backend *b)
{
    if (device_comm_ready) return RFT_OK;
    unsigned char id[256] = {0};                      /* NCCL's id is 128 bytes */
    if (mpi->rank == 0) RFT_TRY(b->comm_id(id, sizeof id));
    char err[RFT_MPI_ERRLEN] = "";
    if (mpi->broadcast(id, sizeof id, 0, err)) return mpi_fail(err);
    RFT_TRY(b->comm_init(id, sizeof id, mpi->rank, mpi->size));
    device_comm_ready = 1;
    return RFT_OK;
}

/* Runs fn on t's values in host memory: in place for a CPU tensor, through a staging copy otherwise. */
static int on_host(rft_tensor *t, int (*fn)(void *buf, const rft_tensor *t, int arg, char *err), int arg)
{
    char err[RFT_MPI_ERRLEN] = "";
    size_t nbytes = rft_nbytes(t);
    if (t->device == RFT_CPU) return fn(rft_ptr(t), t, arg, err) ? mpi_fail(err) : RFT_OK;
    const rft_backend *b = rft_backend_of(t);
    void *host = malloc(nbytes ? nbytes : 1);
    if (!host) return rft_fail(RFT_ENOMEM, "dist: no host memory to stage %s (%zu bytes)", rft_shape_str(t), nbytes);
    int rc = b->copy(host, RFT_CPU, rft_ptr(t), t->device, nbytes);
    if (rc == RFT_OK && fn(host, t, arg, err)) rc = mpi_fail(err);
    if (rc == RFT_OK) rc = b->copy(rft_ptr(t), t->device, host, RFT_CPU, nbytes);
    free(host);
    return rc;
}

static int sum_fn(void *buf, const rft_tensor *t, int arg, char *err)
{
    (void)arg;
    return mpi->allreduce_sum(buf, (size_t)t->numel, t->dtype == RFT_F32 ? RFT_MPI_F32 : RFT_MPI_I32, err);
}

static int bcast_fn(void *buf, const rft_tensor *t, int root, char *err)
{
    return mpi->broadcast(buf, rft_nbytes(t), root, err);
}

static int check_op(const char *what, const rft_tensor *t, int op)
{
    RFT_TRY(rft_check_tensor(what, "tensor", t));
    if (op != RFT_REDUCE_SUM && op != RFT_REDUCE_MEAN)
        return rft_fail(RFT_EARG, "%s: op is %d, expected sum (%d) or mean (%d)", what, op, RFT_REDUCE_SUM,
                        RFT_REDUCE_MEAN);
    if (t->dtype != RFT_F32 && !(t->dtype == RFT_I32 && op == RFT_REDUCE_SUM))
        return rft_fail(RFT_EDTYPE, "%s: tensor must be f32 (or i32 for 'sum'), got %s", what,
                        rft_dtype_name(t->dtype));
    return RFT_OK;
}

int rft_dist_allreduce(rft_tensor *t, int op)
{
    RFT_TRY(check_op("dist.allreduce", t, op));
    RFT_TRY(rft_dist_init());
    if (!mpi || mpi->size == 1 || t->numel == 0) return RFT_OK;
    const rft_backend *b = rft_backend_of(t);
    if (t->device != RFT_CPU && b->allreduce_sum) {
        RFT_TRY(device_comm(b));
        RFT_TRY(b->allreduce_sum(t));
    } else {
        RFT_TRY(on_host(t, sum_fn, 0));
    }
    return op == RFT_REDUCE_MEAN ? rft_tensor_scale(t, 1.0f / (float)mpi->size) : RFT_OK;
}

/* ---- non-blocking all-reduce (the gradient buckets of an overlapped step) ---------------------- */

enum { REQ_FREE = 0, REQ_MPI, REQ_DEVICE, REQ_DONE };
typedef struct {
    int kind;              /* REQ_*: what finishing it takes */
    int op;                /* RFT_REDUCE_SUM or RFT_REDUCE_MEAN (applied at the wait) */
    int mpi_request;       /* librft_mpi's handle (REQ_MPI) */
    void *ticket;          /* the device backend's (REQ_DEVICE) */
    rft_tensor *t;         /* a reference, held until the wait */
} dist_request;
static dist_request *requests;   /* request id k > 0 is slot k - 1 */
static int64_t nrequests;

static int64_t new_request(void)
{
    for (int64_t k = 0; k < nrequests; k++)
        if (requests[k].kind == REQ_FREE) return k;
    int64_t n = nrequests ? 2 * nrequests : 64;
    dist_request *r = realloc(requests, (size_t)n * sizeof *r);
    if (!r) return -1;
    memset(r + nrequests, 0, (size_t)(n - nrequests) * sizeof *r);
    requests = r;
    int64_t k = nrequests;
    nrequests = n;
    return k;
}

static int find_request(const char *what, int64_t request, dist_request **out)
{
    if (request < 1 || request > nrequests || requests[request - 1].kind == REQ_FREE)
        return rft_fail(RFT_EARG, "%s: request %lld is not an all-reduce in flight (started by "
                        "rft_dist_iallreduce and not yet waited for)", what, (long long)request);
    *out = &requests[request - 1];
    return RFT_OK;
}

int rft_dist_iallreduce(rft_tensor *t, int op, int64_t *request)
{
    if (!request) return rft_fail(RFT_EARG, "dist.iallreduce: request is NULL");
    *request = 0;
    RFT_TRY(check_op("dist.iallreduce", t, op));
    RFT_TRY(rft_dist_init());
    if (!mpi || mpi->size == 1 || t->numel == 0) return RFT_OK;
    int64_t k = new_request();
    if (k < 0) return rft_fail(RFT_ENOMEM, "dist.iallreduce: no memory for another request (%lld in flight)",
                               (long long)nrequests);
    dist_request *r = &requests[k];
    const rft_backend *b = rft_backend_of(t);
    if (t->device == RFT_CPU) {
        char err[RFT_MPI_ERRLEN] = "";
        if (mpi->iallreduce_sum(rft_ptr(t), (size_t)t->numel, t->dtype == RFT_F32 ? RFT_MPI_F32 : RFT_MPI_I32,
                                &r->mpi_request, err))
            return mpi_fail(err);
        r->kind = REQ_MPI;
    } else if (b->allreduce_start && b->allreduce_done && b->allreduce_join) {
        RFT_TRY(device_comm(b));
        RFT_TRY(b->allreduce_start(t, &r->ticket));
        r->kind = REQ_DEVICE;
    } else if (b->allreduce_sum) {             /* a device with collectives but no queue of its own for them */
        RFT_TRY(device_comm(b));
        RFT_TRY(b->allreduce_sum(t));
        r->kind = REQ_DONE;
    } else {                                   /* through host memory, at once */
        RFT_TRY(on_host(t, sum_fn, 0));
        r->kind = REQ_DONE;
    }
    r->op = op;
    rft_tensor_retain(t);
    r->t = t;
    *request = k + 1;
    return RFT_OK;
}

int rft_dist_test(int64_t request, int *done)
{
    if (!done) return rft_fail(RFT_EARG, "dist.test: done is NULL");
    *done = 1;
    if (request == 0) return RFT_OK;
    dist_request *r = NULL;
    RFT_TRY(find_request("dist.test", request, &r));
    if (r->kind == REQ_DEVICE) return rft_backend_of(r->t)->allreduce_done(r->ticket, done);
    if (r->kind != REQ_MPI) return RFT_OK;      /* reduced at its start */
    char err[RFT_MPI_ERRLEN] = "";
    return mpi->test(r->mpi_request, done, err) ? mpi_fail(err) : RFT_OK;
}

int rft_dist_wait(int64_t request)
{
    if (request == 0) return RFT_OK;
    dist_request *r = NULL;
    RFT_TRY(find_request("dist.wait", request, &r));
    int rc = RFT_OK;
    char err[RFT_MPI_ERRLEN] = "";
    if (r->kind == REQ_MPI && mpi->wait(r->mpi_request, err)) rc = mpi_fail(err);
    if (r->kind == REQ_DEVICE) rc = rft_backend_of(r->t)->allreduce_join(r->ticket);
    if (rc == RFT_OK && r->op == RFT_REDUCE_MEAN) rc = rft_tensor_scale(r->t, 1.0f / (float)mpi->size);
    rft_tensor_release(r->t);
    memset(r, 0, sizeof *r);
    return rc;
}

int rft_dist_allreduce_f64(double *values, int64_t n, int op)
{
    if (n < 0 || (n > 0 && !values))
        return rft_fail(RFT_EARG, "dist.allreduce: %lld values at %p", (long long)n, (void *)values);
    if (op != RFT_REDUCE_SUM && op != RFT_REDUCE_MEAN)
        return rft_fail(RFT_EARG, "dist.allreduce: op is %d, expected sum (%d) or mean (%d)", op, RFT_REDUCE_SUM,
                        RFT_REDUCE_MEAN);
    RFT_TRY(rft_dist_init());
    if (!mpi || mpi->size == 1 || n == 0) return RFT_OK;
    char err[RFT_MPI_ERRLEN] = "";
    if (mpi->allreduce_sum(values, (size_t)n, RFT_MPI_F64, err)) return mpi_fail(err);
    if (op == RFT_REDUCE_MEAN)
        for (int64_t i = 0; i < n; i++) values[i] /= mpi->size;
    return RFT_OK;
}

int rft_dist_broadcast(rft_tensor *t, int root)
{
    RFT_TRY(rft_check_tensor("dist.broadcast", "tensor", t));
    RFT_TRY(rft_dist_init());
    int size = rft_dist_size();
    if (root < 0 || root >= size)
        return rft_fail(RFT_EARG, "dist.broadcast: root is %d, expected a rank in [0, %d)", root, size);
    if (!mpi || size == 1 || t->numel == 0) return RFT_OK;
    const rft_backend *b = rft_backend_of(t);
    if (t->device != RFT_CPU && b->broadcast) {
        RFT_TRY(device_comm(b));
        return b->broadcast(t, root);
    }
    return on_host(t, bcast_fn, root);
}

int rft_dist_barrier(void)
{
    RFT_TRY(rft_dist_init());
    if (!mpi || mpi->size == 1) return RFT_OK;
    char err[RFT_MPI_ERRLEN] = "";
    return mpi->barrier(err) ? mpi_fail(err) : RFT_OK;
}
