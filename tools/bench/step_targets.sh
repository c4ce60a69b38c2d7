#!/usr/bin/env bash
# step_targets.sh: the two step-cost targets of the CPU speed work in one run, on the machine it
# prints first (tools/bench/machine.py):
#   - the two-view FMA step over [x ; x~] at most 2.05 plain steps of the clean batch, on fast,
#     VGG-16/4 and VGG-16 (tools/bench/train_step.lua --fma; ST and AT beside it);
#   - the invariance step at most 1.05 plain steps, All-CNN-C at width 0.5 and 1, with and without
#     batch norm (tools/bench/invariance_overhead.lua; the factored step the recipe runs).
# Each ratio is the median over repetitions in which the kinds alternate; the spread follows it.
# Ends with one line per target: met or not. Nothing else should run on the machine meanwhile.
#   tools/bench/step_targets.sh [--reps 5] [--models fast,vgg16_w0.25,vgg16]
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=5
models=fast,vgg16_w0.25,vgg16
while (($#)); do
  case "$1" in
    --reps) reps=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    *) echo "step_targets.sh: unknown argument '$1' (--reps N, --models LIST)" >&2; exit 2 ;;
  esac
done
/usr/bin/python3 tools/bench/machine.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build/rftlua tools/bench/train_step.lua --fma --turns step --models "$models" --reps "$reps" | tee "$tmp/two_view.jsonl"
for w in 0.5 1; do
  build/rftlua tools/bench/invariance_overhead.lua --width "$w" --reps "$reps" --json "$tmp/inv_w${w}_bn.json"
  build/rftlua tools/bench/invariance_overhead.lua --width "$w" --no-bn --reps "$reps" --json "$tmp/inv_w${w}_nobn.json"
done
/usr/bin/python3 - "$tmp" <<'PY'
import glob, json, sys
d = sys.argv[1]
met = []
print(f"\n{'two-view step':<14}{'FMA':>22}{'ST':>8}{'AT':>8}   (plain steps of the clean batch; target FMA <= 2.05)")
for r in map(json.loads, open(f"{d}/two_view.jsonl")):
    lo, hi = r["fma_step_ratio_spread"]
    print(f"{r['model']:<14}{r['fma_step_ratio']:>8.2f} ({lo:.2f}-{hi:.2f}){r['st_step_ratio']:>8.2f}{r['at_step_ratio']:>8.2f}")
    met.append((f"FMA step on {r['model']}", r["fma_step_ratio"], 2.05))
print(f"\n{'invariance step':<26}{'wall':>8}{'CPU':>8}   (plain steps; target <= 1.05)")
for f in sorted(glob.glob(f"{d}/inv_*.json")):
    r = json.load(open(f))
    name = f"All-CNN-C w{r['width']:g}" + (" BN" if r["bn"] else " no BN")
    print(f"{name:<26}{r['inv_ratio']:>8.3f}{r['inv_cpu_ratio']:>8.3f}")
    met.append((f"invariance step, {name}", r["inv_ratio"], 1.05))
print()
for name, v, target in met:
    print(f"{name}: {v:.3f} {'<=' if v <= target else '>'} {target}: {'met' if v <= target else 'NOT met'}")
PY
