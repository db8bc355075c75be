"""The copy task, a modern long-time-lag benchmark (not in the 1997 paper).

Definition (the "copying memory problem" as in Arjovsky, Shah & Bengio 2016, after
Hochreiter & Schmidhuber 1997). Ten symbols, one-hot: 0 is blank, 1-8 are data, 9 is the
delimiter. The input is ``length`` data symbols drawn uniformly from 1-8, then
``delay - 1`` blanks, the delimiter, and ``length`` more blanks (``delay + 2 * length``
steps). The target is blank at every step but the last ``length``, where it is the data
symbols in their order: the network must hold them for ``delay + length`` steps.
Cross-entropy over every step; always answering blank and then guessing scores
``length * log(8) / (delay + 2 * length)``.

Criterion (ours, in the spirit of the paper's): a sequence is copied correctly when every
one of its ``length`` recalled symbols is the most active output at its step; success is
at most 3 wrong of 2560 held-out sequences.

Example:
    >>> b = CopyTask(delay=5, length=3).sample(1, torch.Generator().manual_seed(0))
    >>> b.x.argmax(-1).tolist()[0][:3] == b.y.tolist()[0][-3:]
    True
    >>> b.x.argmax(-1).tolist()[0][3:], b.y.tolist()[0][:8]
    ([0, 0, 0, 0, 9, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0])
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from .base import Batch, Task

BLANK, DELIMITER, SYMBOLS = 0, 9, 10


class CopyTask(Task):
    """Copy ``length`` symbols after a delay of ``delay`` steps; see the module docstring."""

    input_size = output_size = SYMBOLS
    kind, max_wrong = "step_class", 3

    def __init__(self, delay: int = 100, length: int = 10) -> None:
        for arg, value in (("delay", delay), ("length", length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg}: expected an integer >= 1, got {value!r}")
        self.delay, self.length = delay, length
        self.name = f"copy delay={delay}"

    def sample(self, n: int, generator: torch.Generator) -> Batch:
        steps = self.delay + 2 * self.length
        data = torch.randint(1, 9, (n, self.length), generator=generator)  # (n, length)
        inputs = torch.zeros(n, steps, dtype=torch.long)
        inputs[:, : self.length] = data
        inputs[:, self.delay + self.length - 1] = DELIMITER
        targets = torch.zeros(n, steps, dtype=torch.long)
        targets[:, -self.length :] = data
        x = F.one_hot(inputs, SYMBOLS).float()  # (n, steps, 10)
        return Batch(x, torch.full((n,), steps), targets)

    def wrong(self, out: Tensor, batch: Batch) -> Tensor:
        recalled = out[:, -self.length :].argmax(-1)  # (B, length)
        return (recalled != batch.y[:, -self.length :]).any(-1)
