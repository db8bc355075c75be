"""Timing helpers for the benchmarks: interleaved medians, the SGEMM peak, the machine.

Implementations compared at one grid point are run *interleaved*: in blocks of consecutive
calls, the blocks of all implementations taken in turns, a few rounds. A change of machine
load during the measurement then affects all of them alike, and each call is timed as in a
training or streaming loop, where the previous call ran the same layer. (Single calls in turn
would time every call with caches emptied by the other implementations: at B = 1, T = 100
that added 0.2-0.5 ms to a 0.3 ms call.) The first call of a block is not counted.

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
    rounds: int = 3,
) -> dict[str, float]:
    """Median wall time (s) of each function, the calls interleaved in blocks.

    Each function runs once to learn its time; then each gets as many counted calls as fit
    its share of ``budget_s`` (at least ``min_reps``, at most ``max_reps``), split over
    ``rounds`` blocks taken in turns; every block starts with one call that is not counted.
    """
    first = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - start
    share = budget_s / max(len(fns), 1)
    reps = {k: int(min(max_reps, max(min_reps, share / max(t, 1e-9)))) for k, t in first.items()}
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for round_ in range(rounds):
        for name, fn in fns.items():
            todo = reps[name] * (round_ + 1) // rounds - len(samples[name])
            if todo <= 0:
                continue
            fn()  # the block's first call: caches as the other functions left them
            for _ in range(todo):
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


def per_call_interleaved(
    fns: dict[str, Callable[[], object]], calls: int = 100, rounds: int = 15
) -> dict[str, float]:
    """Median time (s) of one call of each fast function: loops of ``calls`` calls, the
    functions' loops taken in turns for ``rounds`` rounds (as :func:`interleaved` does)."""
    loops: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            loops[name].append(per_call(fn, calls, 1))
    return {k: statistics.median(v) for k, v in loops.items()}


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
