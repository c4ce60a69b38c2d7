#!/usr/bin/env bash
# corrupt.sh: generation speed of the CIFAR-10-C corruptions, rft's engine (engine/corrupt/) against
# the reference generator (tools/fixtures/cifar_c_reference.py: the published generator's code on
# scikit-image, OpenCV, SciPy, Pillow and ImageMagick) on the same CIFAR-10 test images: images/s per
# corruption over its 5 severities, rft on one thread and on every core. Prints the machine first.
#   tools/bench/corrupt.sh [N]     (N test images per severity, default 50; keep it small on a shared machine)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-50}
[ -x build/rftlua ] || { echo "corrupt.sh: build rft first (tools/setup.sh)" >&2; exit 1; }
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg) (a busy machine slows both sides)"
/usr/bin/python3 tools/fixtures/cifar_c_reference.py --bench "$n"
