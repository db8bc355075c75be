"""Can the LSTM solve the copy task (delay 100)? The registry's recipe and the ones before it.

    python benchmarks/experiments/copy_study.py                    # the runs, then the table
    python benchmarks/experiments/copy_study.py --recipes wide     # one recipe only
    python benchmarks/experiments/copy_study.py --report           # the table from results/

Every run trains the LSTM on the registry's ``copy`` task (10 symbols held over 110 steps,
the same data, test set and criterion: at most 3 of 2560 held-out sequences with a wrong
symbol) and changes the training recipe:

* ``adam-64``: the registry's first recipe (that of the other experiments): 64 cells, Adam
  with learning rate 0.01, chrono T_max = 120, 100,000 sequences;
* ``wide``: 128 cells, learning rate 0.002 (with 0.01 the loss jumped by up to a third at
  some checks once it had left the baseline), chrono T_max = 120, 300,000 sequences;
* ``wide-long``: the same, 600,000 sequences (the same seed: its first 300,000 are the
  ``wide`` run again);
* ``rmsprop``: 128 cells, RMSprop with learning rate 0.004 annealed to 0 by a cosine over
  the budget of 400,000 sequences, chrono T_max = 1.5 x 120 = 180 (as Tallec & Ollivier
  2018 set it for this task), no halving on plateaus;
* ``rmsprop-lr8e-3``: the same with twice the learning rate;
* ``registry``: the registry's recipe now (its runs are the main table's, results/copy/):
  ``rmsprop`` with layer normalisation (Ba et al. 2016) of both projections of the gates
  and of the cell state.

Gradient-norm clipping at 1.0 and minibatches of 32 are the same throughout. Runs are
kept as ``results/copy-study/<recipe>-seed<k>.json`` and reused; the table between the
study markers in RESULTS.md is rewritten from them.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from pathlib import Path

from studies import parse_study_args, rewrite_block

from lstmkit.experiments import EXPERIMENTS, TrainConfig, parse_cell, summarize, train
from lstmkit.experiments.copy import CopyTask
from lstmkit.experiments.runner import load_all, load_result, save_result

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
STUDY = RESULTS / "copy-study"
BEGIN, END = "<!-- copy-study:begin -->", "<!-- copy-study:end -->"
FIRST = TrainConfig(lr=1e-2, check_every=2000, budget=100_000, chrono=120)
WIDE = replace(FIRST, hidden_size=128, lr=2e-3, budget=300_000, check_every=4000)
NAMES = {"adam": "Adam", "rmsprop": "RMSprop"}
RECIPES = {
    "adam-64": FIRST,
    "wide": WIDE,
    "wide-long": replace(WIDE, budget=600_000),
    "rmsprop": replace(EXPERIMENTS["copy"].config, layer_norm=False),
    "rmsprop-lr8e-3": replace(EXPERIMENTS["copy"].config, layer_norm=False, lr=8e-3),
    "registry": EXPERIMENTS["copy"].config,
}


def study_path(recipe: str, seed: int) -> Path:
    return STUDY / f"{recipe}-seed{seed}.json"


def results(recipe: str) -> list:
    if recipe == "registry":
        return load_all(RESULTS, "copy").get("lstm", [])
    paths = sorted(STUDY.glob(f"{recipe}-seed*.json"))
    return [load_result(path) for path in paths]


def run(recipe: str, seed: int, quiet: bool) -> None:
    """Train one recipe unless its result is stored (the registry's runs are the main table's)."""
    if recipe == "registry":
        return
    config, path = RECIPES[recipe], study_path(recipe, seed)
    if path.exists():
        if load_result(path).config != asdict(config):
            raise ValueError(f"{path} was made with other settings; delete it to run again")
        return
    save_result(path, train(CopyTask(100), parse_cell("lstm"), config, seed, quiet=quiet))


def row(recipe: str) -> str:
    found, config = results(recipe), RECIPES[recipe]
    setting = f"{config.hidden_size} cells, {NAMES[config.optimizer]} lr {config.lr:g}"
    setting += f", T_max {config.chrono}, {config.budget:,} sequences"
    setting += ", cosine schedule" if config.schedule == "cosine" else ""
    setting += ", layer norm" if config.layer_norm else ""
    if not found:
        return f"| {recipe} | {setting} | not run | - | - |"
    s = summarize(found)
    seqs = "-" if s.median is None else f"{s.median:,.0f}"
    last = ", ".join(f"{r.history[-1][2]:.3f} ({r.wrong})" for r in found if r.history)
    return f"| {recipe} | {setting} | {s.solved}/{s.runs} | {seqs} | {last} |"


def table() -> str:
    head = "| Recipe | Settings | Runs solved | Sequences to success | Last test loss (wrong) |"
    return "\n".join([head, "|---|---|---|---|---|", *(row(r) for r in RECIPES)])


def write_report(path: Path) -> None:
    rewrite_block(path, BEGIN, END, table())


def main(argv: list[str] | None = None) -> int:
    args, recipes = parse_study_args(__doc__, RECIPES, argv)
    if not args.report:
        for recipe in recipes:
            run(recipe, 0, args.quiet)
    write_report(HERE / "RESULTS.md")
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
