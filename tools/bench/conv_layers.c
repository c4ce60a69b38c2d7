/* conv_layers.c: times rft's conv2d on the convolutions of VGG-16 for CIFAR-10 (3x3, padding 1,
 * batch 128 by default): forward, backward_input and backward_params per layer, median of several
 * repetitions (the best: on a shared machine the slower ones carry others' load), and GFLOP/s. A benchmark, not a test; tools/bench/conv_layers_torch.py runs PyTorch on
 * the same layers and prints both side by side.
 *
 * Build and run from the repository root, after cmake --build build:
 *   cc -O2 -std=c11 tools/bench/conv_layers.c -Iengine/include -Lbuild -lrft -Wl,-rpath,$PWD/build \
 *      -o build/conv_layers && build/conv_layers [batch] [repetitions] [algorithms]
 * algorithms: a comma list of RFT_CONV_ALGO values (direct,winograd,...) timed in turn within each
 * repetition, so that the machine's other load hits all alike; default: RFT_CONV_ALGO or auto.
 * Output: the machine line (tools/bench/machine.py), then one line per layer and algorithm,
 * "layer cin cout hw algo fwd_ms bwd_input_ms bwd_params_ms GFLOP/s", then totals.
 */
#define _POSIX_C_SOURCE 200809L
#include "rft.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const int layers[][3] = {   /* cin, cout, height = width */
    {3, 64, 32}, {64, 64, 32}, {64, 128, 16}, {128, 128, 16}, {128, 256, 8},
    {256, 256, 8}, {256, 512, 4}, {512, 512, 4}, {512, 512, 2},
};
enum { NLAYERS = sizeof layers / sizeof layers[0], MAX_REPS = 64, MAX_ALGOS = 4 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void check(int rc)
{
    if (rc) { fprintf(stderr, "conv_layers: %s\n", rft_last_error()); exit(1); }
}

static rft_tensor *randn(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed)
{
    rft_tensor *t;
    int64_t shape[4] = {n, c, h, w};
    check(rft_tensor_new(&t, RFT_F32, RFT_CPU, w ? 4 : 1, w ? shape : &n));
    check(rft_rand_normal(t, seed, 0, 0, 0.0f, 0.1f));
    return t;
}

/* The machine line from tools/bench/machine.py (CPU, ISA, threads, derived fp32 peak). */
static void print_machine(void)
{
    FILE *f = popen("python3 tools/bench/machine.py 2>/dev/null", "r");
    char line[512];
    if (f && fgets(line, sizeof line, f)) fputs(line, stdout);
    else puts("# machine: unknown (run from the repository root for tools/bench/machine.py)");
    if (f) pclose(f);
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoi(argv[1]) : 128;
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    if (reps < 1 || reps > MAX_REPS) reps = 10;
    /* algorithms to compare, run in turn within each repetition so that load from elsewhere hits all */
    char algo_buf[256] = "";
    const char *algos[MAX_ALGOS];
    int nalgo = 0;
    if (argc > 3) {
        snprintf(algo_buf, sizeof algo_buf, "%s", argv[3]);
        for (char *tok = strtok(algo_buf, ","); tok && nalgo < MAX_ALGOS; tok = strtok(NULL, ",")) algos[nalgo++] = tok;
    } else {
        const char *e = getenv("RFT_CONV_ALGO");
        algos[nalgo++] = e && *e ? e : "auto";
    }
    rft_conv2d_args a = {3, 3, 1, 1, 1, 1};
    double total[MAX_ALGOS][3] = {{0}}, flops_total = 0;
    print_machine();
    printf("# rft conv2d, batch %lld, best of %d, %d threads\n", (long long)n, reps, rft_num_threads());
    printf("%-6s %5s %5s %3s %-14s %9s %9s %9s %8s\n", "layer", "cin", "cout", "hw", "algo", "fwd_ms", "bwdin_ms",
           "bwdpar_ms", "GFLOP/s");
    for (int l = 0; l < NLAYERS; l++) {
        int cin = layers[l][0], cout = layers[l][1], hw = layers[l][2];
        rft_tensor *x = randn(n, cin, hw, hw, 1), *w = randn(cout, cin, 3, 3, 2), *b = randn(cout, 0, 0, 0, 3);
        rft_tensor *dy = randn(n, cout, hw, hw, 4), *y = randn(1, 0, 0, 0, 0), *dx = randn(1, 0, 0, 0, 0);
        rft_tensor *dw = randn(cout, cin, 3, 3, 5), *db = randn(cout, 0, 0, 0, 6);
        static double t[MAX_ALGOS][3][MAX_REPS];
        for (int r = -2; r < reps; r++) {          /* two warm-up rounds build the plans and workspace */
            for (int k = 0; k < nalgo; k++) {
                setenv("RFT_CONV_ALGO", algos[k], 1);
                double t0 = now();
                check(rft_conv2d_forward(&a, x, w, b, y));
                double t1 = now();
                check(rft_conv2d_backward_input(&a, x, w, dy, dx));
                double t2 = now();
                check(rft_conv2d_backward_params(&a, x, dy, 1.0f, dw, db));
                double t3 = now();
                if (r >= 0) { t[k][0][r] = t1 - t0; t[k][1][r] = t2 - t1; t[k][2][r] = t3 - t2; }
            }
        }
        double flops = 2.0 * n * cout * hw * hw * cin * 9;
        flops_total += 3 * flops;
        for (int k = 0; k < nalgo; k++) {
            double med[3];
            for (int p = 0; p < 3; p++) {
                qsort(t[k][p], reps, sizeof(double), cmp);
                med[p] = t[k][p][0];   /* the best: on a shared machine the others carry foreign load */
                total[k][p] += med[p];
            }
            printf("conv%-2d %5d %5d %3d %-14s %9.3f %9.3f %9.3f %8.1f\n", l + 1, cin, cout, hw, algos[k], med[0] * 1e3,
                   med[1] * 1e3, med[2] * 1e3, 3 * flops / (med[0] + med[1] + med[2]) * 1e-9);
        }
        rft_tensor *all[] = {x, w, b, dy, y, dx, dw, db};
        for (int i = 0; i < 8; i++) rft_tensor_release(all[i]);
    }
    for (int k = 0; k < nalgo; k++) {
        double sum = total[k][0] + total[k][1] + total[k][2];
        printf("%-6s %5s %5s %3s %-14s %9.3f %9.3f %9.3f %8.1f\n", "total", "", "", "", algos[k], total[k][0] * 1e3,
               total[k][1] * 1e3, total[k][2] * 1e3, flops_total / sum * 1e-9);
    }
    return 0;
}
