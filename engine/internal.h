/* internal.h: what librft's own files (and the CUDA backend) share and users do not see: the tensor
 * struct, the error helpers and small checks used by every op's shape checking.
 * Not a public interface: engine/include/rft.h is. */
#ifndef RFT_INTERNAL_H
#define RFT_INTERNAL_H
#include "rft.h"
#include <stdbool.h>

/* One block of device or host memory, shared by a tensor and its views. */
typedef struct rft_storage {
    int refcount;
    int device;
    void *data;
    size_t nbytes;
} rft_storage;

struct rft_tensor {
    int refcount;
    int dtype;
    int device;
    int ndim;
    int64_t shape[RFT_MAX_DIMS];
    int64_t numel;
    rft_storage *storage;
    size_t offset;        /* bytes from storage->data to element 0 */
    bool view;            /* shares memory it does not own in full */
};

/* Record a failure: formats the message into this thread's buffer and returns code. */
int rft_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define RFT_TRY(expr) do { int rft_rc_ = (expr); if (rft_rc_ != RFT_OK) return rft_rc_; } while (0)

/* "[128,3,32,32]": a shape as text, in one of a few rotating thread-local buffers. */
const char *rft_shape_str(const rft_tensor *t);
size_t rft_dtype_size(int dtype);

static inline void *rft_ptr(const rft_tensor *t) { return (char *)t->storage->data + t->offset; }
static inline float *rft_f32(const rft_tensor *t) { return (float *)rft_ptr(t); }
static inline uint8_t *rft_u8(const rft_tensor *t) { return (uint8_t *)rft_ptr(t); }
static inline int32_t *rft_i32(const rft_tensor *t) { return (int32_t *)rft_ptr(t); }
static inline size_t rft_nbytes(const rft_tensor *t) { return (size_t)t->numel * rft_dtype_size(t->dtype); }

/* Checks that name the op and the argument: "conv2d: weight must be f32, got u8". */
int rft_check_tensor(const char *op, const char *arg, const rft_tensor *t);     /* non-NULL */
int rft_check_dtype(const char *op, const char *arg, const rft_tensor *t, int dtype);
int rft_check_ndim(const char *op, const char *arg, const rft_tensor *t, int ndim);
int rft_check_same_device(const char *op, const char *arg, const rft_tensor *a, const rft_tensor *b);
int rft_check_cpu(const char *op, const char *arg, const rft_tensor *t);

/* Put before a function holding a hot loop (element-wise, reduction): the function gets one clone per
   instruction set of RFT_CLONE_TARGETS (CMakeLists.txt: AVX-512, AVX2, baseline), and the dynamic
   loader picks the one the CPU supports when librft is loaded, so one build runs on any x86-64 CPU
   at its vector width. OpenMP regions inside are cloned with it. librft is compiled with
   -ffp-contract=off, so clones differ only where a reduction's order is left to the compiler. */
#ifndef RFT_CLONE_TARGETS
#define RFT_CLONE_TARGETS "avx512f,avx2,default"
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__NVCC__)
#define RFT_CLONES __attribute__((target_clones(RFT_CLONE_TARGETS)))
#else
#define RFT_CLONES
#endif

/* The one quiet NaN for any NaN (see rft_host_f32_canonicalize in rft.h): every double an op
   writes for Lua to read passes through this. */
static inline double rft_canonical(double v) { return v != v ? (double)__builtin_nanf("") : v; }

/* Below this many elements, element-wise loops stay on one thread. */
enum { RFT_PAR_MIN = 1 << 15 };

#endif
