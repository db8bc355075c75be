"""Experiment 6 of Hochreiter & Schmidhuber (1997): the temporal order problems 6a and 6b.

Definition (section 5.6). Eight symbols, one-hot: a, b, c, d (distractors), X, Y, E (start)
and B (the trigger at the end). A sequence's length is uniform in [100, 110]. It starts
with E, ends with B, and holds random distractors everywhere else except at two (6a) or
three (6b) positions, each X or Y with equal probability:

* 6a: t1 uniform in [10, 20], t2 in [50, 60]; 4 classes by the order of X and Y:
  XX -> Q, XY -> R, YX -> S, YY -> U.
* 6b: t1 in [10, 20], t2 in [33, 43], t3 in [66, 76]; 8 classes:
  XXX -> Q, XXY -> R, XYX -> S, XYY -> U, YXX -> V, YXY -> A, YYX -> B, YYY -> C.

Positions count from 0, the E being at 0. Reading X as 0 and Y as 1, the class index is the
binary number the relevant symbols spell, which is the order of the paper's lists. The
target at the sequence end is the one-hot class.

Criterion: a sequence is classified correctly when every output unit at its end is within
0.3 of its target (here the outputs are the softmax probabilities). The paper tests on
2560 sequences, reporting 1 (6a) and 2 (6b) wrong, "never more than 3": success here is at
most 3 wrong of 2560 held-out sequences.

Paper (Table 9): 6a solved after 31,390 training sequences (mean of 20 trials), 6b after
571,100 (mean of 10).

Example:
    >>> task = TemporalOrderTask("6a")
    >>> b = task.sample(2, torch.Generator().manual_seed(0))
    >>> b.x.shape, b.y.shape                    # (B, 110, 8), (B, 4)
    (torch.Size([2, 110, 8]), torch.Size([2, 4]))
    >>> first, last = b.x[0, 0], b.x[0, b.lengths[0] - 1]
    >>> SYMBOLS[int(first.argmax())], SYMBOLS[int(last.argmax())]
    ('E', 'B')
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Batch, Task, final_units_wrong, one_hot_sequence, uniform_int

SYMBOLS = ("a", "b", "c", "d", "X", "Y", "E", "B")
X, Y, START, TRIGGER = 4, 5, 6, 7
WINDOWS = {"6a": ((10, 20), (50, 60)), "6b": ((10, 20), (33, 43), (66, 76))}
CLASS_NAMES = {"6a": "QRSU", "6b": "QRSUVABC"}
MIN_LENGTH, MAX_LENGTH = 100, 110


class TemporalOrderTask(Task):
    """Task 6a (two relevant symbols) or 6b (three); see the module docstring."""

    input_size, kind, max_wrong, tolerance = 8, "final_class", 3, 0.3

    def __init__(self, variant: str = "6a") -> None:
        if variant not in WINDOWS:
            raise ValueError(f"variant: expected '6a' or '6b', got {variant!r}")
        self.variant = variant
        self.windows = WINDOWS[variant]
        self.output_size = 2 ** len(self.windows)
        self.name = f"temporal order {variant}"

    def sample(self, n: int, generator: torch.Generator) -> Batch:
        lengths = uniform_int(MIN_LENGTH, MAX_LENGTH, n, generator)  # (n,)
        symbols = torch.randint(0, 4, (n, MAX_LENGTH), generator=generator)  # distractors
        rows = torch.arange(n)
        label = torch.zeros(n, dtype=torch.long)
        for low, high in self.windows:
            where = uniform_int(low, high, n, generator)  # (n,)
            is_y = torch.randint(0, 2, (n,), generator=generator)  # 0: X, 1: Y
            symbols[rows, where] = X + is_y
            label = 2 * label + is_y
        symbols[:, 0] = START
        symbols[rows, lengths - 1] = TRIGGER
        symbols[torch.arange(MAX_LENGTH) >= lengths.unsqueeze(1)] = -1  # padding
        x = one_hot_sequence(symbols, len(SYMBOLS))  # (n, T, 8)
        y = torch.nn.functional.one_hot(label, self.output_size).float()  # (n, classes)
        return Batch(x, lengths, y)

    def wrong(self, out: Tensor, batch: Batch) -> Tensor:
        return final_units_wrong(out, batch, self.tolerance)
