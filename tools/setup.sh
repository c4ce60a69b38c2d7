#!/usr/bin/env bash
# setup.sh: installs rft's Debian packages (when missing) and builds librft and rftlua in build/.
#   tools/setup.sh            packages + Release build
#   RFT_SANITIZE=1 tools/setup.sh build-asan    an AddressSanitizer build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config luajit libluajit-5.1-dev lua-busted lua-argparse lua-cjson
          libpng-dev libreadline-dev libdnnl-dev libopenblas-dev gnuplot-nox openmpi-bin libopenmpi-dev
          libjpeg62-turbo-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=${1:-build}
sanitize=OFF; [ -n "${RFT_SANITIZE:-}" ] && sanitize=ON
cmake -S . -B "$build" -DRFT_SANITIZE=$sanitize >/dev/null
cmake --build "$build" -j"$(nproc)"
echo "setup: built $build/librft.so and $build/rftlua"
