/* cifar10_fuzz.c: a libFuzzer harness for the CIFAR-10 batch reader (engine/data/cifar10.c,
 * rft_cifar10_read). Each input is written to a file and read. Allowed: an error status with a
 * message naming the file, or images u8 [N,3,32,32] and labels i32 [N] with N = size / 3073 and
 * every label in 0..9, the bytes as in the file. Anything else aborts; crashes and sanitizer
 * reports are findings. (The 10,000-record rule lives in lua/rft/data.lua: here any count is read.)
 * Build and run: tools/fuzz/run.sh. */
#include "rft.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/rft-fuzz-%ld.bin", dir, (long)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) { perror(path); abort(); }
    rft_tensor *images = NULL, *labels = NULL;
    int rc = rft_cifar10_read(&images, &labels, path);
    if (rc != RFT_OK) {
        const char *msg = rft_last_error();
        if (!msg || !strstr(msg, path) || images || labels) {
            fprintf(stderr, "cifar10_fuzz: unclean failure %d: %s\n", rc, msg ? msg : "(no message)");
            abort();
        }
        return 0;
    }
    int64_t n = (int64_t)(size / 3073);
    if (size % 3073 || n == 0 || rft_tensor_dim(images, 0) != n || rft_tensor_numel(images) != n * 3072 ||
        rft_tensor_numel(labels) != n || rft_tensor_dtype(images) != RFT_U8 || rft_tensor_dtype(labels) != RFT_I32) {
        fprintf(stderr, "cifar10_fuzz: accepted %zu bytes with the wrong shape\n", size);
        abort();
    }
    const uint8_t *img = rft_tensor_data(images);
    const int32_t *lab = rft_tensor_data(labels);
    for (int64_t i = 0; i < n; i++) {
        if (lab[i] < 0 || lab[i] > 9 || lab[i] != data[i * 3073] || memcmp(img + i * 3072, data + i * 3073 + 1, 3072)) {
            fprintf(stderr, "cifar10_fuzz: record %lld read wrongly\n", (long long)i);
            abort();
        }
    }
    rft_tensor_release(images);
    rft_tensor_release(labels);
    return 0;
}
