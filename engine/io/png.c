/* png.c: PNG files through libpng, and the image grid used for figures and feature-map pictures.
 * Images are u8 [C,H,W] (planar, like every tensor in rft); PNG stores them interleaved.
 * Writing goes to "<path>.tmp.<pid>" first and is renamed over path only when complete. */
#include "internal.h"
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int color_type(int64_t c)
{
    switch (c) {
    case 1: return PNG_COLOR_TYPE_GRAY;
    case 3: return PNG_COLOR_TYPE_RGB;
    case 4: return PNG_COLOR_TYPE_RGB_ALPHA;
    }
    return -1;
}

/* libpng reports errors by longjmp; keep its message for ours. */
static void png_error_fn(png_structp png, png_const_charp msg)
{
    snprintf((char *)png_get_error_ptr(png), 256, "%s", msg);
    png_longjmp(png, 1);
}
static void png_warning_fn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static int write_file(const char *path, FILE *f, const rft_tensor *img, uint8_t *row)
{
    char err[256] = "";
    int64_t c = img->shape[0], h = img->shape[1], w = img->shape[2];
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, png_error_fn, png_warning_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) { png_destroy_write_struct(&png, NULL); return rft_fail(RFT_ENOMEM, "png: out of memory"); }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return rft_fail(RFT_EIO, "png: writing %s: %s", path, err);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, color_type(c), PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const uint8_t *p = rft_u8(img);
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++)
            for (int64_t k = 0; k < c; k++) row[x * c + k] = p[(k * h + y) * w + x];
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return RFT_OK;
}

int rft_png_write(const char *path, const rft_tensor *img)
{
    if (!path) return rft_fail(RFT_EARG, "png: path is NULL");
    RFT_TRY(rft_check_dtype("png", "image", img, RFT_U8));
    RFT_TRY(rft_check_cpu("png", "image", img));
    if (img->ndim != 3 || color_type(img->shape[0]) < 0 || img->shape[1] < 1 || img->shape[2] < 1 ||
        img->shape[1] > 0x7fffffff || img->shape[2] > 0x7fffffff)
        return rft_fail(RFT_ESHAPE, "png: image for %s must be [C,H,W] with C = 1, 3 or 4 and H, W >= 1, "
                        "got %s", path, rft_shape_str(img));
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return rft_fail(RFT_EARG, "png: path is too long: %s", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rft_fail(RFT_EIO, "png: cannot create %s: %s", tmp, strerror(errno));
    uint8_t *row = malloc((size_t)(img->shape[0] * img->shape[2]));
    int rc = row ? write_file(path, f, img, row) : rft_fail(RFT_ENOMEM, "png: out of memory");
    free(row);
    if (fclose(f) != 0 && rc == RFT_OK) rc = rft_fail(RFT_EIO, "png: writing %s: %s", tmp, strerror(errno));
    if (rc == RFT_OK && rename(tmp, path) != 0)
        rc = rft_fail(RFT_EIO, "png: cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc) remove(tmp);
    return rc;
}

static int read_file(const char *path, FILE *f, rft_tensor **out)
{
    char err[256] = "";
    png_bytep volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, err, png_error_fn, png_warning_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); return rft_fail(RFT_ENOMEM, "png: out of memory"); }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels); free(rows);
        rft_tensor_release(*out); *out = NULL;
        return rft_fail(RFT_EFORMAT, "png: %s is not a readable PNG file: %s", path, err);
    }
    png_init_io(png, f);
    png_read_info(png, info);
    /* Normalise every PNG to 8-bit grey, RGB or RGBA. */
    png_set_expand(png);
    png_set_strip_16(png);
    int ct = png_get_color_type(png, info);
    if (ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_read_update_info(png, info);
    int64_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int64_t c = png_get_channels(png, info);
    size_t stride = png_get_rowbytes(png, info);
    pixels = malloc(stride * (size_t)h);
    rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (int64_t y = 0; y < h; y++) rows[y] = pixels + (size_t)y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    int64_t shape[3] = {c, h, w};
    int rc = rft_tensor_new(out, RFT_U8, RFT_CPU, 3, shape);
    if (rc == RFT_OK) {
        uint8_t *p = rft_u8(*out);
        for (int64_t k = 0; k < c; k++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) p[(k * h + y) * w + x] = rows[y][x * c + k];
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(pixels); free(rows);
    return rc;
}

int rft_png_read(rft_tensor **img, const char *path)
{
    if (!path || !img) return rft_fail(RFT_EARG, "png: path and output are required");
    *img = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return rft_fail(RFT_EIO, "png: cannot open %s: %s", path, strerror(errno));
    uint8_t sig[8];
    int rc;
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8))
        rc = rft_fail(RFT_EFORMAT, "png: %s is not a PNG file (bad signature)", path);
    else {
        rewind(f);
        rc = read_file(path, f, img);
    }
    fclose(f);
    return rc;
}

int rft_image_grid(rft_tensor **out, const rft_tensor *batch, int cols, int margin, int scale, int background)
{
    if (!out) return rft_fail(RFT_EARG, "image_grid: out is NULL");
    *out = NULL;
    RFT_TRY(rft_check_ndim("image_grid", "images", batch, 4));
    RFT_TRY(rft_check_cpu("image_grid", "images", batch));
    if (batch->dtype == RFT_I32)
        return rft_fail(RFT_EDTYPE, "image_grid: images must be f32 in [0,1] or u8, got i32");
    int64_t n = batch->shape[0], c = batch->shape[1], h = batch->shape[2], w = batch->shape[3];
    if ((c != 1 && c != 3) || n < 1)
        return rft_fail(RFT_ESHAPE, "image_grid: images must be [N,C,H,W] with N >= 1 and C = 1 or 3, got %s",
                        rft_shape_str(batch));
    if (cols < 1 || margin < 0 || scale < 1 || background < 0 || background > 255)
        return rft_fail(RFT_EARG, "image_grid: expected cols >= 1, margin >= 0, scale >= 1, background in "
                        "0..255; got cols=%d margin=%d scale=%d background=%d", cols, margin, scale, background);
    if (cols > n) cols = (int)n;
    int64_t rows = (n + cols - 1) / cols;
    int64_t cw = w * scale + margin, ch = h * scale + margin;
    int64_t shape[3] = {c, margin + rows * ch, margin + cols * cw};
    RFT_TRY(rft_tensor_new(out, RFT_U8, RFT_CPU, 3, shape));
    uint8_t *g = rft_u8(*out);
    memset(g, background, (size_t)(*out)->numel);
    const float *pf = batch->dtype == RFT_F32 ? rft_f32(batch) : NULL;
    const uint8_t *pu = rft_u8(batch);
    for (int64_t i = 0; i < n; i++) {
        int64_t oy = margin + (i / cols) * ch, ox = margin + (i % cols) * cw;
        for (int64_t k = 0; k < c; k++)
            for (int64_t y = 0; y < h * scale; y++)
                for (int64_t x = 0; x < w * scale; x++) {
                    int64_t src = ((i * c + k) * h + y / scale) * w + x / scale;
                    uint8_t v;
                    if (pf) {
                        float f = pf[src];
                        f = f != f ? 0.0f : f < 0 ? 0.0f : f > 1 ? 1.0f : f;
                        v = (uint8_t)(f * 255.0f + 0.5f);
                    } else {
                        v = pu[src];
                    }
                    g[(k * shape[1] + oy + y) * shape[2] + ox + x] = v;
                }
    }
    return RFT_OK;
}
