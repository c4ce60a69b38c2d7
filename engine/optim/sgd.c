/* sgd.c: one step of stochastic gradient descent with momentum, exactly torch.optim.SGD with
 * dampening 0 (Sutskever et al. 2013 for the Nesterov form as PyTorch writes it):
 *   g    = grad + weight_decay * param
 *   buf  = g                      on the first step (first_step = 1)
 *        = momentum * buf + g     after
 *   step = nesterov ? g + momentum * buf : buf        (step = g when momentum = 0: no buffer)
 *   param -= lr * step
 * One call updates a whole flat parameter buffer (the model's parameters live in one tensor),
 * element-wise, so threads split the elements. Not here: the learning-rate schedule (Lua's),
 * dampening, other optimizers. */
#include "backend.h"
#include "ops_check.h"

int rft_sgd_step(const rft_sgd_args *a, int first_step, const rft_tensor *grad, rft_tensor *param,
                 rft_tensor *momentum_buf)
{
    const char *op = "sgd";
    if (!a) return rft_fail(RFT_EARG, "%s: args is NULL", op);
    if (!(a->lr >= 0)) return rft_fail(RFT_EARG, "%s: lr = %g, expected >= 0", op, a->lr);
    if (!(a->momentum >= 0)) return rft_fail(RFT_EARG, "%s: momentum = %g, expected >= 0", op, a->momentum);
    if (!(a->weight_decay >= 0))
        return rft_fail(RFT_EARG, "%s: weight_decay = %g, expected >= 0", op, a->weight_decay);
    if (a->nesterov && a->momentum <= 0)
        return rft_fail(RFT_EARG, "%s: nesterov needs a momentum > 0, got %g", op, a->momentum);
    RFT_TRY(rft_check_dtype(op, "param", param, RFT_F32));
    RFT_TRY(ops_f32_like(op, "grad", grad, param));
    if (grad->numel != param->numel)
        return rft_fail(RFT_ESHAPE, "%s: grad %s has %lld elements, param %s has %lld", op, rft_shape_str(grad),
                        (long long)grad->numel, rft_shape_str(param), (long long)param->numel);
    if (a->momentum > 0) {
        if (!momentum_buf) return rft_fail(RFT_EARG, "%s: momentum %g needs a momentum_buf", op, a->momentum);
        RFT_TRY(ops_f32_like(op, "momentum_buf", momentum_buf, param));
        if (momentum_buf->numel != param->numel)
            return rft_fail(RFT_ESHAPE, "%s: momentum_buf %s has %lld elements, param %s has %lld", op,
                            rft_shape_str(momentum_buf), (long long)momentum_buf->numel, rft_shape_str(param),
                            (long long)param->numel);
    }
    RFT_DISPATCH(op, param, sgd_step, a, first_step, grad, param, a->momentum > 0 ? momentum_buf : NULL);
}

RFT_CLONES
int rft_cpu_sgd_step(const rft_sgd_args *a, int first_step, const rft_tensor *grad, rft_tensor *param,
                     rft_tensor *momentum_buf)
{
    const float lr = a->lr, mu = a->momentum, wd = a->weight_decay;
    const float *g = rft_f32(grad);
    float *p = rft_f32(param), *buf = momentum_buf ? rft_f32(momentum_buf) : NULL;
    const int64_t n = param->numel;
    if (!buf) {
        #pragma omp parallel for simd if (n > RFT_PAR_MIN)
        for (int64_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
        return RFT_OK;
    }
    const int nesterov = a->nesterov;
    #pragma omp parallel for simd if (n > RFT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i] + wd * p[i];
        const float bi = first_step ? gi : mu * buf[i] + gi;
        buf[i] = bi;
        p[i] -= lr * (nesterov ? gi + mu * bi : bi);
    }
    return RFT_OK;
}
