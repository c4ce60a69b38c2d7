/* error.c: the thread-local error message behind rft_last_error(), and the small argument checks
 * that every op's shape checking is built from. */
#include "internal.h"
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

const char *rft_last_error(void) { return last_error; }

int rft_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

const char *rft_shape_str(const rft_tensor *t)
{
    static _Thread_local char bufs[4][96];
    static _Thread_local int next;
    char *b = bufs[next++ & 3];
    if (!t) { snprintf(b, 96, "(null)"); return b; }
    int n = snprintf(b, 96, "[");
    for (int i = 0; i < t->ndim && n < 90; i++)
        n += snprintf(b + n, 96 - n, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    snprintf(b + n, 96 - n, "]");
    return b;
}

int rft_check_tensor(const char *op, const char *arg, const rft_tensor *t)
{
    return t ? RFT_OK : rft_fail(RFT_EARG, "%s: %s is missing (NULL tensor)", op, arg);
}

int rft_check_dtype(const char *op, const char *arg, const rft_tensor *t, int dtype)
{
    RFT_TRY(rft_check_tensor(op, arg, t));
    if (t->dtype != dtype)
        return rft_fail(RFT_EDTYPE, "%s: %s must be %s, got %s %s", op, arg, rft_dtype_name(dtype),
                        rft_dtype_name(t->dtype), rft_shape_str(t));
    return RFT_OK;
}

int rft_check_ndim(const char *op, const char *arg, const rft_tensor *t, int ndim)
{
    RFT_TRY(rft_check_tensor(op, arg, t));
    if (t->ndim != ndim)
        return rft_fail(RFT_ESHAPE, "%s: %s must have %d dimensions, got %s", op, arg, ndim,
                        rft_shape_str(t));
    return RFT_OK;
}

int rft_check_same_device(const char *op, const char *arg, const rft_tensor *a, const rft_tensor *b)
{
    if (a->device != b->device)
        return rft_fail(RFT_EDEVICE, "%s: %s is on %s, expected %s like the other operands", op, arg,
                        rft_device_name(b->device), rft_device_name(a->device));
    return RFT_OK;
}

int rft_check_cpu(const char *op, const char *arg, const rft_tensor *t)
{
    RFT_TRY(rft_check_tensor(op, arg, t));
    if (t->device != RFT_CPU)
        return rft_fail(RFT_EDEVICE, "%s: %s must be on cpu, got %s", op, arg, rft_device_name(t->device));
    return RFT_OK;
}
