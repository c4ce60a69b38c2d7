#!/usr/bin/env bash
# gpu.sh: the GPU benchmark, rft against PyTorch on the same GPU in one run. For VGG-16, VGG-16/4 and
# All-CNN-C at batch 128 and 512: training-step and inference images/s (median of repetitions),
# rft's two-view FMA step and its Combined+ pipeline, each with its share of the device's fp32 and
# TF32 peaks; FP32 (the default, results close to the CPU's) and TF32 (RFT_TF32=1) both measured.
# Peaks: PEAK_FP32_TFLOPS and PEAK_TF32_TFLOPS, or looked up from nvidia-smi's name (H100/H200 SXM:
# 67 and 495 dense; H100 PCIe: 51 and 378; A100: 19.5 and 156).
#   tools/bench/gpu.sh [--models vgg16,vgg16_w0.25,allcnn_c] [--batches 128,512] [--reps 5] [--steps N]
# --steps: steps per repetition of rft's side (default: about 2 s of work); tools/gpu_check.sh runs a
# small size (fast and VGG-16/4, batch 128, 2 repetitions of 5 steps). $RFT_BUILD: the build folder
# whose rftlua runs (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
models=vgg16,vgg16_w0.25,allcnn_c batches=128,512 reps=5 steps=()
rftlua=${RFT_BUILD:-build}/rftlua
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --steps) steps=(--steps "$2"); shift 2 ;;
    *) echo "gpu.sh: unknown argument $1 (--models, --batches, --reps, --steps)" >&2; exit 2 ;;
  esac
done
name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
[ -n "$name" ] || { echo "gpu.sh: no NVIDIA GPU (nvidia-smi found none)" >&2; exit 1; }
case "$name" in
  *H100*PCIe*) fp32=51; tf32=378 ;;
  *H100*|*H200*) fp32=67; tf32=495 ;;
  *A100*) fp32=19.5; tf32=156 ;;
  *) fp32=0; tf32=0 ;;
esac
fp32=${PEAK_FP32_TFLOPS:-$fp32} tf32=${PEAK_TF32_TFLOPS:-$tf32}
echo "device: $name (peaks: fp32 $fp32, TF32 $tf32 TFLOP/s)"
tmp=$(mktemp -d)
py=$(command -v python3)
for b in ${batches//,/ }; do
  common=(--models "$models" --batch "$b" --reps "$reps")
  "$rftlua" tools/bench/train_step.lua --device cuda --fma "${common[@]}" "${steps[@]}" | sed 's/^{/{"tf32":false,/' >> "$tmp/rft.jsonl"
  RFT_TF32=1 "$rftlua" tools/bench/train_step.lua --device cuda --fma "${common[@]}" "${steps[@]}" | sed 's/^{/{"tf32":true,/' >> "$tmp/rft.jsonl"
  if "$py" -c 'import torch' 2>/dev/null; then
    "$py" tools/bench/train_step_torch.py --device cuda "${common[@]}" | sed 's/^{/{"tf32":false,/' >> "$tmp/torch.jsonl"
    "$py" tools/bench/train_step_torch.py --device cuda --tf32 "${common[@]}" | sed 's/^{/{"tf32":true,/' >> "$tmp/torch.jsonl"
  fi
done
touch "$tmp/torch.jsonl"
"$py" - "$tmp" "$fp32" "$tf32" <<'PY'
import json, sys
d, fp32, tf32 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
key = lambda r: (r["model"], r["batch"], r["tf32"])
load = lambda f: {key(r): r for r in map(json.loads, open(f"{d}/{f}"))}
rft, tor = load("rft.jsonl"), load("torch.jsonl")
share = lambda rate, g, mult: (f"{100*rate*g*mult/(fp32*1e3):5.1f}%/{100*rate*g*mult/(tf32*1e3):5.1f}%"
                               if fp32 and tf32 else "     n/a")
print(f"\n{'model':<12}{'batch':>6} {'math':<5}{'kind':<8}{'rft img/s':>11}{'torch img/s':>13}{'ratio':>7}"
      f"{'rft % of fp32/TF32 peak':>26}")
for k, r in rft.items():
    g = r["forward_gflop_per_image"]
    t = tor.get(k, {})
    for kind, mult in (("train", 3), ("infer", 1), ("fma", 6), ("augment", 0)):
        a = r.get(f"{kind}_images_per_s")
        if a is None:
            continue
        b = t.get(f"{kind}_images_per_s")
        ratio = f"{a/b:7.2f}" if b else "      -"
        print(f"{r['model']:<12}{r['batch']:>6} {'tf32' if r['tf32'] else 'fp32':<5}{kind:<8}{a:>11.0f}"
              f"{(f'{b:.0f}' if b else '-'):>13}{ratio}{(share(a, g, mult) if mult else '-'):>26}")
PY
rm -rf "$tmp"
