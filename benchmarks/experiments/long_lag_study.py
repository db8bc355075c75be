"""What makes experiment 2a (noise-free long time lag) learnable: three LSTM recipes, three p.

    python benchmarks/experiments/long_lag_study.py            # the runs, then the table
    python benchmarks/experiments/long_lag_study.py --report   # the table from results/

Every run trains the LSTM of experiment 2a exactly as the registry's ``long-lag`` entry does
(the paper's data, targets at every step and criterion; 64 cells, chrono initialisation
with T_max = p, the read-out also seeing the input, Adam, minibatches of 8, at most 20,000
sequences) and changes one thing, the recipe:

* ``tanh``: lstmkit's standard LSTM, h = o ⊙ tanh(c) (the recipe that failed first);
* ``NOAF``: Greff et al.'s "no output activation function", h = o ⊙ c, which is the 1997
  paper's own choice for this task (its output squashing h is the identity);
* ``layer norm``: h = o ⊙ tanh(LN(c)) with layer-normalised pre-activations (the registry's
  recipe; its p = 100 runs are the ones in the main table, results/long-lag/).

Runs are kept as ``results/long-lag-study/<recipe>-p<p>-seed<k>.json`` and reused. The table
between the study markers in RESULTS.md is rewritten from them.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from pathlib import Path

from studies import parse_study_args, rewrite_block

from lstmkit.experiments import EXPERIMENTS, parse_cell, summarize, train
from lstmkit.experiments.long_lag import LongLagTask
from lstmkit.experiments.runner import load_all, load_result, save_result

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
STUDY = RESULTS / "long-lag-study"
BEGIN, END = "<!-- long-lag-study:begin -->", "<!-- long-lag-study:end -->"
BASE = EXPERIMENTS["long-lag"].config
# recipe -> (cell, layer_norm)
RECIPES = {"tanh": ("lstm", False), "NOAF": ("lstm:NOAF", False), "layer norm": ("lstm", True)}
DELAYS = (20, 50, 100)


def study_path(recipe: str, p: int, seed: int) -> Path:
    return STUDY / f"{recipe.replace(' ', '-')}-p{p}-seed{seed}.json"


def run(recipe: str, p: int, seed: int, quiet: bool) -> None:
    """Train one recipe at delay ``p`` unless its result is stored (or in the main table)."""
    cell, layer_norm = RECIPES[recipe]
    config = replace(BASE, chrono=p, layer_norm=layer_norm)
    if (recipe, p) == ("layer norm", 100):
        return  # the registry's own runs
    path = study_path(recipe, p, seed)
    if path.exists():
        if load_result(path).config != asdict(config):
            raise ValueError(f"{path} was made with other settings; delete it to run again")
        return
    save_result(path, train(LongLagTask(p), parse_cell(cell), config, seed, quiet=quiet))


def entry(recipe: str, p: int) -> str:
    if (recipe, p) == ("layer norm", 100):
        results = load_all(RESULTS, "long-lag").get("lstm", [])
    else:
        paths = sorted(STUDY.glob(f"{recipe.replace(' ', '-')}-p{p}-seed*.json"))
        results = [load_result(path) for path in paths]
    if not results:
        return "-"
    s = summarize(results)
    if s.median is None:
        return f"{s.solved}/{s.runs}, none within {s.budget:,}"
    seqs = f"{s.median:,.0f}" if s.runs == 1 else f"{s.median:,.0f} ({s.low:,}-{s.high:,})"
    return f"{s.solved}/{s.runs}, {seqs}"


def table() -> str:
    head = "| Recipe | " + " | ".join(f"p = {p}" for p in DELAYS) + " |"
    lines = [head, "|---" * (len(DELAYS) + 1) + "|"]
    for recipe in RECIPES:
        lines.append(f"| {recipe} | " + " | ".join(entry(recipe, p) for p in DELAYS) + " |")
    return "\n".join(lines)


def write_report(path: Path) -> None:
    rewrite_block(path, BEGIN, END, table())


def main(argv: list[str] | None = None) -> int:
    args, recipes = parse_study_args(__doc__, RECIPES, argv)
    if not args.report:
        for p in DELAYS:
            for recipe in recipes:
                run(recipe, p, 0, args.quiet)
                write_report(HERE / "RESULTS.md")
    write_report(HERE / "RESULTS.md")
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
