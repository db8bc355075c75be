"""Experiment 2a of Hochreiter & Schmidhuber (1997): noise-free sequences with long time lags.

Definition (section 5.2, task 2a). There are p + 1 symbols a_1, ..., a_{p-1}, a_p = x,
a_{p+1} = y, each one-hot over p + 1 units. The training set has only two sequences,
(y, a_1, a_2, ..., a_{p-1}, y) and (x, a_1, a_2, ..., a_{p-1}, x), each picked with
probability 0.5. The network reads one symbol at a time and predicts the next at every
step; to predict the last it must store the first for p steps. Here p = 100.

Criterion: after training, during 10,000 successive randomly chosen sequences, the largest
absolute error of any output unit (here: softmax probability against the one-hot next
symbol) is always below 0.25, at every step. Since there are only two sequences and the
trained network is deterministic, checking both is the same as checking 10,000 draws:
success here is 0 wrong of the 2 sequences.

Paper (Table 2, means of 18 trials, p = 100): LSTM 100 % successful after 5,040 training
sequences; RTRL and BPTT 0 % (> 5,000,000); the neural sequence chunker 33 % (32,400).

Example:
    >>> task = LongLagTask(p=5)
    >>> b = task.test_set(torch.Generator())
    >>> b.x.argmax(-1).tolist(), b.y.tolist()    # x = 4, y = 5; inputs and next symbols
    ([[4, 0, 1, 2, 3], [5, 0, 1, 2, 3]], [[0, 1, 2, 3, 4], [0, 1, 2, 3, 5]])
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from .base import Batch, Task


class LongLagTask(Task):
    """Task 2a with delay ``p``; see the module docstring."""

    kind, max_wrong, tolerance = "step_class", 0, 0.25

    def __init__(self, p: int = 100) -> None:
        if isinstance(p, bool) or not isinstance(p, int) or p < 2:
            raise ValueError(f"p: expected an integer >= 2, got {p!r}")
        self.p = p
        self.input_size = self.output_size = p + 1
        self.name = f"long time lag p={p}"
        self.test_size = 2

    def sequences(self, first: Tensor) -> Batch:
        """The sequences starting with ``first`` (n,) in {p - 1 (x), p (y)}, as a batch."""
        n, p = first.shape[0], self.p
        middle = torch.arange(p - 1).expand(n, -1)  # a_1 .. a_{p-1} (indices 0 .. p-2)
        symbols = torch.cat([first[:, None], middle, first[:, None]], dim=1)  # (n, p + 1)
        x = F.one_hot(symbols[:, :-1], p + 1).float()  # (n, p, p + 1)
        return Batch(x, torch.full((n,), p), symbols[:, 1:])

    def sample(self, n: int, generator: torch.Generator) -> Batch:
        first = self.p - 1 + torch.randint(0, 2, (n,), generator=generator)
        return self.sequences(first)

    def test_set(self, generator: torch.Generator) -> Batch:
        return self.sequences(torch.tensor([self.p - 1, self.p]))

    def wrong(self, out: Tensor, batch: Batch) -> Tensor:
        error = (out.softmax(-1) - F.one_hot(batch.y, self.output_size)).abs()  # (B, T, O)
        return (error >= self.tolerance).flatten(1).any(-1)
