"""train_step_torch.py: PyTorch's side of the training-step benchmark, the same models (built as in
tools/fixtures/models.py), batch, loss and optimizer as tools/bench/train_step.lua, one JSON line
per model. PyTorch gets its best: 2 threads, and tcmalloc preloaded by train_step.sh. With --device cuda
(tools/bench/gpu.sh) the same steps run on the GPU, cuDNN autotuned, TF32 only with --tf32."""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from models import allcnn_c, fast, quick, vgg16  # noqa: E402

SPECS = {
    "vgg16": lambda: vgg16(1, False),
    "vgg16_w0.25": lambda: vgg16(0.25, False),
    "allcnn_c": lambda: allcnn_c(1, False),
    "fast": lambda: fast(1),
    "quick": lambda: quick(1),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="vgg16,vgg16_w0.25,allcnn_c,fast,quick")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for name in a.models.split(","):
        net = SPECS[name]().to(dev)
        opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
        x = torch.rand(a.batch, 3, 32, 32, device=dev)
        y = torch.arange(a.batch, device=dev) % 10
        lossf = nn.CrossEntropyLoss()

        def train_step():
            opt.zero_grad()
            lossf(net(x), y).backward()
            opt.step()

        def infer():
            with torch.no_grad():
                net(x)

        res = {"model": name, "batch": a.batch, "torch": torch.__version__, "threads": torch.get_num_threads()}
        for kind, f in (("train", train_step), ("infer", infer)):
            net.train(kind == "train")
            f()
            f()
            sync()
            t0 = time.perf_counter()
            f()
            sync()
            steps = max(1, int(2 / (time.perf_counter() - t0)))
            rates = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                for _ in range(steps):
                    f()
                sync()
                rates.append(steps * a.batch / (time.perf_counter() - t0))
            rates.sort()
            res[kind + "_images_per_s"] = rates[len(rates) // 2]
            res[kind + "_spread"] = [rates[0], rates[-1]]
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
