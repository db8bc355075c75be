"""CPU benchmark of lstmkit's fused kernels beside torch.nn, in one run.

Usage (from the repository root, in the project's environment):

    python benchmarks/bench_cpu.py            # the full grid, ~15 minutes on 2 cores
    python benchmarks/bench_cpu.py --quick    # a small part of it, ~1 minute

Writes RESULTS.md, results.json and bench_cpu.png next to this file (the same as
``lstmkit bench --out benchmarks``). Run it on a quiet machine: other processes change the
absolute times (the ratios, from interleaved calls, much less).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lstmkit.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--out", str(Path(__file__).resolve().parent), *sys.argv[1:]]))
