#!/usr/bin/env bash
# test.sh: brings the build up to date and runs every busted spec under LuaJIT. The last line is
# "N passed, N failed, N skipped". Specs that read CIFAR-10 find it through $RFT_DATA and are
# pending without it. Extra arguments go to busted (e.g. spec/core).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d build ] || cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec busted "$@"
