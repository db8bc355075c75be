"""Experiment 4 of Hochreiter & Schmidhuber (1997): the adding problem.

Definition (section 5.4 of the paper). Each step is a pair (value, marker). Values are
uniform in [-1, 1]. A sequence's length is uniform in [T, T + T/10]. Exactly two pairs are
marked with 1.0: first one of the first ten pairs (value X1), then one of the first T/2 - 1
still unmarked pairs, i.e. a position in [0, T/2) other than X1's (value X2). Every other
marker is 0, except those of the first and the final pair, which are -1. When the first
pair is marked its value is set to 0. Only at the sequence end is there a target:
0.5 + (X1 + X2) / 4, the sum scaled to [0, 1]. The minimal time lag is about T/2.

Criterion: a sequence is processed correctly when the absolute error at its end is at most
0.04. The paper tests on 2560 sequences and reports 1, 0 and 1 wrong for T = 100, 500 and
1000, "never more than 3": success here is at most 3 wrong of 2560 held-out sequences.

Paper (Table 7, means of 10 trials): solved after 74,000 (T = 100), 209,000 (T = 500) and
853,000 (T = 1000) training sequences.

Example:
    >>> task = AddingTask(20)
    >>> b = task.sample(3, torch.Generator().manual_seed(0))
    >>> b.x.shape, b.y.shape                  # (B, T + T/10, 2), (B, 1)
    (torch.Size([3, 22, 2]), torch.Size([3, 1]))
    >>> marked = b.x[..., 0] * (b.x[..., 1] == 1)
    >>> bool(torch.allclose(0.5 + marked.sum(1, keepdim=True) / 4, b.y))
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Batch, Task, final_units_wrong, uniform_int


def marked_pairs(
    n: int, steps: int, low: float, first_value: float, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """The inputs shared by the adding and the multiplication problem.

    Args:
        n: sequences. steps: T, the minimal length (>= 20, so the first ten pairs lie in
            the first half). low: values are uniform in [low, 1]. first_value: the value
            given to the first pair when it is marked. generator: the random source.

    Returns:
        x (n, T + T//10, 2) as (value, marker), zero past each length; lengths (n,);
        marked (n, 2) the values X1, X2.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 20:
        raise ValueError(f"T: expected an integer >= 20, got {steps!r}")
    longest = steps + steps // 10
    lengths = uniform_int(steps, longest, n, generator)  # (n,)
    values = low + (1 - low) * torch.rand(n, longest, generator=generator)  # (n, T')
    rows = torch.arange(n)
    first = uniform_int(0, 9, n, generator)  # (n,) X1's position
    second = uniform_int(0, steps // 2 - 2, n, generator)  # rank among the unmarked
    second = second + (second >= first).long()  # (n,) in [0, T/2) and != first
    markers = torch.zeros(n, longest)
    markers[:, 0] = -1.0
    markers[rows, lengths - 1] = -1.0
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    values[:, 0] = torch.where(markers[:, 0] == 1, first_value, values[:, 0])
    valid = torch.arange(longest) < lengths.unsqueeze(1)  # (n, T')
    x = torch.stack([values, markers], dim=-1) * valid.unsqueeze(-1)  # (n, T', 2)
    marked = torch.stack([values[rows, first], values[rows, second]], dim=1)  # (n, 2)
    return x, lengths, marked


class AddingTask(Task):
    """The adding problem with minimal length ``steps`` (T); see the module docstring."""

    input_size, output_size, kind, max_wrong = 2, 1, "regression", 3
    tolerance = 0.04

    def __init__(self, steps: int = 100) -> None:
        marked_pairs(1, steps, -1.0, 0.0, torch.Generator())  # validate T now
        self.steps = steps
        self.name = f"adding T={steps}"

    def sample(self, n: int, generator: torch.Generator) -> Batch:
        x, lengths, marked = marked_pairs(n, self.steps, -1.0, 0.0, generator)
        return Batch(x, lengths, 0.5 + marked.sum(1, keepdim=True) / 4.0)

    def wrong(self, out: Tensor, batch: Batch) -> Tensor:
        return final_units_wrong(out, batch, self.tolerance)
