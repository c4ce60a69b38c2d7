#!/usr/bin/env bash
# run.sh: builds rft's fuzz harnesses with clang (libFuzzer + AddressSanitizer + UndefinedBehavior-
# Sanitizer, librft itself instrumented) in build-fuzz/ and runs one of them on its seeds.
#   tools/fuzz/run.sh safetensors -runs=1000000     # the safetensors reader (Lua, through librft)
#   tools/fuzz/run.sh cifar10 -runs=1000000         # the CIFAR-10 batch reader (C)
# Extra arguments go to libFuzzer (-max_total_time=600, -jobs=..., ...). Needs clang, libclang-rt-14-dev
# and libomp-14-dev (tools/fuzz/README.md). New inputs go to build-fuzz/corpus-<name>/, findings to
# build-fuzz/<name>-crash-* . Run it with nice -n 19 on a shared machine: it uses one core.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: tools/fuzz/run.sh safetensors|cifar10 [libFuzzer options]}
shift
b=build-fuzz
for p in clang libclang-rt-14-dev libomp-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  command -v "$p" >/dev/null && continue
  echo "run.sh: $p is missing: sudo apt-get install clang libclang-rt-14-dev libomp-14-dev" >&2; exit 1
done
cmake -S . -B $b -DCMAKE_C_COMPILER=clang -DRFT_CUDA=OFF -DRFT_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined" >/dev/null
cmake --build $b --target rft -j2 >/dev/null
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iengine/include
       -Wl,--no-as-needed -L$b -lrft -Wl,-rpath,"$PWD/$b")
case $name in
  safetensors)
    clang "${flags[@]}" -DRFT_SOURCE_LUA_DIR="\"$PWD/lua\"" tools/fuzz/safetensors_fuzz.c \
      $(pkg-config --cflags --libs luajit) -o $b/fuzz_safetensors
    seeds=(tools/fuzz/corpus/safetensors spec/fixtures/hostile)
    # Lua's heap lives across inputs (its collector frees tensors later): no per-input leak check.
    opts=(-detect_leaks=0 -max_len=4096 -timeout=10 -dict=tools/fuzz/safetensors.dict) ;;
  cifar10)
    clang "${flags[@]}" tools/fuzz/cifar10_fuzz.c -o $b/fuzz_cifar10
    seeds=(tools/fuzz/corpus/cifar10)
    opts=(-max_len=12400 -timeout=10) ;;
  *) echo "run.sh: unknown harness '$name' (safetensors or cifar10)" >&2; exit 1 ;;
esac
mkdir -p $b/corpus-$name
export OMP_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
exec $b/fuzz_$name "${opts[@]}" -artifact_prefix=$b/$name- -print_final_stats=1 "$@" $b/corpus-$name "${seeds[@]}"
