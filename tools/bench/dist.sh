#!/usr/bin/env bash
# dist.sh: the all-reduce's share of a data-parallel training step on this machine, 2 ranks of one
# thread each (mpirun binds one core per rank), against the same global batch in one process of 2
# threads. Prints the machine, one JSON line per model and rank count, and a table.
#   tools/bench/dist.sh [--models fast,vgg16_w0.25,vgg16] [--batch 128] [--reps 5]
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
print(f"\n{'model':<13}{'params':>11}{'1 proc step s':>15}{'2 ranks step s':>16}{'all-reduce s':>14}{'share':>8}{'speed-up':>10}")
for m, r in two.items():
    print(f"{m:<13}{r['parameters']:>11}{one[m]['step_s']:>15.3f}{r['step_s']:>16.3f}{r['allreduce_s']:>14.4f}"
          f"{100*r['share']:>7.1f}%{one[m]['step_s']/r['step_s']:>10.2f}")
PY
rm -rf "$tmp"
