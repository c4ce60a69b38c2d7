#!/usr/bin/env bash
# aug.sh: rft's augmentation kernels against torchvision's closest operations on the same machine in
# one run: time per call (best of repetitions; medians in the JSON), images/s, GB/s and the speed ratio torch/rft
# (> 1: rft is faster), for 128x3x32x32 and 32x3x224x224 batches; then Combined± as a share of one
# training step of the default model. PyTorch gets 2 threads and tcmalloc, like train_step.sh.
#   tools/bench/aug.sh [--shapes 128x3x32x32,32x3x224x224] [--seconds 0.4] [--reps 7] [--kernels a,b]
#                      [--threads 2]   (both sides; on a busy machine, --threads 1 --seconds 0.002 --reps 200
#                      compares per-thread speed from the calls that ran undisturbed)
set -euo pipefail
cd "$(dirname "$0")/../.."
args=("$@")
tmp=$(mktemp -d)
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
build/rftlua tools/bench/aug.lua "${args[@]}" | tee "$tmp/rft.jsonl"
LD_PRELOAD=$([ -e $tcmalloc ] && echo $tcmalloc) /usr/bin/python3 tools/bench/aug_torch.py "${args[@]}" \
  2> >(grep -v -i warn >&2) | tee "$tmp/torch.jsonl"
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(f"{d}/rft.jsonl")]
tor = {(r["kernel"], r["shape"]): r for r in map(json.loads, open(f"{d}/torch.jsonl"))}
step = next((r for r in rows if "train_step" in r), None)
print("\nbest of the repetitions (median in parentheses)")
print(f"{'kernel':<16}{'batch':<14}{'rft ms':>17}{'img/s':>9}{'GB/s':>7}{'torch ms':>18}{'img/s':>9}{'GB/s':>7}{'torch/rft':>10}")
for r in rows:
    if "kernel" not in r:
        continue
    t = tor[(r["kernel"], r["shape"])]
    rm, tm = f"{r['ms']:.3f} ({r['median_ms']:.3f})", f"{t['ms']:.3f} ({t['median_ms']:.3f})"
    print(f"{r['kernel']:<16}{r['shape']:<14}{rm:>17}{r['images_per_s']:>9.0f}{r['gb_per_s']:>7.2f}"
          f"{tm:>18}{t['images_per_s']:>9.0f}{t['gb_per_s']:>7.2f}{t['ms'] / r['ms']:>10.2f}")
if step:
    for k in ("combined_plus", "combined_minus"):
        r = next((r for r in rows if r.get("kernel") == k and r["shape"] == "128x3x32x32"), None)
        if r:
            print(f"{k} on 128x3x32x32: {r['ms']:.3f} ms = {100 * r['ms'] / step['ms']:.1f} % of one training step "
                  f"of the default model ({step['ms']:.1f} ms)")
PY
rm -rf "$tmp"
