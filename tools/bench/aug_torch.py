"""aug_torch.py: torchvision's side of the augmentation benchmark (tools/bench/aug.sh runs both).

One JSON line per (kernel, batch shape), as tools/bench/aug.lua prints: the time of one call, best
(the headline) and median over repetitions.
Each rft kernel is set beside torchvision's closest operation on a batched tensor (torch for the
two noises, which torchvision lacks):
  brightness      TF.adjust_brightness (multiplicative; rft's is additive)
  contrast        TF.adjust_contrast (grey-mean pivot; rft pivots on each channel's mean)
  saturation      TF.adjust_saturation (blend with luma grey; rft scales HSL saturation)
  gaussian_blur   TF.gaussian_blur 3x3 (reflect padding + depthwise conv)
  gaussian_noise  x + sigma * randn_like(x), clamp
  salt_pepper     x + rho * (rand < p) * (2 (rand < q) - 1), clamp
  affine          TF.affine bilinear (one matrix for the batch; rft draws one per image)
  hflip           TF.hflip
  crop            TF.pad 4 + TF.crop, made contiguous (RandomCrop(32, padding=4) on the batch)
  combined_*      the five ops above in the order B, S, GB, GN, SAP
"""
import argparse
import json
import time

import torch
import torchvision.transforms.functional as TF

ap = argparse.ArgumentParser()
ap.add_argument("--shapes", default="128x3x32x32,32x3x224x224")
ap.add_argument("--seconds", type=float, default=0.4)
ap.add_argument("--reps", type=int, default=7)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--kernels", default=None)
a = ap.parse_args()
torch.set_num_threads(a.threads)


def noise(x, sigma=0.075):
    return (x + sigma * torch.randn_like(x)).clamp_(0, 1)


def sap(x, p=0.025, q=0.5, rho=0.5):
    m = (torch.rand_like(x) < p).float()
    b = (torch.rand_like(x) < q).float()
    return (x + rho * m * (2 * b - 1)).clamp_(0, 1)


def blur(x):
    return TF.gaussian_blur(x, [3, 3], [0.675, 0.675])


def crop(x):
    h, w = x.shape[-2:]
    i, j = torch.randint(0, 9, (2,)).tolist()
    return TF.crop(TF.pad(x, [4]), i, j, h, w).contiguous()


def combined(x, delta, factor):
    x = (x + delta).clamp_(0, 1)
    x = TF.adjust_saturation(x, factor)
    return sap(noise(blur(x)))


kernels = {
    "brightness": lambda x: TF.adjust_brightness(x, 1.39),
    "contrast": lambda x: TF.adjust_contrast(x, 1.25),
    "saturation": lambda x: TF.adjust_saturation(x, 6.0),
    "gaussian_blur": blur,
    "gaussian_noise": noise,
    "salt_pepper": sap,
    "affine": lambda x: TF.affine(x, angle=10.0, translate=[2, 3], scale=1.1, shear=[5.0],
                                  interpolation=TF.InterpolationMode.BILINEAR),
    "hflip": TF.hflip,
    "crop": crop,
    "combined_plus": lambda x: combined(x, 0.39, 6.0),
    "combined_minus": lambda x: combined(x, -0.36, 0.0),
}
wanted = set(a.kernels.split(",")) if a.kernels else None

with torch.no_grad():
    for shape_s in a.shapes.split(","):
        shape = [int(d) for d in shape_s.split("x")]
        x = torch.rand(shape)
        nbytes = 2 * x.numel() * 4
        for name, f in kernels.items():
            if wanted and name not in wanted:
                continue
            f(x); f(x)
            t0 = time.perf_counter(); f(x); one = max(time.perf_counter() - t0, 1e-6)
            n = max(3, int(a.seconds / one))
            times = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                for _ in range(n):
                    f(x)
                times.append((time.perf_counter() - t0) / n)
            t = min(times)
            print(json.dumps({"kernel": name, "shape": shape_s, "ms": t * 1e3, "images_per_s": shape[0] / t,
                              "gb_per_s": nbytes / t / 1e9, "median_ms": sorted(times)[len(times) // 2] * 1e3,
                              "max_ms": max(times) * 1e3}), flush=True)
