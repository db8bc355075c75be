"""Regenerate every result in benchmarks/experiments/: the runs, the table, the figure.

    python benchmarks/experiments/run_all.py            # everything (hours on one core)
    python benchmarks/experiments/run_all.py --report   # tables, figure redrawn from its JSON

Runs are kept one JSON file each under ``results/`` and are reused, so the command can be
interrupted and started again; it continues with the first run that has no file. Runs go
in the order of ``PLAN`` (cheap before expensive). ``--cells`` / ``--experiments`` pick a
part, e.g. to run the LSTM and the other cells in two processes at once.
The tables between the markers in RESULTS.md (main table, ablations, the 2a and copy
studies of ``long_lag_study.py`` and ``copy_study.py``) are rewritten from the JSON files.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

# The two studies' tables, from this folder (the folder of a script is on sys.path).
import copy_study
import long_lag_study
import torch
from studies import replace_block

from lstmkit.experiments import (
    EXPERIMENTS,
    ablation_table,
    parse_cell,
    results_table,
    run_experiment,
)
from lstmkit.experiments.gradients import gradient_figure
from lstmkit.ops.spec import ABLATIONS

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
ABLATIONS_BEGIN, ABLATIONS_END = "<!-- ablations:begin -->", "<!-- ablations:end -->"

# (experiment, cell, seeds), in the order they are run: the LSTM first, the adding problem's
# long versions early; then the other cells, the slowest last.
LSTM_ORDER = ["reber", "adding-100", "order-6a", "adding-500", "adding-1000", "multiplication",
              "order-6b", "long-lag", "copy"]  # fmt: skip
# The ablations of Greff et al. (2017), seeds per task (the longer tasks get fewer).
ABLATION_SEEDS = {"reber": 3, "adding-100": 1, "order-6a": 1}
OTHERS = ["reber", "long-lag", "adding-100", "order-6a", "multiplication", "order-6b", "copy"]
PLAN = [
    *((name, "lstm", 3) for name in LSTM_ORDER),
    ("reber", "elman", 3),  # the paper's Elman net: Elman's one-step truncated training
    *((name, cell, 3) for name in OTHERS for cell in ("rnn", "gru")),
    ("adding-500", "gru", 3),
    ("adding-500", "rnn", 1),  # a failing run goes to its budget: slow at T = 500 and 1000
    *(("adding-1000", cell, 1) for cell in ("rnn", "gru")),
    # "V" is the peephole LSTM the ablations change; "NP" (no peepholes) is the plain "lstm"
    # above, the same network: it is not run twice.
    *(
        (name, f"lstm:{a}", seeds)
        for name, seeds in ABLATION_SEEDS.items()
        for a in ("V", *ABLATIONS)
        if a != "NP"
    ),
]
# Runs kept with an earlier recipe: the copy task's GRU and RNN rows were made with the
# registry's first copy recipe (the LSTM's is the registry's now; see copy_study.py).
EARLIER = {("copy", "gru"): copy_study.FIRST, ("copy", "rnn"): copy_study.FIRST}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}, "
        f"Python {platform.python_version()}, {platform.system()}"
    )


def write_report(path: Path) -> None:
    """Replace the tables between the markers of RESULTS.md (main table, ablations, the two
    studies) with ones built from results/."""
    names = list(EXPERIMENTS)
    table = f"{results_table(RESULTS, names)}\n\nMachine: {machine()}."
    text = replace_block(path.read_text(), BEGIN, END, table)
    text = replace_block(text, ABLATIONS_BEGIN, ABLATIONS_END, ablation_table(RESULTS, names))
    for study in (long_lag_study, copy_study):
        text = replace_block(text, study.BEGIN, study.END, study.table())
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", help="comma-separated cells to run, e.g. lstm or rnn,gru")
    parser.add_argument("--experiments", help="comma-separated experiment names")
    parser.add_argument("--seeds", type=int, help="at most this many seeds per run of the plan")
    parser.add_argument("--first-seed", type=int, default=0, help="skip the seeds below this")
    parser.add_argument(
        "--report",
        action="store_true",
        help="no training: the tables, and the figure redrawn from its numbers",
    )
    parser.add_argument("--no-figure", action="store_true", help="skip the gradient figure")
    parser.add_argument(
        "--replot", action="store_true", help="draw the figure again from its JSON numbers"
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cells = args.cells.split(",") if args.cells else None
    names = args.experiments.split(",") if args.experiments else None
    if not args.report:
        for name, cell, seeds in PLAN:
            if (cells is None or cell in cells) and (names is None or name in names):
                count = min(seeds, args.seeds) if args.seeds else seeds
                first, count = args.first_seed, count - args.first_seed
                if count > 0:
                    cell_ = parse_cell(cell)
                    run_experiment(
                        name, cell_, count, RESULTS, quiet=args.quiet, first_seed=first,
                        config=EARLIER.get((name, cell)),
                    )  # fmt: skip
                write_report(HERE / "RESULTS.md")
    write_report(HERE / "RESULTS.md")
    if not args.no_figure:  # measuring the curves trains networks: not with --report
        gradient_figure(
            HERE / "vanishing_gradient.png", quiet=args.quiet, replot=args.replot or args.report
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
