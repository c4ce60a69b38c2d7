/* crop_flip.c: the standard CIFAR training augmentation (pad 4, random 32x32 crop, horizontal flip
 * with probability 1/2; torchvision's RandomCrop(32, padding=4) then RandomHorizontalFlip), fused
 * with the conversion of u8 images to f32 in [0,1] so that a batch is read once.
 *   x: (N,C,H,W) u8 or f32, ids: [N] i32 dataset indices, y: (N,C,H,W) f32
 *   r = Philox-4x32-10(key = seed, counter = (0, 0, ids[i] lo, ids[i] hi)): one block per image
 *   oy = floor(r[0] (2 pad + 1) / 2^32), ox = floor(r[1] (2 pad + 1) / 2^32)   (0 .. 2 pad)
 *   flipped = flip and r[2] >= 2^31
 *   y[i,c,h,w] = s * x[i,c, h + oy - pad, w' + ox - pad], w' = flipped ? W-1-w : w,
 *                0 outside the image (zero padding); s = 1/255 for u8, 1 for f32
 * So an image's result depends only on (seed, ids[i]): not on its batch, its place in the batch,
 * the thread count or the device. The seed should be this augmentation's own (the Lua side derives
 * it from the run's seed and the epoch): other users of Philox also take stream = image index.
 * Not here: the photometric augmentations of the papers (engine/aug/), resizing crops. */
#include "backend.h"
#include "ops_check.h"
#include "philox.h"
#include <string.h>

int rft_crop_flip(int pad, int flip, uint64_t seed, const rft_tensor *x, const rft_tensor *ids, rft_tensor *y)
{
    const char *op = "crop_flip";
    RFT_TRY(rft_check_tensor(op, "input", x));
    if (x->dtype != RFT_U8 && x->dtype != RFT_F32)
        return rft_fail(RFT_EDTYPE, "%s: input must be u8 or f32, got %s %s", op, rft_dtype_name(x->dtype),
                        rft_shape_str(x));
    if (x->ndim != 4) return rft_fail(RFT_ESHAPE, "%s: input must be (N,C,H,W), got %s", op, rft_shape_str(x));
    if (pad < 0 || pad > 1 << 20) return rft_fail(RFT_EARG, "%s: pad = %d, expected >= 0", op, pad);
    if (flip != 0 && flip != 1) return rft_fail(RFT_EARG, "%s: flip = %d, expected 0 or 1", op, flip);
    RFT_TRY(rft_check_dtype(op, "ids", ids, RFT_I32));
    RFT_TRY(rft_check_same_device(op, "ids", x, ids));
    if (ids->ndim != 1 || ids->shape[0] != x->shape[0])
        return rft_fail(RFT_ESHAPE, "%s: ids has shape %s, expected [%lld] (one per image of input %s)", op,
                        rft_shape_str(ids), (long long)x->shape[0], rft_shape_str(x));
    RFT_TRY(ops_f32_like(op, "output", y, x));
    if (y->storage == x->storage) return rft_fail(RFT_EARG, "%s: output shares memory with the input", op);
    RFT_TRY(rft_tensor_resize(y, 4, x->shape));
    RFT_DISPATCH(op, x, crop_flip, pad, flip, seed, x, ids, y);
}

/* floor(w * m / 2^32): a 32-bit word to 0 .. m-1 */
static inline int64_t draw_below(uint32_t w, int64_t m) { return (int64_t)(((uint64_t)w * (uint64_t)m) >> 32); }

RFT_CLONES
int rft_cpu_crop_flip(int pad, int flip, uint64_t seed, const rft_tensor *x, const rft_tensor *ids, rft_tensor *y)
{
    const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    const int32_t *id = rft_i32(ids);
    for (int64_t i = 0; i < n; i++)
        if (id[i] < 0)
            return rft_fail(RFT_EARG, "crop_flip: ids[%lld] = %d, expected a dataset index >= 0", (long long)i, id[i]);
    const bool u8 = x->dtype == RFT_U8;
    const uint8_t *xb = u8 ? rft_u8(x) : NULL;
    const float *xf = u8 ? NULL : rft_f32(x);
    float *ys = rft_f32(y);
    const float s = u8 ? 1.0f / 255.0f : 1.0f;
    #pragma omp parallel for if (x->numel > RFT_PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        rft_philox4 r = rft_philox(seed, (uint64_t)id[i], 0);
        const int64_t oy = draw_below(r.v[0], 2 * (int64_t)pad + 1) - pad;
        const int64_t ox = draw_below(r.v[1], 2 * (int64_t)pad + 1) - pad;
        const bool flipped = flip && (r.v[2] >> 31);
        /* output columns [w0, w1) read the image, source column = ox + (flipped ? W-1-col : col) */
        int64_t w0, w1;
        if (!flipped) { w0 = -ox; w1 = w - ox; }
        else { w0 = ox; w1 = w + ox; }               /* 0 <= W-1-col+ox < W */
        if (w0 < 0) w0 = 0;
        if (w1 > w) w1 = w;
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t row = 0; row < h; row++) {
                float *yr = ys + ((i * c + ch) * h + row) * w;
                const int64_t sr = row + oy;
                if (sr < 0 || sr >= h || w0 >= w1) { memset(yr, 0, (size_t)w * sizeof *yr); continue; }
                for (int64_t col = 0; col < w0; col++) yr[col] = 0.0f;
                for (int64_t col = w1; col < w; col++) yr[col] = 0.0f;
                const int64_t src = ((i * c + ch) * h + sr) * w;
                if (u8) {
                    if (!flipped) for (int64_t col = w0; col < w1; col++) yr[col] = (float)xb[src + col + ox] * s;
                    else for (int64_t col = w0; col < w1; col++) yr[col] = (float)xb[src + w - 1 - col + ox] * s;
                } else {
                    if (!flipped) for (int64_t col = w0; col < w1; col++) yr[col] = xf[src + col + ox];
                    else for (int64_t col = w0; col < w1; col++) yr[col] = xf[src + w - 1 - col + ox];
                }
            }
    }
    return RFT_OK;
}
