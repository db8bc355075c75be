"""Benchmarks: lstmkit's implementations side by side with torch's, in one run.

``run(quick=...)`` measures the grid of :mod:`lstmkit.bench.suite` and the one-step latency;
:func:`lstmkit.bench.report.save` writes RESULTS.md, results.json and a PNG plot. The
command line is ``lstmkit bench`` or ``python benchmarks/bench_cpu.py``.

Example:
    >>> from lstmkit.bench.suite import grid
    >>> len(grid(quick=True)) < len(grid())
    True
"""

from __future__ import annotations

import os

from ..progress import Progress
from .report import now
from .suite import cell_calls, grid, latency, run_point
from .timing import machine, sgemm_peak
from .variants import run_variant_point, variant_grid


def run(quick: bool = False, quiet: bool = False) -> dict:
    """Measure everything; the result is plain data (JSON-ready)."""
    points = grid(quick)
    variant_points = variant_grid(quick)
    budget = 0.5 if quick else 2.0
    info = machine()
    load_before = _load()
    peak = sgemm_peak()
    rows = []
    variant_rows = []
    # Untimed: the first calls of a process (thread pools starting, the kernels loading,
    # fresh memory) made the first grid point read 0.65 ms against 0.25 ms warm.
    run_point(points[0], budget_s=0.1)
    with Progress(len(points) + len(variant_points) + 2, "benchmark", quiet=quiet) as bar:
        for point in points:
            rows.append(run_point(point, budget_s=budget))
            bar.update(ratio=rows[-1]["seconds"]["fused"] / rows[-1]["seconds"]["torch"])
        for vpoint in variant_points:
            variant_rows.append(run_variant_point(vpoint, budget_s=budget))
            bar.update()
        lat = latency()
        bar.update()
        calls = cell_calls()
        bar.update()
    # Other processes distort absolute times; the load shows how quiet the machine was.
    info["load average (1 min) before / after"] = f"{load_before} / {_load()}"
    return {
        "date": now(),
        "quick": quick,
        "machine": info,
        "sgemm_gflops": peak,
        "points": rows,
        "latency": lat,
        "cell_calls": calls,
        "variants": variant_rows,
    }


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # not available on every platform
        return "unknown"
