"""Experiment 5 of Hochreiter & Schmidhuber (1997): the multiplication problem.

The inputs are those of the adding problem (:mod:`lstmkit.experiments.adding`) with values
in [0, 1]; the target is the product of the two marked values.

Example:
    >>> b = MultiplicationTask(20).sample(4, torch.Generator().manual_seed(0))
    >>> marked = torch.where(b.x[..., 1] == 1, b.x[..., 0], torch.ones(()))
    >>> bool(torch.allclose(marked.prod(1, keepdim=True), b.y))
    True
"""

from __future__ import annotations

import torch

from .adding import AddingTask, marked_pairs
from .base import Batch


class MultiplicationTask(AddingTask):
    """Experiment 5 of Hochreiter & Schmidhuber (1997): the multiplication problem.

    Definition (section 5.5): as the adding problem, but values are uniform in [0, 1], the
    first pair's value is set to 1.0 when it is marked, and the target at the sequence end
    is the product X1 * X2. T = 100.

    Criterion: a sequence is wrong when the absolute error at its end exceeds 0.04. The
    paper stops training when fewer than n_seq of the 2000 most recent training sequences
    are wrong and reports two levels: n_seq = 140 (139 of 2560 test sequences wrong, after
    482,000 sequences) and n_seq = 13 (14 of 2560 wrong, after 1,273,000), "never more
    than 170 (15)" wrong. Success here is the finer level: at most 15 wrong of 2560;
    the run's history also gives when it first had at most 170 wrong.
    """

    max_wrong = 15
    coarse_wrong = 170  # the paper's n_seq = 140 level

    def __init__(self, steps: int = 100) -> None:
        super().__init__(steps)
        self.name = f"multiplication T={steps}"

    def sample(self, n: int, generator: torch.Generator) -> Batch:
        x, lengths, marked = marked_pairs(n, self.steps, 0.0, 1.0, generator)
        return Batch(x, lengths, marked.prod(1, keepdim=True))
