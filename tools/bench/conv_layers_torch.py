"""conv_layers_torch.py: rft against PyTorch on the convolutions of VGG-16 for CIFAR-10 (3x3,
padding 1, batch 128) or, with --net allcnn_c, of All-CNN-C (3x3 stride 1 and 2, 3x3 valid, 1x1): forward, backward input and backward weights+bias per layer, both run in this
one process on the same data, alternating call by call so that load from elsewhere on the machine
hits both alike; median (and best) of several repetitions, and the speed-up x = PyTorch / rft.
A benchmark, not a test; tools/bench/conv_layers.c times rft alone.

Run from the repository root after building librft, through tools/bench/conv_layers.sh, which
installs Debian's PyTorch and tcmalloc when missing, preloads tcmalloc as PyTorch's CPU builds do,
prints the machine (tools/bench/machine.py) and with --isa avx2 puts everything on its AVX2 path:
  tools/bench/conv_layers.sh [--isa avx2] [--net vgg16|allcnn_c] [--lib build/librft.so] [--batch 128]
      [--reps 10] [--threads 2] [--layers 2,9]
"""
import argparse
import ctypes
import statistics
import time

import torch

NETS = {  # cin, cout, input height = width, kernel, stride, padding; how often the network has each
    "vgg16": ([(3, 64, 32, 3, 1, 1), (64, 64, 32, 3, 1, 1), (64, 128, 16, 3, 1, 1), (128, 128, 16, 3, 1, 1),
               (128, 256, 8, 3, 1, 1), (256, 256, 8, 3, 1, 1), (256, 512, 4, 3, 1, 1), (512, 512, 4, 3, 1, 1),
               (512, 512, 2, 3, 1, 1)], [1, 1, 1, 1, 1, 2, 1, 2, 3]),
    "allcnn_c": ([(3, 96, 32, 3, 1, 1), (96, 96, 32, 3, 1, 1), (96, 96, 32, 3, 2, 1), (96, 192, 16, 3, 1, 1),
                  (192, 192, 16, 3, 1, 1), (192, 192, 16, 3, 2, 1), (192, 192, 8, 3, 1, 0), (192, 192, 6, 1, 1, 0),
                  (192, 10, 6, 1, 1, 0)], [1] * 9),
}
LAYERS, COUNT = [], []
PASSES = ("forward", "backward_input", "backward_params")


class Args(ctypes.Structure):
    _fields_ = [(f, ctypes.c_int) for f in ("kh", "kw", "stride_h", "stride_w", "pad_h", "pad_w")]


