#!/usr/bin/env bash
# train_step.sh: rft against PyTorch on the same machine in one run: training-step and inference
# images/s (median of repetitions, with spread), the ratio rft/PyTorch and rft's share of the
# machine's fp32 peak, derived from its CPU flags, cores and clock by tools/bench/machine.py (printed
# first, with the CPU model). rft and PyTorch take turns model by model, so that load from elsewhere
# on a shared machine falls on both alike. PyTorch gets 2 threads and tcmalloc (glibc's malloc makes
# it re-fault large blocks every step); it is also run as installed (1 thread, glibc malloc) for
# reference. Installs PyTorch and tcmalloc from Debian when missing (tools/bench/deps.sh).
#   tools/bench/train_step.sh [--isa avx2] [--models vgg16,vgg16_w0.25,allcnn_c,fast,quick] [--batch 128] [--reps 5]
# --isa avx2: rft, its oneDNN and PyTorch all take their AVX2 code paths (on an AVX-512 CPU this
# emulates an AVX2 machine's code, not its clock or caches).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/bench/deps.sh
bench_deps
models=vgg16,vgg16_w0.25,allcnn_c,fast,quick
rest=()
while (($#)); do
  case "$1" in
    --models) models=$2; shift 2 ;;
    --isa)
      [ "$2" = avx2 ] || { echo "train_step.sh: --isa takes avx2, got '$2'" >&2; exit 2; }
      bench_force_avx2; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
/usr/bin/python3 tools/bench/machine.py
peak=$(/usr/bin/python3 tools/bench/machine.py --peak)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
preload=$([ -e $TCMALLOC ] && echo $TCMALLOC || true)
for m in ${models//,/ }; do
  build/rftlua tools/bench/train_step.lua --models "$m" "${rest[@]}" | tee -a "$tmp/rft.jsonl"
  LD_PRELOAD=$preload /usr/bin/python3 tools/bench/train_step_torch.py --models "$m" "${rest[@]}" | tee -a "$tmp/torch.jsonl"
  /usr/bin/python3 tools/bench/train_step_torch.py --threads 1 --models "$m" "${rest[@]}" | tee -a "$tmp/torch_default.jsonl"
done
/usr/bin/python3 - "$tmp" "$peak" <<'PY'
import json, sys
d, peak = sys.argv[1], float(sys.argv[2])
load = lambda f: {r["model"]: r for r in map(json.loads, open(f"{d}/{f}"))}
rft, tor, tdef = load("rft.jsonl"), load("torch.jsonl"), load("torch_default.jsonl")
print(f"\n{'model':<13}{'kind':<7}{'rft img/s':>16}{'torch img/s':>18}{'ratio':>7}{'rft %peak':>10}{'torch as installed':>20}")
for m, r in rft.items():
    g = r["forward_gflop_per_image"]
    for kind, mult in (("train", 3), ("infer", 1)):
        a, t, t1 = r[f"{kind}_images_per_s"], tor[m][f"{kind}_images_per_s"], tdef[m][f"{kind}_images_per_s"]
        sa, st = r[f"{kind}_spread"], tor[m][f"{kind}_spread"]
        print(f"{m:<13}{kind:<7}{a:>8.1f} ({sa[0]:.0f}-{sa[1]:.0f}){t:>9.1f} ({st[0]:.0f}-{st[1]:.0f}){a/t:>7.2f}"
              f"{100*a*g*mult/peak:>9.1f}%{t1:>20.1f}")
PY
