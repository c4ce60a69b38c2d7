#!/usr/bin/env python3
"""machine.py: the facts every rft benchmark prints about the machine it ran on: CPU model, whether
the vector path is AVX-512 or AVX2 (and whether AVX2 was forced on an AVX-512 CPU), threads, clock,
and the fp32 peak derived from them (never a constant):

    peak = FMA units x lanes x 2 flop x cores x clock
    Zen 3 (AVX2 + FMA): 2 FMA units x 8 lanes x 2 = 32 flop/cycle/core
    AVX-512 (Zen 4/5):  2 x 16 x 2 = 64 flop/cycle/core (Zen 5 runs 512-bit FMAs at full width)

The clock is lscpu's "CPU max MHz" where the machine reports one, else /proc/cpuinfo's "cpu MHz"
(virtual machines often report only the latter). Threads: OMP_NUM_THREADS,
else the CPUs this process may run on. The AVX2 path counts as forced when RFT_CPU_ISA=avx2 or
ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA name an ISA below AVX-512.

    tools/bench/machine.py            one line starting "# machine:", for a benchmark's header
    tools/bench/machine.py --peak     the peak in GFLOP/s alone (for scripts)
    tools/bench/machine.py --json     all of it as one JSON object
"""
import json
import os
import re
import subprocess
import sys


def cpuinfo():
    model, mhz, flags = "unknown CPU", None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key, val = key.strip(), val.strip()
                if key == "model name" and model == "unknown CPU":
                    model = val
                elif key == "cpu MHz" and mhz is None:
                    mhz = float(val)
                elif key == "flags" and not flags:
                    flags = set(val.split())
    except OSError:
        pass
    return model, mhz, flags


def max_mhz():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return None
    m = re.search(r"^CPU max MHz:\s*([0-9.]+)", out, re.M)
    return float(m.group(1)) if m else None


def forced_avx2():
    if os.environ.get("RFT_CPU_ISA", "").lower() == "avx2":
        return True
    lim = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or ""
    return bool(lim) and not lim.upper().startswith("AVX512") and lim.upper() != "ALL"


def facts():
    model, cur_mhz, flags = cpuinfo()
    mhz, clock_src = max_mhz(), "lscpu max MHz"
    if mhz is None:
        mhz, clock_src = cur_mhz, "/proc/cpuinfo cpu MHz"
    has512 = "avx512f" in flags
    has2 = "avx2" in flags and "fma" in flags
    forced = has512 and forced_avx2()
    if has512 and not forced:
        isa, per_cycle = "AVX-512", 64
    elif has2:
        isa, per_cycle = "AVX2+FMA" + (" (forced on an AVX-512 CPU)" if forced else ""), 32
    else:
        isa, per_cycle = "SSE", 8
    threads = os.environ.get("OMP_NUM_THREADS")
    threads = int(threads) if threads else len(os.sched_getaffinity(0))
    peak = per_cycle * threads * (mhz or 0) / 1000.0
    return {"cpu": model, "isa": isa, "avx512_cpu": has512, "threads": threads, "mhz": mhz,
            "clock_source": clock_src, "flop_per_cycle_per_core": per_cycle, "peak_gflops": round(peak, 1)}


def line(f):
    return (f"# machine: {f['cpu']}, {f['isa']}, {f['threads']} threads, {f['mhz']:.0f} MHz ({f['clock_source']}), "
            f"fp32 peak {f['peak_gflops']:.0f} GFLOP/s = {f['flop_per_cycle_per_core']} flop/cycle/core x "
            f"{f['threads']} x {f['mhz'] / 1000:.2f} GHz")


if __name__ == "__main__":
    f = facts()
    if "--peak" in sys.argv[1:]:
        print(f["peak_gflops"])
    elif "--json" in sys.argv[1:]:
        print(json.dumps(f))
    else:
        print(line(f))
