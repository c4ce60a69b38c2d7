#!/usr/bin/env bash
# conv_layers.sh: rft's conv2d against PyTorch's, layer by layer, in one process
# (tools/bench/conv_layers_torch.py), after the machine line (tools/bench/machine.py). Installs PyTorch
# and tcmalloc from Debian when missing and preloads tcmalloc for PyTorch.
#   tools/bench/conv_layers.sh [--isa avx2] [--net vgg16|allcnn_c] [--batch 128] [--reps 10] [--layers 2,9]
# --isa avx2: rft, its oneDNN and PyTorch all take their AVX2 code paths (tools/bench/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/bench/deps.sh
bench_deps
rest=()
while (($#)); do
  case "$1" in
    --isa)
      [ "$2" = avx2 ] || { echo "conv_layers.sh: --isa takes avx2, got '$2'" >&2; exit 2; }
      bench_force_avx2; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
/usr/bin/python3 tools/bench/machine.py
LD_PRELOAD=$([ -e $TCMALLOC ] && echo $TCMALLOC || true) /usr/bin/python3 tools/bench/conv_layers_torch.py "${rest[@]}"
