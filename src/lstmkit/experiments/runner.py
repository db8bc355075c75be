"""Run experiments over cells and seeds, keep every result, and tabulate them.

Each finished run is written at once to its own JSON file,
``<root>/<experiment>/<cell>-seed<k>.json`` (written to a temporary name, then renamed), so
an interrupted batch of runs loses at most the run in progress, a second invocation skips
what is done, and separate processes can share a root as long as they run different runs.

Example:
    >>> import tempfile
    >>> from lstmkit.experiments.models import parse_cell
    >>> root = tempfile.mkdtemp()
    >>> runs = run_experiment("adding-100", parse_cell("lstm"), seeds=1, root=root,
    ...                       budget=64, quiet=True)
    >>> [r.seen for r in runs], result_path(root, "adding-100", "lstm", 0).exists()
    ([64], True)
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..ops.spec import ABLATIONS
from .models import VANILLA, Cell
from .registry import Experiment, get_experiment
from .training import RunResult, TrainConfig, train

# Settings added after runs were first stored, with the value those runs were made with: a
# stored run without the key was made with that value.
ADDED_SETTINGS = {"layer_norm": False, "optimizer": "adam", "schedule": "constant"}


def result_path(root: str | Path, experiment: str, cell: str, seed: int) -> Path:
    """Where the result of one run is kept."""
    return Path(root) / experiment / f"{cell.replace(':', '-')}-seed{seed}.json"


def save_result(path: Path, result: RunResult) -> None:
    """Write ``result`` as strict JSON, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(result), indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)


def load_result(path: Path) -> RunResult:
    """Read a result written by :func:`save_result`."""
    data = json.loads(path.read_text(), parse_constant=_no_constants)
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data["config"] = {**ADDED_SETTINGS, **data["config"]}
    try:
        result = RunResult(**data)
    except TypeError as error:
        raise ValueError(f"{path}: not a run result ({error})") from None
    result.history = [tuple(h) for h in result.history]
    result.training = [tuple(h) for h in result.training]
    return result


def _no_constants(name: str) -> None:
    raise ValueError(f"expected strict JSON, got {name}")


def run_experiment(
    name: str,
    cell: Cell,
    seeds: int,
    root: str | Path,
    budget: int | None = None,
    quiet: bool = False,
    first_seed: int = 0,
    config: TrainConfig | None = None,
) -> list[RunResult]:
    """Runs of experiment ``name`` with seeds ``first_seed`` .. ``first_seed + seeds - 1``,
    reusing finished ones (start processes at different ``first_seed`` to run in parallel).
    ``config`` replaces the experiment's own settings (e.g. to keep runs of an earlier
    recipe); ``budget``, when given, replaces the budget of either."""
    experiment = get_experiment(name)
    config = experiment.config if config is None else config
    config = config if budget is None else replace(config, budget=budget)
    results = []
    for seed in range(first_seed, first_seed + seeds):
        path = result_path(root, name, cell.label, seed)
        if path.exists():
            result = load_result(path)
            if result.config != asdict(config):
                raise ValueError(
                    f"{path} was made with other settings ({result.config}); delete it or "
                    "choose another results directory"
                )
        else:
            result = train(experiment.make_task(seed), cell, config, seed, quiet=quiet)
            save_result(path, result)
        results.append(result)
    return results


def load_all(root: str | Path, name: str) -> dict[str, list[RunResult]]:
    """Every stored result of experiment ``name``, by cell label, in seed order."""
    found: dict[str, list[RunResult]] = {}
    folder = Path(root) / name
    for path in sorted(folder.glob("*.json"), key=lambda p: _seed_key(p.stem)):
        result = load_result(path)
        found.setdefault(result.cell, []).append(result)
    return found


def _seed_key(stem: str) -> tuple[str, int]:
    cell, _, seed = stem.rpartition("-seed")
    return cell, int(seed) if seed.isdigit() else -1


@dataclass
class Summary:
    """Success rate and training sequences to success of one cell on one experiment."""

    runs: int
    solved: int
    median: float | None  # of the successful runs
    low: int | None
    high: int | None
    budget: int


def summarize(results: list[RunResult], level: int | None = None) -> Summary:
    """Summary of ``results``; ``level``: count success as at most that many wrong instead."""
    counts = [milestone(r, level) for r in results]
    done = [c for c in counts if c is not None]
    return Summary(
        runs=len(results),
        solved=len(done),
        median=statistics.median(done) if done else None,
        low=min(done) if done else None,
        high=max(done) if done else None,
        budget=max((r.config["budget"] for r in results), default=0),
    )


