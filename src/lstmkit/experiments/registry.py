"""The experiments by name: task, training settings and the paper's figures.

Every experiment trains each cell type with the same settings (``config``); only the cell
changes. ``paper`` quotes Hochreiter & Schmidhuber (1997) for the table the runner prints;
``paper_sequences`` is the paper's LSTM count of training sequences to success (the mean
over its trials), which our median is set against.

Example:
    >>> EXPERIMENTS["adding-100"].make_task(0).name
    'adding T=100'
    >>> get_experiment("adding-7")
    Traceback (most recent call last):
    ...
    ValueError: experiment: expected one of reber, long-lag, adding-100, adding-500, \
adding-1000, multiplication, order-6a, order-6b, copy, got 'adding-7'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .adding import AddingTask
from .base import Task
from .copy import CopyTask
from .long_lag import LongLagTask
from .multiplication import MultiplicationTask
from .reber import EmbeddedReberTask
from .temporal_order import TemporalOrderTask
from .training import TrainConfig


@dataclass(frozen=True)
class Experiment:
    """One experiment: how to make its task for a seed, how to train, what the paper found."""

    name: str
    title: str
    make_task: Callable[[int], Task]
    config: TrainConfig
    paper: dict[str, str] = field(default_factory=dict)
    paper_sequences: int | None = None
    milestone_wrong: int | None = None  # a second, coarser level the table also reports
    milestone_sequences: int | None = None  # the paper's count for that level


def _experiments() -> dict[str, Experiment]:
    def cfg(check: int, budget: int, chrono: int = 0) -> TrainConfig:
        return TrainConfig(lr=1e-2, check_every=check, budget=budget, chrono=chrono)

    rows = [
        Experiment(
            "reber", "1: embedded Reber grammar", lambda seed: EmbeddedReberTask(seed),
            cfg(1000, 100_000),
            {"lstm": "97-100 % (means 8,440-39,740)", "elman": "0 % (Elman net, > 200,000)",
             "rnn": "RTRL: some runs (25,000-173,000)"}, 8_440,
        ),
        Experiment(
            "long-lag", "2a: noise-free long time lag, p = 100", lambda _: LongLagTask(100),
            replace(cfg(1000, 20_000, chrono=100), batch_size=8, skip=True, layer_norm=True),
            {"lstm": "100 % (mean 5,040)", "rnn": "0 % (BPTT and RTRL, > 5,000,000)"}, 5_040,
        ),
        *(
            Experiment(
                f"adding-{t}", f"4: adding problem, T = {t}", lambda _, t=t: AddingTask(t),
                cfg(check, 100_000, chrono=t), {"lstm": f"mean {paper:,}"}, paper,
            )
            for t, check, paper in ((100, 2000, 74_000), (500, 2000, 209_000),
                                    (1000, 4000, 853_000))
        ),
        Experiment(
            "multiplication", "5: multiplication, T = 100",
            lambda _: MultiplicationTask(100), cfg(2000, 200_000, chrono=100),
            {"lstm": "mean 1,273,000 (<= 15 wrong), 482,000 (<= 170)"}, 1_273_000, 170, 482_000,
        ),
        *(
            Experiment(
                f"order-{v}", f"6{v[-1]}: temporal order, {n} symbols",
                lambda _, v=v: TemporalOrderTask(v), cfg(2000, budget, chrono=110),
                {"lstm": f"mean {paper:,}"}, paper,
            )
            for v, n, budget, paper in (("6a", 2, 100_000, 31_390), ("6b", 3, 200_000, 571_100))
        ),
        Experiment(
            "copy", "copy task, delay 100 (modern extra)", lambda _: CopyTask(100),
            replace(cfg(4000, 400_000, chrono=180), hidden_size=128, optimizer="rmsprop",
                    lr=4e-3, schedule="cosine", tune_below=0.0, layer_norm=True),
            {"lstm": "not in the paper"}, None,
        ),
    ]  # fmt: skip
    return {e.name: e for e in rows}


EXPERIMENTS = _experiments()


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; a clear error naming the choices otherwise."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment: expected one of {', '.join(EXPERIMENTS)}, got {name!r}")
    return EXPERIMENTS[name]
