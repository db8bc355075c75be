"""The long-time-lag experiments of Hochreiter & Schmidhuber (1997), and a modern extra.

Each module holds one family's data generator with the paper's definition and success
criterion: :mod:`~lstmkit.experiments.reber` (experiment 1),
:mod:`~lstmkit.experiments.long_lag` (2a), :mod:`~lstmkit.experiments.adding` (4),
:mod:`~lstmkit.experiments.multiplication` (5), :mod:`~lstmkit.experiments.temporal_order`
(6a, 6b) and :mod:`~lstmkit.experiments.copy`. :mod:`~lstmkit.experiments.training` trains
a network until the criterion is met, counting training sequences;
:mod:`~lstmkit.experiments.registry` names the experiments and their settings;
:mod:`~lstmkit.experiments.runner` runs them over cells and seeds and tabulates the results;
:mod:`~lstmkit.experiments.gradients` draws the vanishing gradient.

Example:
    >>> from lstmkit.experiments import EXPERIMENTS, parse_cell
    >>> list(EXPERIMENTS)[:3], parse_cell("lstm:NFG").ablation
    (['reber', 'long-lag', 'adding-100'], 'NFG')
"""

from .models import Cell, SequenceModel, parse_cell
from .registry import EXPERIMENTS, Experiment, get_experiment
from .runner import ablation_table, results_table, run_experiment, summarize
from .training import RunResult, TrainConfig, train

__all__ = [
    "EXPERIMENTS",
    "Cell",
    "Experiment",
    "RunResult",
    "SequenceModel",
    "TrainConfig",
    "ablation_table",
    "get_experiment",
    "parse_cell",
    "results_table",
    "run_experiment",
    "summarize",
    "train",
]