def milestone(result: RunResult, level: int | None = None) -> int | None:
    """Sequences seen at the first check with at most ``level`` wrong (default: success)."""
    if level is None:
        return result.sequences
    return next((seen for seen, wrong, _ in result.history if wrong <= level), None)


def experiment_rows(experiment: Experiment, found: dict[str, list[RunResult]]) -> list[str]:
    """Markdown table rows for one experiment: one per cell, LSTM first; the LSTM ablations
    ("lstm:NAME") are left to :func:`ablation_table`."""
    rows = []
    for cell in sorted((c for c in found if ":" not in c), key=lambda c: (c != "lstm", c)):
        s = summarize(found[cell])
        size, paper = found[cell][0].test_size, experiment.paper_sequences
        rows.append(_row(experiment, cell, s, size, found[cell][0].max_wrong, paper))
        if experiment.milestone_wrong is not None:
            level = experiment.milestone_wrong
            coarse = summarize(found[cell], level)
            label = f"{cell} (<= {level} wrong)"
            rows.append(
                _row(experiment, label, coarse, size, level, experiment.milestone_sequences)
            )
    return rows


def _row(
    experiment: Experiment,
    cell: str,
    s: Summary,
    test_size: int,
    max_wrong: int,
    paper_n: int | None,
) -> str:
    rate = f"{s.solved}/{s.runs} ({100 * s.solved / s.runs:.0f} %)"
    if s.median is None:
        seqs = f"none within {s.budget:,}"
    else:
        seqs = f"{s.median:,.0f} ({s.low:,}-{s.high:,})" if s.runs > 1 else f"{s.median:,.0f}"
    kind = cell.split(" ")[0].split(":")[0]
    paper = experiment.paper.get(kind, "-")
    ratio = "-"
    if s.median is not None and paper_n and kind == "lstm":
        ratio = f"{s.median / paper_n:.2f}"
    criterion = f"<= {max_wrong} of {test_size} wrong"
    return f"| {experiment.title} | {cell} | {criterion} | {rate} | {seqs} | {paper} | {ratio} |"


TABLE_HEAD = (
    "| Experiment | Cell | Success criterion | Runs solved | Training sequences to success, "
    "median (min-max) | Paper (1997): success (sequences) | Ours / paper |\n"
    "|---|---|---|---|---|---|---|"
)


def results_table(root: str | Path, names: list[str]) -> str:
    """The markdown results table of experiments ``names`` from the results under ``root``."""
    lines = [TABLE_HEAD]
    for name in names:
        found = load_all(root, name)
        if found:
            lines += experiment_rows(get_experiment(name), found)
    return "\n".join(lines)


def ablation_table(root: str | Path, names: list[str]) -> str:
    """The LSTM ablations of Greff et al. (2017) side by side, from the results under ``root``.

    One row for the LSTM, labelled "lstm (NP)" (it has no peepholes: Greff et al.'s "NP"),
    one for their peephole ("vanilla") LSTM ``"lstm:V"`` if it was run and one per ablation
    that was run; one column per experiment among ``names`` on which any was run. An entry
    reads "solved/runs, median sequences to success". The empty string when no ablation
    was run.
    """
    found = {name: load_all(root, name) for name in names}
    names = [n for n in names if any(":" in cell for cell in found[n])]
    variants = sorted({c for n in names for c in found[n] if ":" in c}, key=_ablation_order)
    if not variants:
        return ""
    titles = [get_experiment(n).title for n in names]
    lines = ["| Cell | " + " | ".join(titles) + " |", "|---" * (len(names) + 1) + "|"]
    for cell in ["lstm", *variants]:
        entries = [_entry(found[n].get(cell, [])) for n in names]
        label = "lstm (NP)" if cell == "lstm" else cell
        lines.append(f"| {label} | " + " | ".join(entries) + " |")
    return "\n".join(lines)


def _ablation_order(cell: str) -> tuple[int, str]:
    order = (VANILLA, *ABLATIONS)  # the base first, then Greff et al.'s order
    name = cell.partition(":")[2]
    return (order.index(name) if name in order else len(order), name)


def _entry(results: list[RunResult]) -> str:
    if not results:
        return "-"
    s = summarize(results)
    if s.median is None:
        return f"{s.solved}/{s.runs}, none within {s.budget:,}"
    return f"{s.solved}/{s.runs}, {s.median:,.0f}"
