"""What every experiment shares: a batch of sequences and the task that makes and scores it.

A :class:`Task` draws training batches, holds out a fixed test set, turns the network's
output into a loss, and says which sequences the network got wrong under the paper's
criterion. The network reads a whole padded batch (``Batch.x``, (B, T, I)) and gives an
output at every step ((B, T, O)); tasks whose target comes at the end of a sequence read it
at each sequence's last valid step (:func:`last_step`). Because the network is causal,
padding after a sequence's end never changes the outputs up to that end, so variable
lengths need no packing.

Example:
    >>> out = torch.arange(12.0).view(2, 3, 2)           # (B, T, O)
    >>> last_step(out, torch.tensor([3, 1]))             # (B, O) at steps 2 and 0
    tensor([[4., 5.],
            [6., 7.]])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

IGNORE = -100  # target index for steps that carry no error signal (cross-entropy ignores it)


@dataclass
class Batch:
    """A batch of sequences, zero-padded to the longest.

    Attributes:
        x: (B, T, I) inputs.
        lengths: (B,) int64 valid steps of each sequence.
        y: targets: (B, O) float at the sequence end for final-target tasks, or (B, T)
            int64 symbol indices for per-step tasks (``IGNORE`` where there is none).
        legal: (B, T, O) bool, the symbols allowed next (embedded Reber only), else None.
    """

    x: Tensor
    lengths: Tensor
    y: Tensor
    legal: Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def select(self, index: slice) -> Batch:
        """The sequences ``index`` of this batch (a slice along B)."""
        legal = None if self.legal is None else self.legal[index]
        return Batch(self.x[index], self.lengths[index], self.y[index], legal)


class Task:
    """A data set and its success criterion, as an experiment of the paper defines them.

    Subclasses set the sizes and ``max_wrong``, and implement :meth:`sample` and
    :meth:`wrong`. ``kind`` is ``"regression"`` (mean squared error on a real output at the
    sequence end), ``"final_class"`` (one class per sequence, cross-entropy at the end) or
    ``"step_class"`` (a symbol at every step, cross-entropy over the steps that have one).
    For the class kinds the network's output units are the softmax probabilities, and the
    paper's "absolute error of an output unit" is measured on them.
    """

    name = "task"
    input_size = 1
    output_size = 1
    kind = "regression"
    test_size = 2560
    max_wrong = 0  # success: at most this many wrong test sequences

    def sample(self, n: int, generator: torch.Generator) -> Batch:
        """``n`` fresh training sequences drawn with ``generator``."""
        raise NotImplementedError

    def test_set(self, generator: torch.Generator) -> Batch:
        """The held-out sequences the success criterion is checked on."""
        return self.sample(self.test_size, generator)

    def wrong(self, out: Tensor, batch: Batch) -> Tensor:
        """(B,) bool: sequences the network with output ``out`` (B, T, O) got wrong."""
        raise NotImplementedError

    def loss(self, out: Tensor, batch: Batch) -> Tensor:
        """The training loss of output ``out`` (B, T, O) on ``batch``."""
        if self.kind == "regression":
            return F.mse_loss(last_step(out, batch.lengths), batch.y)
        if self.kind == "final_class":
            return F.cross_entropy(last_step(out, batch.lengths), batch.y.argmax(-1))
        return F.cross_entropy(out.flatten(0, 1), batch.y.flatten(), ignore_index=IGNORE)


def last_step(out: Tensor, lengths: Tensor) -> Tensor:
    """(B, O): the output of each sequence at its last valid step ``lengths - 1``."""
    index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.shape[-1])  # (B, 1, O)
    return out.gather(1, index.to(out.device)).squeeze(1)


def final_units_wrong(out: Tensor, batch: Batch, tolerance: float) -> Tensor:
    """(B,) bool: some output unit at the sequence end is more than ``tolerance`` off target.

    The paper's ABS(tolerance) criterion; regression tasks compare the raw output, class
    tasks the softmax probabilities with the one-hot target.
    """
    final = last_step(out, batch.lengths)  # (B, O)
    if final.shape[-1] > 1:
        final = final.softmax(-1)
    return ((final - batch.y).abs() > tolerance).any(-1)


def one_hot_sequence(symbols: Tensor, size: int) -> Tensor:
    """(B, T) int64 symbol indices -> (B, T, size) float one-hot; negative indices -> zeros."""
    valid = symbols >= 0
    hot = F.one_hot(symbols.clamp(min=0), size).float()  # (B, T, size)
    return hot * valid.unsqueeze(-1)


def uniform_int(low: int, high: int, n: int, generator: torch.Generator) -> Tensor:
    """(n,) int64 drawn uniformly from ``low`` to ``high``, both included."""
    return torch.randint(low, high + 1, (n,), generator=generator)
