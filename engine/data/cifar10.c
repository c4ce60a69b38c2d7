/* cifar10.c: reads one batch file of the CIFAR-10 binary version (Krizhevsky 2009): records of
 * 1 label byte (0..9) then 3072 image bytes, red, green, blue planes of 32x32, row-major.
 * The Lua side (lua/rft/data.lua) picks the files of a split and reads batches.meta.txt.
 * Not a general dataset loader: every byte of the file is checked against this one layout. */
#include "internal.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { CIFAR_SIDE = 32, CIFAR_IMAGE = 3 * 32 * 32, CIFAR_RECORD = 1 + 3 * 32 * 32, CIFAR_CLASSES = 10 };

int rft_cifar10_read(rft_tensor **images, rft_tensor **labels, const char *path)
{
    if (!path || !images || !labels) return rft_fail(RFT_EARG, "cifar10: path and outputs are required");
    *images = *labels = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return rft_fail(RFT_EIO, "cifar10: cannot open %s: %s", path, strerror(errno));
    int rc = RFT_OK;
    uint8_t *buf = NULL;
    long size = -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {    /* a folder opens, and "seeks" */
        rc = rft_fail(RFT_EIO, "cifar10: %s is not a regular file (a directory?), expected a batch file", path);
        goto done;
    }
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = rft_fail(RFT_EIO, "cifar10: cannot read the size of %s: %s", path, strerror(errno));
        goto done;
    }
    if (size == 0 || size % CIFAR_RECORD != 0) {
        rc = rft_fail(RFT_EFORMAT, "cifar10: %s has %ld bytes, expected a non-zero multiple of %d "
                      "(1 label byte + 3072 pixel bytes per record); a truncated or foreign file?",
                      path, size, CIFAR_RECORD);
        goto done;
    }
    buf = malloc((size_t)size);
    if (!buf) { rc = rft_fail(RFT_ENOMEM, "cifar10: out of memory reading %s", path); goto done; }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        rc = rft_fail(RFT_EIO, "cifar10: short read from %s", path);
        goto done;
    }
    int64_t n = size / CIFAR_RECORD;
    for (int64_t i = 0; i < n; i++) {
        uint8_t label = buf[i * CIFAR_RECORD];
        if (label >= CIFAR_CLASSES) {
            rc = rft_fail(RFT_EFORMAT, "cifar10: %s: record %lld (byte offset %lld) has label %u, expected 0..9",
                          path, (long long)i, (long long)(i * CIFAR_RECORD), label);
            goto done;
        }
    }
    int64_t ishape[4] = {n, 3, CIFAR_SIDE, CIFAR_SIDE}, lshape[1] = {n};
    if ((rc = rft_tensor_new(images, RFT_U8, RFT_CPU, 4, ishape))) goto done;
    if ((rc = rft_tensor_new(labels, RFT_I32, RFT_CPU, 1, lshape))) goto done;
    uint8_t *img = rft_u8(*images);
    int32_t *lab = rft_i32(*labels);
    for (int64_t i = 0; i < n; i++) {
        lab[i] = buf[i * CIFAR_RECORD];
        memcpy(img + i * CIFAR_IMAGE, buf + i * CIFAR_RECORD + 1, CIFAR_IMAGE);
    }
done:
    free(buf);
    fclose(f);
    if (rc) {
        rft_tensor_release(*images); rft_tensor_release(*labels);
        *images = *labels = NULL;
    }
    return rc;
}
