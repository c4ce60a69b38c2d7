/* tensor.c: tensor life cycle (create, retain/release, views, reshape, resize), copies between
 * host and devices, concatenation, u8 -> f32 conversion and summary statistics, with the CPU
 * implementations of the memory and element-wise entries of the backend table.
 * Every tensor is dense and row-major; a view of rows [i, j) stays dense, so nothing here needs
 * strides. */
#include "backend.h"
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RFT_VERSION_STRING
#define RFT_VERSION_STRING "0.0.0"
#endif

const char *rft_version(void) { return RFT_VERSION_STRING; }
int rft_abi_version(void) { return RFT_ABI_VERSION; }

const char *rft_dtype_name(int dtype)
{
    switch (dtype) { case RFT_F32: return "f32"; case RFT_U8: return "u8"; case RFT_I32: return "i32"; }
    return "?";
}

const char *rft_device_name(int device)
{
    switch (device) { case RFT_CPU: return "cpu"; case RFT_CUDA: return "cuda"; case RFT_CPU2: return "cpu2"; }
    return "?";
}

size_t rft_dtype_size(int dtype) { return dtype == RFT_U8 ? 1 : 4; }

void rft_set_num_threads(int n) { omp_set_num_threads(n > 0 ? n : omp_get_num_procs()); }
int rft_num_threads(void) { return omp_get_max_threads(); }

/* ---- storage ------------------------------------------------------------------------------ */

static int64_t in_use[3];             /* bytes per device; tensors are made from one thread (Lua's) */

int64_t rft_memory_in_use(int device) { return device >= RFT_CPU && device <= RFT_CPU2 ? in_use[device] : 0; }

static int storage_new(rft_storage **out, int device, size_t nbytes)
{
    const rft_backend *b;
    RFT_TRY(rft_backend_get(device, &b));
    rft_storage *s = calloc(1, sizeof *s);
    void *data = b->alloc(nbytes ? nbytes : 1);
    if (!s || !data) {
        free(s);
        if (data) b->free(data);
        return rft_fail(RFT_ENOMEM, "tensor: out of %s memory allocating %zu bytes", b->name, nbytes);
    }
    s->refcount = 1; s->device = device; s->data = data; s->nbytes = nbytes;
    in_use[device] += (int64_t)nbytes;
    *out = s;
    return RFT_OK;
}

static void storage_release(rft_storage *s)
{
    if (s && --s->refcount == 0) {
        const rft_backend *b;
        if (rft_backend_get(s->device, &b) == RFT_OK) b->free(s->data);
        in_use[s->device] -= (int64_t)s->nbytes;
        free(s);
    }
}

void *rft_cpu_alloc(size_t nbytes)
{
    void *p = NULL;
    size_t rounded = (nbytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded)) return NULL;
    memset(p, 0, rounded);
    return p;
}

void rft_cpu_free(void *p) { free(p); }

int rft_cpu_copy(void *dst, int dst_device, const void *src, int src_device, size_t nbytes)
{
    (void)dst_device; (void)src_device;
    memmove(dst, src, nbytes);
    return RFT_OK;
}

/* ---- shapes ------------------------------------------------------------------------------- */

static int check_shape(const char *op, int ndim, const int64_t *shape, int64_t *numel)
{
    if (ndim < 1 || ndim > RFT_MAX_DIMS)
        return rft_fail(RFT_ESHAPE, "%s: a shape has 1 to %d dimensions, got %d", op, RFT_MAX_DIMS, ndim);
    if (!shape) return rft_fail(RFT_EARG, "%s: shape is missing", op);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return rft_fail(RFT_ESHAPE, "%s: dimension %d is %lld, expected >= 0", op, i + 1,
                            (long long)shape[i]);
        if (shape[i] && n > INT64_MAX / 16 / shape[i])
            return rft_fail(RFT_ESHAPE, "%s: shape is too large (dimension %d)", op, i + 1);
        n *= shape[i];
    }
    *numel = n;
    return RFT_OK;
}

