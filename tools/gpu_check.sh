#!/usr/bin/env bash
# gpu_check.sh: rft's GPU check in one command, for a bare machine with one NVIDIA GPU and the CUDA
# toolkit but possibly no package registry. It builds rft with the CUDA backend, runs every CUDA parity
# spec (spec/cuda) with CUDA_LAUNCH_BLOCKING=1 (so an asynchronous error names its statement), the
# main job (recipes/fma_ca_cifar.lua) at a small size with --device cuda, and the GPU benchmark
# (tools/bench/gpu.sh) at a small size, and writes one report, all within --budget seconds (480).
#
#   tools/gpu_check.sh --fetch [--data DIR]    here, where apt works: the kit for the GPU machine
#   tools/gpu_check.sh [--report FILE]         there (or here with RFT_CUDA_SPECS_ON_CPU=1, below)
#
# The kit (build-gpu-check/, ignored by git; carry it along with the working tree) holds:
#   debs/              the Debian packages rft builds and tests with (LuaJIT, busted and its Lua
#                      modules, argparse, cjson, libpng, readline, oneDNN, pkgconf), as .deb files.
#                      On the GPU machine they are unpacked with dpkg-deb -x into a private root
#                      ($TMPDIR/rft-gpu-root), never installed, and reached through PATH,
#                      LD_LIBRARY_PATH, PKG_CONFIG_PATH, CMAKE_PREFIX_PATH, LUA_PATH and LUA_CPATH.
#   cifar-10-small/    the first 1,200 images of each CIFAR-10 training file and 1,000 of the test
#                      file (the binary format, 22 MB): enough for the 45k/5k split's shape (6,000
#                      images, 5,000 held out) and a small main job.
# cuDNN is taken from the system, from $CUDNN_ROOT, or from the nvidia-cudnn Python package that a
# PyTorch install brings (a folder with libcudnn.so is made beside the unpacked root when the package
# has only libcudnn.so.9).
#
# With RFT_CUDA_SPECS_ON_CPU=1 there is no GPU to find: the flow runs with the CPU standing in (a
# CPU-only build unless --cuda on, the parity specs as their stand-in, the main job and the benchmark
# on the CPU). That checks this script, not the kernels.
# Other options: --build DIR (build), --kit DIR (build-gpu-check), --budget SECONDS (480),
# --cuda on|off (on; off only with the stand-in).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

kit=build-gpu-check build=build report="" budget=480 fetch=0 data="${RFT_DATA:-}" cuda=on
while [ $# -gt 0 ]; do
  case "$1" in
    --fetch) fetch=1; shift ;;
    --data) data=$2; shift 2 ;;
    --kit) kit=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --cuda) cuda=$2; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (--fetch, --data, --kit, --build, --report, --budget, --cuda)" >&2
       exit 2 ;;
  esac
done

# Top-level packages and the dependencies a CUDA machine's image may lack. Left out on purpose: the C
# library, libstdc++, libgcc, libgomp, zlib, ncurses' run-time libraries and the compiler (nvcc needs
# them there anyway), and Lua 5.x (busted runs under LuaJIT here, per .busted).
packages=(luajit libluajit-5.1-2 libluajit-5.1-common libluajit-5.1-dev
          lua-busted lua-cliargs lua-dkjson lua-filesystem lua-luassert lua-mediator lua-penlight lua-say
          lua-system lua-term lua-argparse lua-cjson
          libpng-dev libpng16-16 zlib1g-dev libreadline-dev libreadline8 readline-common libncurses-dev
          libdnnl-dev libdnnl2 pkgconf pkgconf-bin libpkgconf3)
small_train=1200 small_test=1000 record=3073   # CIFAR-10 binary: 1 label byte + 3x32x32 pixels

