"""conv_layers_torch.py: rft against PyTorch on the convolutions of VGG-16 for CIFAR-10 (3x3,
padding 1, batch 128): forward, backward input and backward weights+bias per layer, both run in this
one process on the same data, alternating call by call so that load from elsewhere on the machine
hits both alike; median (and best) of several repetitions, and the speed-up x = PyTorch / rft.
A benchmark, not a test; tools/bench/conv_layers.c times rft alone.

Run from the repository root after building librft (Debian's PyTorch, tcmalloc as its CPU builds use):
  LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/bin/python3 \
      tools/bench/conv_layers_torch.py [--lib build/librft.so] [--batch 128] [--reps 10] [--threads 2]
      [--layers 2,9]
"""
import argparse
import ctypes
import statistics
import time

import torch

LAYERS = [(3, 64, 32), (64, 64, 32), (64, 128, 16), (128, 128, 16), (128, 256, 8), (256, 256, 8),
          (256, 512, 4), (512, 512, 4), (512, 512, 2)]  # cin, cout, height = width
COUNT = [1, 1, 1, 1, 1, 2, 1, 2, 3]  # how often VGG-16 has each: 13 convolutions
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


def bench(rft, n, reps):
    args = Args(3, 3, 1, 1, 1, 1)
    rows = []
    torch.manual_seed(0)
    with torch.no_grad():
        for cin, cout, hw in LAYERS:
            x, w = torch.randn(n, cin, hw, hw) * 0.1, torch.randn(cout, cin, 3, 3) * 0.1
            b, dy = torch.randn(cout) * 0.1, torch.randn(n, cout, hw, hw) * 0.1
            rx, rw, rb, rdy = (rft.tensor(t) for t in (x, w, b, dy))
            ry, rdx, rdw, rdb = (rft.tensor(t) for t in (torch.zeros(1), torch.zeros(1), w * 0, b * 0))

            def bwd(mask):
                return torch.ops.aten.convolution_backward(dy, x, w, [cout], [1, 1], [1, 1], [1, 1], False, [0, 0],
                                                           1, mask)
            torch_calls = (lambda: torch.nn.functional.conv2d(x, w, b, padding=1),
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
    opt = ap.parse_args()
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
        print("layer  cin cout hw |" + "|".join(f" {p:<15} torch    rft     x " for p in PASSES))
        tot = {(who, p): 0.0 for who in ("torch", "rft") for p in range(3)}
        flops = 0.0
        for i, (cin, cout, hw) in enumerate(LAYERS):
            flops += 3 * 2.0 * opt.batch * cout * hw * hw * cin * 9
            line = f"conv{i + 1:<2} {cin:4} {cout:4} {hw:2} |"
            for p in range(3):
                t, r = stat(rows[i]["torch", p]), stat(rows[i]["rft", p])
                tot["torch", p] += t
                tot["rft", p] += r
                line += f" {'':15} {t:6.2f} {r:6.2f} {t / r:5.2f} |"
            print(line)
        line = "total" + " " * 13 + " |"
        for p in range(3):
            t, r = tot["torch", p], tot["rft", p]
            line += f" {'':15} {t:6.1f} {r:6.1f} {t / r:5.2f} |"
        print(line)
        st, sr = sum(tot["torch", p] for p in range(3)), sum(tot["rft", p] for p in range(3))
        print(f"all passes: PyTorch {st:.1f} ms = {flops / st * 1e-6:.0f} GFLOP/s, rft {sr:.1f} ms = "
              f"{flops / sr * 1e-6:.0f} GFLOP/s (direct-convolution FLOPs), x {st / sr:.2f}")
        # A VGG-16 step: each layer as often as the network has it, and no gradient for the images
        # (conv1's backward_input, when conv1 is in the list).
        step = {who: sum(COUNT[i] * stat(rows[i][who, p]) for i in range(len(LAYERS)) for p in range(3))
                for who in ("torch", "rft")}
        if LAYERS[0][0] == 3:
            step = {who: v - stat(rows[0][who, 1]) for who, v in step.items()}
        print(f"VGG-16 step's convolutions (layers x count {COUNT}, no input gradient): "
              f"PyTorch {step['torch']:.1f} ms, rft {step['rft']:.1f} ms, x {step['torch'] / step['rft']:.2f}")


if __name__ == "__main__":
    main()