static void set_shape(rft_tensor *t, int ndim, const int64_t *shape, int64_t numel)
{
    t->ndim = ndim;
    for (int i = 0; i < RFT_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    t->numel = numel;
}

static int dtype_ok(const char *op, int dtype)
{
    if (dtype != RFT_F32 && dtype != RFT_U8 && dtype != RFT_I32)
        return rft_fail(RFT_EDTYPE, "%s: unknown dtype %d (expected f32, u8 or i32)", op, dtype);
    return RFT_OK;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

int rft_tensor_new(rft_tensor **out, int dtype, int device, int ndim, const int64_t *shape)
{
    int64_t numel;
    if (!out) return rft_fail(RFT_EARG, "tensor_new: out is NULL");
    *out = NULL;
    RFT_TRY(dtype_ok("tensor_new", dtype));
    RFT_TRY(check_shape("tensor_new", ndim, shape, &numel));
    rft_tensor *t = calloc(1, sizeof *t);
    if (!t) return rft_fail(RFT_ENOMEM, "tensor_new: out of memory");
    int rc = storage_new(&t->storage, device, (size_t)numel * rft_dtype_size(dtype));
    if (rc) { free(t); return rc; }
    t->refcount = 1; t->dtype = dtype; t->device = device;
    set_shape(t, ndim, shape, numel);
    *out = t;
    return RFT_OK;
}

void rft_tensor_retain(rft_tensor *t) { if (t) t->refcount++; }

void rft_tensor_release(rft_tensor *t)
{
    if (t && --t->refcount == 0) {
        storage_release(t->storage);
        free(t);
    }
}

int rft_tensor_dtype(const rft_tensor *t) { return t->dtype; }
int rft_tensor_device(const rft_tensor *t) { return t->device; }
int rft_tensor_ndim(const rft_tensor *t) { return t->ndim; }
int64_t rft_tensor_dim(const rft_tensor *t, int i) { return i >= 0 && i < t->ndim ? t->shape[i] : 0; }
int64_t rft_tensor_numel(const rft_tensor *t) { return t->numel; }
int rft_tensor_is_view(const rft_tensor *t) { return t->view; }
void *rft_tensor_data(rft_tensor *t) { return t->device == RFT_CPU ? rft_ptr(t) : NULL; }

/* A new tensor header over t's memory. */
static int share(rft_tensor **out, const rft_tensor *t, int ndim, const int64_t *shape, int64_t numel,
                 size_t offset)
{
    rft_tensor *v = calloc(1, sizeof *v);
    if (!v) return rft_fail(RFT_ENOMEM, "tensor: out of memory");
    v->refcount = 1; v->dtype = t->dtype; v->device = t->device;
    v->storage = t->storage; v->storage->refcount++;
    v->offset = offset;
    set_shape(v, ndim, shape, numel);
    v->view = true;
    *out = v;
    return RFT_OK;
}

int rft_tensor_resize(rft_tensor *t, int ndim, const int64_t *shape)
{
    int64_t numel;
    RFT_TRY(rft_check_tensor("resize", "tensor", t));
    RFT_TRY(check_shape("resize", ndim, shape, &numel));
    if (t->view) {
        if (numel != t->numel)
            return rft_fail(RFT_ESHAPE, "resize: a view of %s cannot take %lld elements (a view cannot grow "
                            "or shrink, only be reshaped)", rft_shape_str(t), (long long)numel);
    } else {
        size_t need = (size_t)numel * rft_dtype_size(t->dtype);
        if (need > t->storage->nbytes) {
            rft_storage *s;
            RFT_TRY(storage_new(&s, t->device, need));
            storage_release(t->storage);
            t->storage = s;
            t->offset = 0;
        }
    }
    set_shape(t, ndim, shape, numel);
    return RFT_OK;
}

int rft_tensor_reshape(rft_tensor **out, const rft_tensor *t, int ndim, const int64_t *shape)
{
    int64_t numel;
    RFT_TRY(rft_check_tensor("reshape", "tensor", t));
    RFT_TRY(check_shape("reshape", ndim, shape, &numel));
    if (numel != t->numel)
        return rft_fail(RFT_ESHAPE, "reshape: cannot view %s (%lld elements) as %lld elements",
                        rft_shape_str(t), (long long)t->numel, (long long)numel);
    return share(out, t, ndim, shape, numel, t->offset);
}

int rft_tensor_view(rft_tensor **out, const rft_tensor *t, int64_t i, int64_t j)
{
    RFT_TRY(rft_check_tensor("view", "tensor", t));
    if (i < 0 || j < i || j > t->shape[0])
        return rft_fail(RFT_EARG, "view: rows [%lld, %lld) are outside %s (expected 0 <= i <= j <= %lld)",
                        (long long)i, (long long)j, rft_shape_str(t), (long long)t->shape[0]);
    int64_t shape[RFT_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    int64_t row = t->shape[0] ? t->numel / t->shape[0] : 0;
    shape[0] = j - i;
    return share(out, t, t->ndim, shape, row * (j - i), t->offset + (size_t)(row * i) * rft_dtype_size(t->dtype));
}

int rft_tensor_clone(rft_tensor **out, const rft_tensor *t, int device)
{
    RFT_TRY(rft_check_tensor("clone", "tensor", t));
    RFT_TRY(rft_tensor_new(out, t->dtype, device, t->ndim, t->shape));
    int rc = rft_tensor_copy(*out, t);
    if (rc) { rft_tensor_release(*out); *out = NULL; }
    return rc;
}

/* ---- copies -------------------------------------------------------------------------------- */

/* The backend that moves bytes between two devices: the non-CPU one, if any. */
static const rft_backend *mover(int a, int b)
{
    const rft_backend *be = NULL;
    rft_backend_get(a != RFT_CPU ? a : b, &be);
    return be;
}

int rft_tensor_copy(rft_tensor *dst, const rft_tensor *src)
{
    RFT_TRY(rft_check_tensor("copy", "destination", dst));
    RFT_TRY(rft_check_tensor("copy", "source", src));
    if (dst->dtype != src->dtype || dst->numel != src->numel)
        return rft_fail(RFT_ESHAPE, "copy: source %s %s does not fit destination %s %s",
                        rft_dtype_name(src->dtype), rft_shape_str(src), rft_dtype_name(dst->dtype),
                        rft_shape_str(dst));
    return mover(dst->device, src->device)->copy(rft_ptr(dst), dst->device, rft_ptr(src), src->device,
                                                 rft_nbytes(src));
}

static int host_size_ok(const char *op, const rft_tensor *t, const void *p, int64_t nbytes)
{
    RFT_TRY(rft_check_tensor(op, "tensor", t));
    if (!p) return rft_fail(RFT_EARG, "%s: host buffer is NULL", op);
    if (nbytes != (int64_t)rft_nbytes(t))
        return rft_fail(RFT_ESHAPE, "%s: host buffer has %lld bytes, tensor %s %s needs %zu", op,
                        (long long)nbytes, rft_dtype_name(t->dtype), rft_shape_str(t), rft_nbytes(t));
    return RFT_OK;
}

int rft_tensor_copy_from_host(rft_tensor *t, const void *src, int64_t nbytes)
{
    RFT_TRY(host_size_ok("copy_from_host", t, src, nbytes));
    return mover(t->device, RFT_CPU)->copy(rft_ptr(t), t->device, src, RFT_CPU, (size_t)nbytes);
}

int rft_tensor_copy_to_host(const rft_tensor *t, void *dst, int64_t nbytes)
{
    RFT_TRY(host_size_ok("copy_to_host", t, dst, nbytes));
    return mover(RFT_CPU, t->device)->copy(dst, RFT_CPU, rft_ptr(t), t->device, (size_t)nbytes);
}

int rft_tensor_cat(int n, const rft_tensor *const *parts, rft_tensor *out)
{
    RFT_TRY(rft_check_tensor("cat", "out", out));
    if (n < 1 || !parts) return rft_fail(RFT_EARG, "cat: needs at least one tensor, got %d", n);
    const rft_tensor *p0 = parts[0];
    RFT_TRY(rft_check_tensor("cat", "tensor 1", p0));
    int64_t shape[RFT_MAX_DIMS];
    memcpy(shape, p0->shape, sizeof shape);
    shape[0] = 0;
    for (int k = 0; k < n; k++) {
        const rft_tensor *p = parts[k];
        char name[32];
        snprintf(name, sizeof name, "tensor %d", k + 1);
        RFT_TRY(rft_check_tensor("cat", name, p));
        if (p->dtype != p0->dtype || p->ndim != p0->ndim || p->device != p0->device)
            return rft_fail(RFT_ESHAPE, "cat: %s is %s %s on %s, tensor 1 is %s %s on %s", name,
                            rft_dtype_name(p->dtype), rft_shape_str(p), rft_device_name(p->device),
                            rft_dtype_name(p0->dtype), rft_shape_str(p0), rft_device_name(p0->device));
        for (int d = 1; d < p->ndim; d++)
            if (p->shape[d] != p0->shape[d])
                return rft_fail(RFT_ESHAPE, "cat: %s has shape %s, expected %s in every dimension but "
                                "the first", name, rft_shape_str(p), rft_shape_str(p0));
        if (p->storage == out->storage)
            return rft_fail(RFT_EARG, "cat: %s shares memory with out", name);
        shape[0] += p->shape[0];
    }
    if (out->dtype != p0->dtype || out->device != p0->device)
        return rft_fail(RFT_EDTYPE, "cat: out is %s on %s, the parts are %s on %s", rft_dtype_name(out->dtype),
                        rft_device_name(out->device), rft_dtype_name(p0->dtype), rft_device_name(p0->device));
    RFT_TRY(rft_tensor_resize(out, p0->ndim, shape));
    const rft_backend *b = rft_backend_of(out);
    char *dst = rft_ptr(out);
    for (int k = 0; k < n; k++) {
        RFT_TRY(b->copy(dst, out->device, rft_ptr(parts[k]), out->device, rft_nbytes(parts[k])));
        dst += rft_nbytes(parts[k]);
    }
    return RFT_OK;
}

/* ---- element-wise -------------------------------------------------------------------------- */

int rft_tensor_fill(rft_tensor *t, double value)
{
    RFT_TRY(rft_check_tensor("fill", "tensor", t));
    RFT_DISPATCH("fill", t, fill, t, value);
}

RFT_CLONES
int rft_cpu_fill(rft_tensor *t, double value)
{
    int64_t n = t->numel;
    switch (t->dtype) {
    case RFT_F32: {
        float *p = rft_f32(t), v = (float)value;
        #pragma omp parallel for if (n > RFT_PAR_MIN)
        for (int64_t i = 0; i < n; i++) p[i] = v;
        break;
    }
    case RFT_I32: {
        int32_t *p = rft_i32(t), v = (int32_t)value;
        #pragma omp parallel for if (n > RFT_PAR_MIN)
        for (int64_t i = 0; i < n; i++) p[i] = v;
        break;
    }
    case RFT_U8:
        memset(rft_u8(t), (uint8_t)value, (size_t)n);
        break;
    }
    return RFT_OK;
}

int rft_tensor_u8_to_f32(const rft_tensor *x, float scale, rft_tensor *y)
{
    RFT_TRY(rft_check_dtype("u8_to_f32", "input", x, RFT_U8));
    RFT_TRY(rft_check_dtype("u8_to_f32", "output", y, RFT_F32));
    RFT_TRY(rft_check_same_device("u8_to_f32", "output", x, y));
    RFT_TRY(rft_tensor_resize(y, x->ndim, x->shape));
    RFT_DISPATCH("u8_to_f32", x, u8_to_f32, x, scale, y);
}

RFT_CLONES
int rft_cpu_u8_to_f32(const rft_tensor *x, float scale, rft_tensor *y)
{
    const uint8_t *a = rft_u8(x);
    float *b = rft_f32(y);
    int64_t n = x->numel;
    #pragma omp parallel for if (n > RFT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) b[i] = (float)a[i] * scale;
    return RFT_OK;
}

int rft_tensor_stats(const rft_tensor *t, double *out)
{
    RFT_TRY(rft_check_tensor("stats", "tensor", t));
    if (!out) return rft_fail(RFT_EARG, "stats: out is NULL");
    if (t->numel == 0) return rft_fail(RFT_ESHAPE, "stats: tensor %s is empty", rft_shape_str(t));
    RFT_TRY(RFT_CALL("stats", t, stats, t, out));
    for (int i = 0; i < 3; i++) out[i] = rft_canonical(out[i]);   /* whatever bytes the data held */
    return RFT_OK;
}

int64_t rft_host_f32_canonicalize(float *p, int64_t n)
{
    if (!p || n <= 0) return 0;
    const float qnan = __builtin_nanf("");
    int64_t found = 0;
    #pragma omp parallel for reduction(+:found) if (n > RFT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        if (p[i] != p[i]) { p[i] = qnan; found++; }
    return found;
}

int rft_tensor_find_nonfinite(const rft_tensor *t, int64_t *index)
{
    RFT_TRY(rft_check_tensor("find_nonfinite", "tensor", t));
    RFT_TRY(rft_check_cpu("find_nonfinite", "tensor", t));
    if (!index) return rft_fail(RFT_EARG, "find_nonfinite: index is NULL");
    *index = -1;
    if (t->dtype != RFT_F32) return RFT_OK;
    const float *p = rft_f32(t);
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(p[i])) { *index = i; break; }
    return RFT_OK;
}

#define STATS_LOOP(get)                                                                           \
    _Pragma("omp parallel for reduction(min:lo) reduction(max:hi) reduction(+:sum) if (n > RFT_PAR_MIN)") \
    for (int64_t i = 0; i < n; i++) {                                                             \
        double v = (double)(get);                                                                 \
        lo = v < lo ? v : lo; hi = v > hi ? v : hi; sum += v;                                     \
    }

RFT_CLONES
int rft_cpu_stats(const rft_tensor *t, double *out)
{
    int64_t n = t->numel;
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    bool nan = false;
    switch (t->dtype) {
    case RFT_F32: {
        const float *p = rft_f32(t);
        STATS_LOOP(p[i]);
        for (int64_t i = 0; isnan(sum) && i < n && !nan; i++) nan = isnan(p[i]);   /* min/max skip NaN */
        break;
    }
    case RFT_U8: { const uint8_t *p = rft_u8(t); STATS_LOOP(p[i]); break; }
    case RFT_I32: { const int32_t *p = rft_i32(t); STATS_LOOP(p[i]); break; }
    }
    out[0] = nan ? NAN : lo;
    out[1] = nan ? NAN : hi;
    out[2] = sum / (double)n;
    return RFT_OK;
}