class Rft:
    """The few librft calls the benchmark needs, through ctypes."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.rft_last_error.restype = ctypes.c_char_p
        self.lib.rft_conv2d_backward_params.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_float] + [ctypes.c_void_p] * 2

    def check(self, rc):
        if rc:
            raise RuntimeError(self.lib.rft_last_error().decode())

    def tensor(self, t):
        """A new rft tensor holding a copy of the torch tensor t."""
        h = ctypes.c_void_p()
        shape = (ctypes.c_int64 * t.dim())(*t.shape)
        self.check(self.lib.rft_tensor_new(ctypes.byref(h), 0, 0, t.dim(), shape))
        t = t.contiguous()
        self.check(self.lib.rft_tensor_copy_from_host(h, ctypes.c_void_p(t.data_ptr()), ctypes.c_int64(t.numel() * 4)))
        return h


def out_size(hw, k, st, pad):
    return (hw + 2 * pad - k) // st + 1


def bench(rft, n, reps):
    rows = []
    torch.manual_seed(0)
    with torch.no_grad():
        for cin, cout, hw, k, st, pad in LAYERS:
            args = Args(k, k, st, st, pad, pad)
            ho = out_size(hw, k, st, pad)
            x, w = torch.randn(n, cin, hw, hw) * 0.1, torch.randn(cout, cin, k, k) * 0.1
            b, dy = torch.randn(cout) * 0.1, torch.randn(n, cout, ho, ho) * 0.1
            rx, rw, rb, rdy = (rft.tensor(t) for t in (x, w, b, dy))
            ry, rdx, rdw, rdb = (rft.tensor(t) for t in (torch.zeros(1), torch.zeros(1), w * 0, b * 0))

            def bwd(mask):
                return torch.ops.aten.convolution_backward(dy, x, w, [cout], [st, st], [pad, pad], [1, 1], False,
                                                           [0, 0], 1, mask)
            torch_calls = (lambda: torch.nn.functional.conv2d(x, w, b, stride=st, padding=pad),
                           lambda: bwd([True, False, False]),
                           lambda: bwd([False, True, True]))
            rft_calls = (lambda: rft.check(rft.lib.rft_conv2d_forward(ctypes.byref(args), rx, rw, rb, ry)),
                         lambda: rft.check(rft.lib.rft_conv2d_backward_input(ctypes.byref(args), rx, rw, rdy, rdx)),
                         lambda: rft.check(rft.lib.rft_conv2d_backward_params(ctypes.byref(args), rx, rdy, 1.0,
                                                                              rdw, rdb)))
            times = {(who, p): [] for who in ("torch", "rft") for p in range(3)}
            for r in range(reps + 2):                 # two warm-up rounds
                for p in range(3):
                    for who, f in (("torch", torch_calls[p]), ("rft", rft_calls[p])):
                        t0 = time.perf_counter()
                        f()
                        if r >= 2:
                            times[who, p].append((time.perf_counter() - t0) * 1e3)
            rows.append(times)
            for h in (rx, rw, rb, rdy, ry, rdx, rdw, rdb):
                rft.lib.rft_tensor_release(h)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build/librft.so")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", help="comma-separated layer numbers to run (default: all)")
    ap.add_argument("--net", default="vgg16", choices=sorted(NETS))
    opt = ap.parse_args()
    LAYERS[:], COUNT[:] = NETS[opt.net]
    if opt.layers:
        keep = [int(i) for i in opt.layers.split(",")]
        LAYERS[:] = [LAYERS[i - 1] for i in keep]
        COUNT[:] = [COUNT[i - 1] for i in keep]
    torch.set_num_threads(opt.threads)
    rft = Rft(opt.lib)
    rft.lib.rft_set_num_threads(opt.threads)
    rows = bench(rft, opt.batch, opt.reps)
    for stat_name, stat in (("median", statistics.median), ("best", min)):
        print(f"\n# {stat_name} of {opt.reps}, batch {opt.batch}, {opt.threads} threads, ms per call; "
              "x = PyTorch / rft")
        print("layer  cin cout hw k s |" + "|".join(f" {p:<15} torch    rft     x " for p in PASSES))
        tot = {(who, p): 0.0 for who in ("torch", "rft") for p in range(3)}
        flops = 0.0
        for i, (cin, cout, hw, k, st, pad) in enumerate(LAYERS):
            ho = out_size(hw, k, st, pad)
            flops += 3 * 2.0 * opt.batch * cout * ho * ho * cin * k * k
            line = f"conv{i + 1:<2} {cin:4} {cout:4} {hw:2} {k} {st} |"
            for p in range(3):
                t, r = stat(rows[i]["torch", p]), stat(rows[i]["rft", p])
                tot["torch", p] += t
                tot["rft", p] += r
                line += f" {'':15} {t:6.2f} {r:6.2f} {t / r:5.2f} |"
            print(line)
        line = "total" + " " * 17 + " |"
        for p in range(3):
            t, r = tot["torch", p], tot["rft", p]
            line += f" {'':15} {t:6.1f} {r:6.1f} {t / r:5.2f} |"
        print(line)
        st, sr = sum(tot["torch", p] for p in range(3)), sum(tot["rft", p] for p in range(3))
        print(f"all passes: PyTorch {st:.1f} ms = {flops / st * 1e-6:.0f} GFLOP/s, rft {sr:.1f} ms = "
              f"{flops / sr * 1e-6:.0f} GFLOP/s (direct-convolution FLOPs), x {st / sr:.2f}")
        # A step of the network: each layer as often as it has it, and no gradient for the images
        # (conv1's backward_input, when conv1 is in the list).
        step = {who: sum(COUNT[i] * stat(rows[i][who, p]) for i in range(len(LAYERS)) for p in range(3))
                for who in ("torch", "rft")}
        if LAYERS[0][0] == 3:
            step = {who: v - stat(rows[0][who, 1]) for who, v in step.items()}
        print(f"{opt.net} step's convolutions (layers x count {COUNT}, no input gradient): "
              f"PyTorch {step['torch']:.1f} ms, rft {step['rft']:.1f} ms, x {step['torch'] / step['rft']:.2f}")


if __name__ == "__main__":
    main()
