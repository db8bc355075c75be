"""Timing helpers for the benchmarks: interleaved medians, the SGEMM peak, the machine.

Implementations compared at one grid point are run *interleaved* (one call of each in
turn, repeated), so a change of machine load during the measurement affects all of them
alike and their ratios stay meaningful.

Example:
    >>> times = interleaved({"a": lambda: None, "b": lambda: None}, min_reps=3, budget_s=0.01)
    >>> sorted(times), all(t >= 0 for t in times.values())
    (['a', 'b'], True)
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import torch


def interleaved(
    fns: dict[str, Callable[[], object]],
    min_reps: int = 3,
    max_reps: int = 15,
    budget_s: float = 2.0,
) -> dict[str, float]:
    """Median wall time (s) of each function, the calls interleaved.

    Each function runs once to warm up; then each gets as many repetitions as fit its share
    of ``budget_s`` (at least ``min_reps``, at most ``max_reps``), taken in turns.
    """
    first = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - start
    share = budget_s / max(len(fns), 1)
    reps = {k: int(min(max_reps, max(min_reps, share / max(t, 1e-9)))) for k, t in first.items()}
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for round_ in range(max(reps.values())):
        for name, fn in fns.items():
            if round_ < reps[name]:
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in samples.items()}


def per_call(fn: Callable[[], object], calls: int = 200, repeats: int = 7) -> float:
    """Median time (s) of one call of a fast function, from ``repeats`` loops of ``calls``."""
    fn()
    loops = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        loops.append((time.perf_counter() - start) / calls)
    return statistics.median(loops)


def sgemm_peak(size: int = 2048) -> float:
    """GFLOP/s of a large float32 matrix product with all of torch's threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds = min(per_call(lambda: a @ b, calls=3, repeats=5) for _ in range(2))
    return 2 * size**3 / seconds / 1e9


def machine() -> dict[str, str]:
    """CPU model, cores, SIMD flags, torch and library versions."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model in ("", platform.machine()):
                    model = value.strip()
                if key.strip() == "flags" and not flags:
                    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "avx512_vnni")
                    flags = " ".join(f for f in value.split() if f in wanted)
    except OSError:
        pass
    parallel = torch.__config__.parallel_info()
    onednn = next((ln.strip() for ln in parallel.splitlines() if "MKL-DNN" in ln), "")
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "simd flags": flags or "unknown",
        "torch": torch.__version__,
        "onednn": onednn or "unknown",
        "python": platform.python_version(),
    }
