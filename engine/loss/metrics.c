/* metrics.c: deferred metrics. A training step wants its loss and its count of correct predictions
 * for the epoch's row, not at once: on a GPU, reading each back would wait for the step's work and
 * leave the device idle while the host queues the next one. So rft_cross_entropy with loss NULL and
 * rft_topk_correct with correct NULL add what they would have returned to the device's running
 * totals, and rft_metrics_take(device) hands the totals over (waiting for the device once) and
 * starts them again. On the CPU the totals are these two numbers; the CUDA backend keeps its own on
 * the device (kernels/metrics.cu), where a label refused by a deferred call is reported by the take.
 * Not here: the ops themselves (cross_entropy.c, accuracy.c). */
#include "backend.h"

static double cpu_loss;          /* sum of the losses deferred calls would have returned */
static int64_t cpu_correct;      /* sum of their counts */

void rft_cpu_defer(double loss, int64_t correct)
{
    cpu_loss += loss;
    cpu_correct += correct;
}

int rft_cpu_metrics_take(double *loss_sum, int64_t *correct)
{
    *loss_sum = cpu_loss;
    *correct = cpu_correct;
    cpu_loss = 0;
    cpu_correct = 0;
    return RFT_OK;
}

int rft_metrics_take(int device, double *loss_sum, int64_t *correct)
{
    const char *op = "metrics_take";
    if (!loss_sum || !correct) return rft_fail(RFT_EARG, "%s: loss_sum and correct must not be NULL", op);
    const rft_backend *b;
    RFT_TRY(rft_backend_get(device, &b));
    if (!b->metrics_take) return rft_backend_unavailable(op, b);
    RFT_TRY(b->metrics_take(loss_sum, correct));
    *loss_sum = rft_canonical(*loss_sum);          /* Lua reads it: the one quiet NaN (rft.h) */
    return RFT_OK;
}
