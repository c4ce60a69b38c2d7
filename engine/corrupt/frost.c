/* frost.c: the frost photographs of the generator's "frost" corruption: frost1.png .. frost5.jpg
 * (the generator draws among the first five) read once through libpng and libjpeg, the alpha of the
 * RGBA PNGs dropped as cv2.imread does, and scaled by 0.2 as cv2.resize(fx=fy=0.2) does: bilinear
 * with source coordinate (d + 0.5)·5 - 0.5 = 5d + 2, a whole pixel, so each output pixel is the
 * input pixel (5y + 2, 5x + 2). Kept for the life of the process. */
#include "corrupt.h"
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <png.h>
#include <jpeglib.h>

static cc_frost_img frost_imgs[5];
static int frost_ready;

const cc_frost_img *cc_frost(int k) { return frost_ready && k >= 0 && k < 5 ? &frost_imgs[k] : NULL; }
int rft_corrupt_frost_loaded(void) { return frost_ready; }

/* path -> rgb (h, w, 3), malloc'ed */
static int read_png(const char *path, uint8_t **rgb, int *h, int *w)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path))
        return rft_fail(RFT_EIO, "corrupt: frost: cannot read %s: %s", path, im.message);
    im.format = PNG_FORMAT_RGBA;
    uint8_t *rgba = malloc(PNG_IMAGE_SIZE(im));
    if (!rgba) { png_image_free(&im); return rft_fail(RFT_ENOMEM, "corrupt: frost: out of memory for %s", path); }
    if (!png_image_finish_read(&im, NULL, rgba, 0, NULL)) {
        free(rgba);
        return rft_fail(RFT_EIO, "corrupt: frost: cannot decode %s: %s", path, im.message);
    }
    *h = (int)im.height; *w = (int)im.width;
    *rgb = malloc((size_t)*h * *w * 3);
    if (!*rgb) { free(rgba); return rft_fail(RFT_ENOMEM, "corrupt: frost: out of memory for %s", path); }
    for (size_t p = 0; p < (size_t)*h * *w; p++) memcpy(*rgb + p * 3, rgba + p * 4, 3);
    free(rgba);
    return RFT_OK;
}

typedef struct { struct jpeg_error_mgr mgr; jmp_buf jump; } jerr;
static void jerr_exit(j_common_ptr c) { longjmp(((jerr *)c->err)->jump, 1); }

static int read_jpeg(const char *path, uint8_t **rgb, int *h, int *w)
{
    FILE *f = fopen(path, "rb");
    if (!f) return rft_fail(RFT_EIO, "corrupt: frost: cannot open %s", path);
    struct jpeg_decompress_struct d;
    jerr e;
    uint8_t *volatile out = NULL;
    d.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = jerr_exit;
    if (setjmp(e.jump)) {
        char msg[JMSG_LENGTH_MAX];
        (*d.err->format_message)((j_common_ptr)&d, msg);
        jpeg_destroy_decompress(&d);
        fclose(f);
        free(out);
        return rft_fail(RFT_EIO, "corrupt: frost: cannot decode %s: %s", path, msg);
    }
    jpeg_create_decompress(&d);
    jpeg_stdio_src(&d, f);
    jpeg_read_header(&d, TRUE);
    d.out_color_space = JCS_RGB;
    jpeg_start_decompress(&d);
    *h = (int)d.output_height; *w = (int)d.output_width;
    out = malloc((size_t)*h * *w * 3);
    if (!out) longjmp(e.jump, 1);
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = out + (size_t)d.output_scanline * *w * 3;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    fclose(f);
    *rgb = out;
    return RFT_OK;
}

int rft_corrupt_frost_load(const char *dir)
{
    static const char *names[5] = { "frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg" };
    if (!dir) return rft_fail(RFT_EARG, "corrupt: frost: dir is NULL");
    if (frost_ready) return RFT_OK;
    cc_frost_img imgs[5];
    for (int k = 0; k < 5; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        uint8_t *rgb = NULL;
        int h = 0, w = 0;
        int rc = k < 3 ? read_png(path, &rgb, &h, &w) : read_jpeg(path, &rgb, &h, &w);
        if (rc != RFT_OK) {
            for (int j = 0; j < k; j++) free((void *)imgs[j].rgb);
            return rc;
        }
        /* cv2.resize(fx=fy=0.2): round(size·0.2) pixels, pixel d from source 5d + 2 */
        int oh = (int)lrint(h * 0.2), ow = (int)lrint(w * 0.2);
        if (oh < CC_S + 1 || ow < CC_S + 1 || 5 * (oh - 1) + 2 >= h || 5 * (ow - 1) + 2 >= w) {
            free(rgb);
            for (int j = 0; j < k; j++) free((void *)imgs[j].rgb);
            return rft_fail(RFT_EIO, "corrupt: frost: %s is %dx%d, too small for a 32x32 crop after scaling by 0.2",
                            path, w, h);
        }
        uint8_t *s = malloc((size_t)oh * ow * 3);
        if (!s) { free(rgb); return rft_fail(RFT_ENOMEM, "corrupt: frost: out of memory"); }
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) memcpy(s + ((size_t)y * ow + x) * 3, rgb + ((size_t)(5 * y + 2) * w + 5 * x + 2) * 3, 3);
        free(rgb);
        imgs[k].h = oh; imgs[k].w = ow; imgs[k].rgb = s;
    }
    memcpy(frost_imgs, imgs, sizeof imgs);
    frost_ready = 1;
    return RFT_OK;
}
