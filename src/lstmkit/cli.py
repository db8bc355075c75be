"""The ``lstmkit`` command: one subcommand per job.

Example:
    $ lstmkit demo             # train an LSTM on the adding problem and report
    $ lstmkit demo --steps 500 --quiet
    $ lstmkit bench --quick    # CPU kernels beside torch.nn; writes RESULTS.md and a plot
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .tasks.forecast import command as forecast_command


def _demo(args: argparse.Namespace) -> int:
    from .demo import report, run_demo

    result = run_demo(steps=args.steps, length=args.length, seed=args.seed, quiet=args.quiet)
    print(report(result, args.length))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .bench import run
    from .bench.report import save

    result = run(quick=args.quick, quiet=args.quiet)
    command = "lstmkit bench" + (" --quick" if args.quick else "")
    for path in save(result, Path(args.out), command):
        print(f"wrote {path}")
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="time the CPU kernels beside torch.nn (RESULTS.md)")
    bench.add_argument("--quick", action="store_true", help="a small part of the grid (~1 min)")
    bench.add_argument("--out", default=".", help="directory for RESULTS.md and the plot (.)")
    bench.add_argument("--quiet", action="store_true", help="no progress output")
    bench.set_defaults(run=_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstmkit", description="Long Short-Term Memory networks on PyTorch."
    )
    parser.add_argument("--version", action="version", version=f"lstmkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train an LSTM on a memory task and show what it learned")
    demo.add_argument("--steps", type=_positive, default=2000, help="training batches (2000)")
    demo.add_argument("--length", type=_positive, default=50, help="sequence length T (50)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (0)")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(run=_demo)
    forecast_command.add_parser(sub)
    _add_experiment_parser(sub)
    _add_bench(sub)
    return parser


def _experiment(args: argparse.Namespace) -> int:
    import torch

    from .experiments import (
        EXPERIMENTS,
        SequenceModel,
        ablation_table,
        results_table,
        run_experiment,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    cells = args.cell or [_cell("lstm")]
    try:
        for cell in cells:
            SequenceModel(cell, 1, 1, 1)  # an unknown ablation fails now, not after hours
        for name in names:
            for cell in cells:
                run_experiment(name, cell, args.seeds, args.results, args.budget, args.quiet)
    except ValueError as error:
        print(f"lstmkit experiment: error: {error}", file=sys.stderr)
        return 2
    print(results_table(args.results, names))
    ablations = ablation_table(args.results, names)
    if ablations:
        print(f"\n{ablations}")
    return 0


def _add_experiment_parser(sub: argparse._SubParsersAction) -> None:
    from .experiments import EXPERIMENTS

    exp = sub.add_parser(
        "experiment",
        help="run an experiment of Hochreiter & Schmidhuber (1997) and compare with the paper",
    )
    exp.add_argument("name", choices=[*EXPERIMENTS, "all"], help="which experiment, or all")
    exp.add_argument(
        "--cell",
        type=_cell,
        action="append",
        help="lstm, gru, rnn, elman, lstm:ABLATION (e.g. lstm:NIG) or lstm:V (peepholes); "
        "repeat for several (lstm)",
    )
    exp.add_argument("--seeds", type=_positive, default=3, help="runs, seeds 0 .. N-1 (3)")
    exp.add_argument("--budget", type=_positive, help="training sequences per run (per experiment)")
    exp.add_argument(
        "--results", default="out/experiments", help="folder of per-run JSON results, reused"
    )
    exp.add_argument("--threads", type=_positive, help="torch CPU threads (torch's default)")
    exp.add_argument("--quiet", action="store_true", help="no progress output")
    exp.set_defaults(run=_experiment)


def _cell(text: str):
    from .experiments import parse_cell

    try:
        return parse_cell(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("cell: ")) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
