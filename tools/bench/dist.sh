#!/usr/bin/env bash
# dist.sh: the all-reduce's share of a data-parallel training step on this machine, 2 ranks of one
# thread each (mpirun binds one core per rank), against the same global batch in one process of 2
# threads; the all-reduce blocking after the backward pass, and overlapped with it in buckets
# (tools/bench/dist.lua says how each is timed). Prints the machine, one JSON line per model and rank
# count, and a table: step seconds without any all-reduce (compute), with the blocking one, with the
# overlapped one; the all-reduce's exposed share of each step (time inside the collective calls).
#   tools/bench/dist.sh [--models fast,vgg16_w0.25,vgg16] [--batch 128] [--reps 5] [--bucket-mb 4]
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v mpirun >/dev/null || { echo "dist.sh: mpirun not found (tools/setup.sh installs OpenMPI)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2)"
tmp=$(mktemp -d)
build/rftlua tools/bench/dist.lua "$@" | tee "$tmp/one.jsonl"
mpirun -np 2 build/rftlua tools/bench/dist.lua "$@" | tee "$tmp/two.jsonl"
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
load = lambda f: {r["model"]: r for r in map(json.loads, open(f"{d}/{f}"))}
one, two = load("one.jsonl"), load("two.jsonl")
print(f"\n{'':<13}{'':>11}{'':>8}{'1 proc':>8}{'2 ranks, step s':^27}{'all-reduce':>11}{'exposed share':^18}{'speed-up':>9}")
print(f"{'model':<13}{'params':>11}{'buckets':>8}{'step s':>8}{'compute':>9}{'blocking':>9}{'overlap':>9}"
      f"{'alone s':>11}{'blocking':>9}{'overlap':>9}{'overlap':>9}")
for m, r in two.items():
    print(f"{m:<13}{r['parameters']:>11}{r['buckets']:>8}{one[m]['blocking_s']:>8.3f}{r['compute_s']:>9.3f}"
          f"{r['blocking_s']:>9.3f}{r['overlapped_s']:>9.3f}{r['allreduce_s']:>11.4f}"
          f"{100*r['share_blocking']:>8.1f}%{100*r['share_overlapped']:>8.1f}%"
          f"{one[m]['blocking_s']/r['overlapped_s']:>9.2f}")
PY
rm -rf "$tmp"