# ---- --fetch: here -----------------------------------------------------------------------------
if [ "$fetch" = 1 ]; then
  set -e
  mkdir -p "$kit/debs"
  rm -f "$kit"/debs/*.deb
  (cd "$kit/debs" && apt-get download "${packages[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed')
  [ -n "$data" ] || data=data/cifar-10-batches-bin
  [ -f "$data/test_batch.bin" ] || { echo "gpu_check.sh: no CIFAR-10 at $data (--data DIR or \$RFT_DATA)" >&2; exit 1; }
  small="$kit/cifar-10-small"
  mkdir -p "$small"
  for i in 1 2 3 4 5; do head -c $((small_train * record)) "$data/data_batch_$i.bin" > "$small/data_batch_$i.bin"; done
  head -c $((small_test * record)) "$data/test_batch.bin" > "$small/test_batch.bin"
  cp "$data/batches.meta.txt" "$small/"
  echo "gpu_check: kit in $kit ($(du -sh "$kit" | cut -f1)): $(ls "$kit/debs" | wc -l) packages, CIFAR-10 subset;" \
       "carry it to the GPU machine with the working tree and run tools/gpu_check.sh there"
  exit 0
fi

# ---- the check: there --------------------------------------------------------------------------
stand_in=0
[ "${RFT_CUDA_SPECS_ON_CPU:-}" = 1 ] && stand_in=1
[ "$stand_in" = 1 ] || cuda=on
start=$(date +%s)
logs=$(mktemp -d "${TMPDIR:-/tmp}/rft-gpu-check.XXXXXX")
if [ -z "$report" ]; then
  if [ -n "${OUT:-}" ]; then report="$OUT/gpu_check.md"; else report="$kit/report.md"; fi
fi
mkdir -p "$(dirname "$report")"
report_dir=$(cd "$(dirname "$report")" && pwd)
phases=()          # "name|status|seconds|log"
notes=()

left() { echo $((budget - ($(date +%s) - start))); }

# Runs one phase under a time limit (at most cap seconds, at most what is left of the budget),
# logging to $logs/<name>.log; records its status (ok, FAILED rc, TIMED OUT, skipped).
phase() {
  local name=$1 cap=$2; shift 2
  local limit; limit=$(left)
  [ "$cap" -lt "$limit" ] && limit=$cap
  local log="$logs/$name.log" t0; t0=$(date +%s)
  if [ "$limit" -le 5 ]; then
    phases+=("$name|skipped: budget spent|0|$log"); echo "skipped: the budget was spent" > "$log"; return 1
  fi
  echo "gpu_check: $name (at most ${limit}s)"
  # bash -c runs a command or a function of this script (exported with export -f)
  timeout --kill-after=10 "$limit" bash -c '"$@"' bash "$@" > "$log" 2>&1
  local rc=$? status=ok
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && status="TIMED OUT after ${limit}s"
  [ $rc -ne 0 ] && [ "$status" = ok ] && status="FAILED (exit $rc)"
  phases+=("$name|$status|$(($(date +%s) - t0))|$log")
  [ $rc -eq 0 ]
}

# The kit's packages, unpacked into a private root and put in front of the search paths.
unpack_kit() {
  local root=$1 n=0
  mkdir -p "$root"
  for deb in "$repo/$kit"/debs/*.deb; do
    [ -f "$deb" ] || continue
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$deb" "$root"
    else                                  # no dpkg: a .deb is an ar archive holding data.tar.*
      (cd "$root" && ar p "$deb" "$(ar t "$deb" | grep '^data\.tar')" | tar -x -f - --auto-compress 2>/dev/null ||
       ar p "$deb" "$(ar t "$deb" | grep '^data\.tar')" | tar -xJ -f -)
    fi
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { echo "no packages in $kit/debs (tools/gpu_check.sh --fetch makes them)"; return 1; }
  local multi=usr/lib/x86_64-linux-gnu
  # .pc files say prefix=/usr; here it is the root
  find "$root" -name '*.pc' -exec sed -i "s#^prefix=/usr\$#prefix=$root/usr#" {} +
  # the alternatives links that installing would have made
  [ -e "$root/usr/bin/lua" ] || ln -sf luajit "$root/usr/bin/lua"
  for so in "$root/$multi"/*.so.*; do       # libfoo.so for every libfoo.so.N that has no -dev link
    local base=${so%%.so.*}.so
    [ -e "$base" ] || ln -sf "$(basename "$so")" "$base"
  done
  export PATH="$root/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$root/$multi${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_PATH="$root/$multi/pkgconfig:$root/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export CMAKE_PREFIX_PATH="$root/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export LUA_PATH="$root/usr/share/lua/5.1/?.lua;$root/usr/share/lua/5.1/?/init.lua;;"
  export LUA_CPATH="$root/$multi/lua/5.1/?.so;;"
  echo "unpacked $n packages into $root"
}

# cuDNN for the build: the system's, $CUDNN_ROOT, or PyTorch's nvidia-cudnn package.
find_cudnn() {
  local root=$1
  if [ -n "${CUDNN_ROOT:-}" ]; then echo "cuDNN: \$CUDNN_ROOT=$CUDNN_ROOT"; return 0; fi
  for h in /usr/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h /usr/local/cuda/include/cudnn.h; do
    [ -f "$h" ] && { echo "cuDNN: the system's ($h)"; return 0; }
  done
  local py pkg
  for py in python3 /opt/torch/.venv/bin/python3; do
    pkg=$("$py" -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null) && [ -n "$pkg" ] && break
  done
  if [ -z "$pkg" ] || [ ! -f "$pkg/include/cudnn.h" ]; then echo "cuDNN: not found (set CUDNN_ROOT)"; return 1; fi
  mkdir -p "$root/cudnn/lib"
  ln -sfn "$pkg/include" "$root/cudnn/include"
  for so in "$pkg"/lib/libcudnn*.so*; do ln -sf "$so" "$root/cudnn/lib/"; done
  [ -e "$root/cudnn/lib/libcudnn.so" ] || ln -sf "$pkg/lib/libcudnn.so.9" "$root/cudnn/lib/libcudnn.so"
  export CUDNN_ROOT="$root/cudnn"
  export LD_LIBRARY_PATH="$pkg/lib:$LD_LIBRARY_PATH"
  echo "cuDNN: the Python package at $pkg (through $CUDNN_ROOT)"
}

# Set-up, in this shell (its exports serve every phase): the kit unpacked, cuDNN found.
root="${TMPDIR:-/tmp}/rft-gpu-root"
rm -rf "$root"
t0=$(date +%s) setup_status=ok
if [ -d "$kit/debs" ]; then
  unpack_kit "$root" > "$logs/setup.log" 2>&1 || setup_status="FAILED (unpacking the kit)"
else
  notes+=("no kit ($kit/debs): the machine's own packages were used")
fi
if [ "$cuda" = on ]; then find_cudnn "$root" >> "$logs/setup.log" 2>&1 || setup_status="FAILED (no cuDNN)"; fi
for tool in cmake luajit busted pkg-config; do
  echo "$tool: $(command -v $tool || echo MISSING)" >> "$logs/setup.log"
done
phases+=("setup|$setup_status|$(($(date +%s) - t0))|$logs/setup.log")

gpu="" arch=""
if [ "$stand_in" = 1 ]; then
  gpu="none (RFT_CUDA_SPECS_ON_CPU=1: the CPU stands in)"
  device=cpu
else
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.[:space:]')
  [ -n "$gpu" ] || { echo "gpu_check.sh: no NVIDIA GPU (nvidia-smi found none); RFT_CUDA_SPECS_ON_CPU=1 runs the flow on the CPU" >&2; exit 1; }
  device=cuda
fi

# librft, rftlua and (with --cuda on) librft_cuda for this GPU's architecture only, which halves
# nvcc's work against the default list.
configure() {
  local flags=(-DRFT_CUDA=OFF)
  if [ "$cuda" = on ]; then
    flags=(-DRFT_CUDA=ON)
    [ -n "$arch" ] && flags+=("-DCMAKE_CUDA_ARCHITECTURES=$arch")
  fi
  [ ! -f "$build/CMakeCache.txt" ] && command -v ninja >/dev/null && flags+=(-G Ninja)
  cmake -S . -B "$build" "${flags[@]}" &&
    cmake --build "$build" -j"$(nproc)" &&
    { [ "$cuda" = off ] || [ -f "$build/librft_cuda.so" ] || { echo "no $build/librft_cuda.so was built"; false; }; }
}
export -f configure
export cuda arch build
built=1
[ "$setup_status" = ok ] && phase build 300 configure && built=0

export RFT_LIB="$repo/$build/librft.so" RFT_BUILD="$build"
smalldata="$kit/cifar-10-small"
[ -f "$smalldata/test_batch.bin" ] || smalldata="${RFT_DATA:-data/cifar-10-batches-bin}"

if [ $built -eq 0 ]; then
  # 1. every CUDA parity spec, each launch waited for
  phase cuda-specs 150 env CUDA_LAUNCH_BLOCKING=1 busted spec/cuda
  # 2. the main job at a small size
  # the CPU standing in trains at tens of images a second: a narrower model, fewer curve images
  main_cap=120 small=(--curve-images 500)
  [ "$stand_in" = 1 ] && main_cap=300 small=(--width 0.25 --curve-images 100)
  phase main-job $main_cap "$build/rftlua" recipes/fma_ca_cifar.lua --device "$device" --data "$smalldata" \
    --out "$logs/runs/fma_ca_small" --baseline "$logs/runs/baseline_small" --baseline-epochs 1 --epochs 2 \
    --paper-params "${small[@]}"
  # 3. the benchmark at a small size
  if [ "$stand_in" = 1 ]; then
    phase benchmark 90 "$build/rftlua" tools/bench/train_step.lua --device cpu --models fast --batch 32 --reps 1 --steps 2
  else
    phase benchmark 150 tools/bench/gpu.sh --models fast,vgg16_w0.25 --batches 128 --reps 2 --steps 5
  fi
fi

# ---- the report ----------------------------------------------------------------------------------
{
  echo "# rft GPU check"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo "- machine: $(uname -m), $(nproc) cores; GPU: $gpu${arch:+; compute capability $arch}"
  echo "- nvcc: $(nvcc --version 2>/dev/null | tail -1 || echo none); cmake: $(cmake --version 2>/dev/null | head -1)"
  echo "- wall time: $(($(date +%s) - start)) s of a $budget s budget"
  for n in "${notes[@]}"; do echo "- note: $n"; done
  echo
  echo "What only a GPU settles, in the order the phases test it: the CUDA build for this architecture and"
  echo "librft_cuda's loading (table size, cuDNN major); the parity specs with every launch waited for (ops"
  echo "against the CPU, deferred metrics folded on the device, crop_flip with host ids, cuDNN views of the"
  echo "64-byte-aligned flat buffer); the main job end to end on the device; then the step rates."
  echo
  echo "| phase | status | seconds |"
  echo "| --- | --- | --- |"
  for p in "${phases[@]}"; do IFS='|' read -r name status secs log <<< "$p"; echo "| $name | $status | $secs |"; done
  for p in "${phases[@]}"; do
    IFS='|' read -r name status secs log <<< "$p"
    echo
    echo "## $name: $status"
    echo
    echo '```'
    if [ "$name" = cuda-specs ] && grep -q -E '^(Failure|Error) ->' "$log"; then
      grep -E -A12 '^(Failure|Error) ->' "$log" | head -120    # busted prints them again at the end
    else
      tail -n 25 "$log"
    fi
    echo '```'
  done
} > "$report"
cp "$logs"/*.log "$report_dir"/ 2>/dev/null
echo "gpu_check: report in $report"
fails=0
for p in "${phases[@]}"; do IFS='|' read -r name status _ _ <<< "$p"; [ "$status" = ok ] || fails=$((fails + 1)); done
rm -rf "$logs"
[ $fails -eq 0 ]
