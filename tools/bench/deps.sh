# deps.sh: sourced by the CPU benchmarks that run PyTorch beside rft (train_step.sh, conv_layers.sh):
# installs what they need from Debian when it is missing: PyTorch (python3-torch, which the benchmarks
# run as /usr/bin/python3) and tcmalloc (libtcmalloc-minimal4, preloaded for PyTorch as its own CPU
# builds do). Needs root or sudo only when something is missing.
bench_deps() {
  local missing=() p sudo=""
  for p in python3-torch libtcmalloc-minimal4; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "bench: installing ${missing[*]} from Debian" >&2
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The AVX2 path on any x86-64 CPU, for rft (RFT_CPU_ISA), oneDNN in rft and in PyTorch
# (ONEDNN_MAX_CPU_ISA; PyTorch 1.13's oneDNN 2.6 honours it and DNNL_MAX_CPU_ISA, its verbose output
# then says "isa:Intel AVX2") and PyTorch's own kernels (ATEN_CPU_CAPABILITY).
bench_force_avx2() {
  export RFT_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2
}

TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
