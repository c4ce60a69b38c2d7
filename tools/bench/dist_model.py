#!/usr/bin/env python3
"""dist_model.py: the data-parallel efficiency model of the README (section "Data-parallel training"),
for VGG-16 (CIFAR variant, batch norm) over N hosts, the gradient all-reduce blocking after the
backward pass or overlapped with it in buckets as rft.dist.gradient_sync cuts them.

Assumptions, each stated in the README: a ring all-reduce sends (and receives) 2(N-1)/N x S bytes per host
(S the gradient; 2S for large N, as here) at the link's rate; the backward pass is 2/3 of a step and each layer's
share of it is its multiply-adds (x2: input and weight gradients; x1 for the first layer, which has
no input gradient); a bucket's transfer starts when the backward pass has run its lowest layer and
after the bucket before it has gone (one link), and makes progress all the time (an MPI with a
progress thread, or NCCL; rft's CPU path advances only at its tests between layers, so for it this
is an upper bound).
    tools/bench/dist_model.py [--step 0.61] [--bucket-mb 2]
"""
import argparse

CFG = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']


def vgg16_layers():
    """(parameters, multiply-adds per image) of each layer with parameters, input to output."""
    layers, cin, hw = [], 3, 32
    for v in CFG:
        if v == 'M':
            hw //= 2
            continue
        layers.append((cin * v * 9 + v + 2 * v, hw * hw * cin * v * 9))   # conv + its batch norm
        cin = v
    layers += [(512 * 512 + 512, 512 * 512), (512 * 10 + 10, 512 * 10)]
    return layers


def buckets(layers, bucket_bytes):
    """[(lowest layer, bytes)] from the top down, closed at the first layer boundary past bucket_bytes."""
    out, lo, size = [], None, 0
    for i in range(len(layers) - 1, -1, -1):
        lo, size = i, size + 4 * layers[i][0]
        if size >= bucket_bytes:
            out.append((lo, size))
            size = 0
    if size:
        out.append((lo, size))
    return out


def exposed(layers, bk, t_allreduce, t_backward):
    """Seconds the overlapped all-reduce runs past the end of the backward pass."""
    bw = [2 * m for _, m in layers]
    bw[0] = layers[0][1]
    total_bw, total_bytes = sum(bw), sum(b for _, b in bk)
    t = 0.0
    for lo, size in bk:
        ready = (1 - sum(bw[:lo]) / total_bw) * t_backward
        t = max(t, ready) + t_allreduce * size / total_bytes
    return max(0.0, t - t_backward)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--step', type=float, default=0.61, help='seconds of a 128-image VGG-16 step on one host')
    p.add_argument('--bucket-mb', type=float, default=2.0)
    a = p.parse_args()
    layers = vgg16_layers()
    s = 4 * sum(n for n, _ in layers)
    bk = buckets(layers, a.bucket_mb * 2 ** 20)
    print(f'VGG-16: {s / 1e6:.1f} MB of gradient in {len(bk)} buckets of {a.bucket_mb:g} MiB')
    print(f"{'images/host':>12}{'link':>9}{'all-reduce':>12}{'blocking':>10}{'overlapped':>12}")
    for images in (128, 16):
        t_step = a.step * images / 128
        for gbit in (10, 100):
            t_ar = 2 * s * 8 / (gbit * 1e9)
            e = exposed(layers, bk, t_ar, 2 / 3 * t_step)
            print(f'{images:>12}{gbit:>6} Gb/s{1e3 * t_ar:>9.0f} ms{100 * t_step / (t_step + t_ar):>9.0f}%'
                  f'{100 * t_step / (t_step + e):>11.0f}%')


if __name__ == '__main__':
    main()
