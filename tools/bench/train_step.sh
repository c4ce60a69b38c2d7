#!/usr/bin/env bash
# train_step.sh: rft against PyTorch on the same machine in one run: training-step and inference
# images/s (median of repetitions, with spread), the ratio rft/PyTorch and rft's share of the
# machine's fp32 peak (PEAK_GFLOPS, default 447 for this project's 2-core AVX-512 VMs).
# PyTorch gets 2 threads and tcmalloc (glibc's malloc makes it re-fault large blocks every step);
# it is also run as installed (1 thread, glibc malloc) for reference.
#   tools/bench/train_step.sh [--models vgg16,vgg16_w0.25,allcnn_c] [--batch 128] [--reps 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
args=("$@")
peak=${PEAK_GFLOPS:-447}
tmp=$(mktemp -d)
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
build/rftlua tools/bench/train_step.lua "${args[@]}" | tee "$tmp/rft.jsonl"
LD_PRELOAD=$([ -e $tcmalloc ] && echo $tcmalloc) /usr/bin/python3 tools/bench/train_step_torch.py "${args[@]}" | tee "$tmp/torch.jsonl"
/usr/bin/python3 tools/bench/train_step_torch.py --threads 1 "${args[@]}" | tee "$tmp/torch_default.jsonl"
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
rm -rf "$tmp"
