"""What ``fit`` / ``evaluate`` / ``predict`` accept, turned into batches.

Arrays: numpy arrays, torch tensors, pandas DataFrames / Series, or nested lists, with
``y`` and ``sample_weight`` alongside; float64 data trains in the model's dtype, as in
Keras. Iterables: a ``torch.utils.data.DataLoader`` (or any re-iterable) or a generator,
yielding ``(x, y)`` or ``(x, y, sample_weight)`` batches.

Example:
    >>> import numpy as np
    >>> data = adapt(np.zeros((10, 3)), np.arange(10))
    >>> len(data), [len(b[0]) for b in data.batches(4)]
    (10, [4, 4, 2])
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .distributed import shard

Batch = tuple[Tensor, Tensor | None, Tensor | None]  # (x, y, sample_weight)


def as_tensor(value: Any, name: str) -> Tensor:
    """A CPU tensor from a numpy array, tensor, pandas object or nested list."""
    if isinstance(value, Tensor):
        return value.detach()
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        value = value.to_numpy()  # pandas DataFrame / Series
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:
        raise TypeError(f"{name}: expected array-like data, got {type(value).__name__}") from err
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name}: expected numeric data (numbers of one shape), got dtype {array.dtype}"
        )
    return torch.from_numpy(np.array(array, copy=True))


def to_device(t: Tensor | None, device: torch.device, dtype: torch.dtype) -> Tensor | None:
    """Floats and booleans to the model's dtype, integers to int64, all on ``device``."""
    if t is None:
        return None
    if t.is_floating_point() or t.dtype == torch.bool:
        return t.to(device=device, dtype=dtype)
    return t.to(device=device, dtype=torch.int64)


@dataclass
class ArrayData:
    """In-memory samples: x (N, ...), optional y (N, ...) and sample weights (N,)."""

    x: Tensor
    y: Tensor | None = None
    w: Tensor | None = None

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx: Tensor) -> Batch:
        pick = lambda t: None if t is None else t.index_select(0, idx.to(t.device))  # noqa: E731
        return pick(self.x), pick(self.y), pick(self.w)

    def split(self, fraction: float) -> tuple[ArrayData, ArrayData]:
        """(train, validation): the validation set is the last ``fraction``, as in Keras."""
        n_val = int(len(self) * fraction)
        if n_val < 1 or n_val >= len(self):
            raise ValueError(
                f"validation_split: {fraction} of {len(self)} samples leaves "
                f"{n_val} for validation; expected at least one sample on each side"
            )
        cut = len(self) - n_val
        part = lambda t, s: None if t is None else t[s]  # noqa: E731
        first, last = slice(0, cut), slice(cut, None)
        return (
            ArrayData(self.x[first], part(self.y, first), part(self.w, first)),
            ArrayData(self.x[last], part(self.y, last), part(self.w, last)),
        )

    def steps(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def batches(
        self, batch_size: int, order: Tensor | None = None, rank: int = 0, world: int = 1
    ) -> Iterator[Batch]:
        """Batches of ``batch_size`` samples in ``order`` (default: as stored); with
        ``world`` > 1, this rank's share of each batch."""
        order = torch.arange(len(self)) if order is None else order
        for start in range(0, len(self), batch_size):
            yield self.take(shard(order[start : start + batch_size], rank, world))


class IterData:
    """Batches from a DataLoader, any re-iterable, or a one-shot iterator / generator."""

    def __init__(self, source: Iterable, steps: int | None) -> None:
        self.source = source
        self.steps_per_epoch = steps
        self.reiterable = not isinstance(source, Iterator)  # DataLoader: a fresh pass per epoch
        self._iterator: Iterator | None = None if self.reiterable else iter(source)
        self._pending: list[Any] = []  # an item peeked from a one-shot iterator

    def peek(self) -> Batch:
        """The first batch, without losing it from a one-shot iterator."""
        if self.reiterable:
            item = next(iter(self.source), None)
        else:
            if not self._pending:
                self._pending.append(next(self._iterator, None))  # type: ignore[arg-type]
            item = self._pending[0]
        if item is None:
            raise ValueError("x: the DataLoader or generator yielded no batches")
        return unpack(item)

    def __len__(self) -> int:
        if self.steps_per_epoch is not None:
            return self.steps_per_epoch
        try:
            return len(self.source)  # type: ignore[arg-type]
        except TypeError:
            return 0  # unknown

    def batches(self) -> Iterator[Batch]:
        if self.reiterable:
            it = iter(self.source)
        else:
            assert self._iterator is not None
            it = itertools.chain(self._pending, self._iterator)
            self._pending = []
        for i, item in enumerate(it):
            yield unpack(item)
            if self.steps_per_epoch is not None and i + 1 >= self.steps_per_epoch:
                return


def unpack(item: Any) -> Batch:
    """``(x, y)`` or ``(x, y, sample_weight)`` (or a bare x) as tensors."""
    if isinstance(item, tuple | list) and 1 <= len(item) <= 3:
        parts = [None if v is None else as_tensor(v, f"batch[{i}]") for i, v in enumerate(item)]
        parts += [None] * (3 - len(parts))
        return parts[0], parts[1], parts[2]  # type: ignore[return-value]
    if isinstance(item, tuple | list):
        raise ValueError(f"batch: expected (x, y) or (x, y, sample_weight), got {len(item)} items")
    return as_tensor(item, "batch"), None, None


def is_iterable_source(x: Any) -> bool:
    """DataLoaders, generators and other iterables that are not array data."""
    if isinstance(x, Tensor | np.ndarray | list | tuple) or hasattr(x, "to_numpy"):
        return False
    return isinstance(x, Iterable)


def adapt(
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    steps: int | None = None,
    what: str = "x",
) -> ArrayData | IterData:
    """Array data checked for matching lengths, or an iterable source of batches."""
    if x is None:
        raise ValueError(f"{what}: expected data, got None")
    if is_iterable_source(x):
        if y is not None or sample_weight is not None:
            raise ValueError(
                f"y: expected None when {what} is a DataLoader or generator "
                "(it yields (x, y) batches itself)"
            )
        return IterData(x, steps)
    data = ArrayData(as_tensor(x, what))
    names = {"y": y, "sample_weight": sample_weight}
    for name, value in names.items():
        if value is None:
            continue
        t = as_tensor(value, name)
        if len(t) != len(data.x):
            raise ValueError(
                f"{name}: expected {len(data.x)} samples (as many as {what}), got {len(t)}"
            )
        setattr(data, "y" if name == "y" else "w", t)
    if data.w is not None and data.w.dim() != 1:
        raise ValueError(f"sample_weight: expected shape (N,), got {tuple(data.w.shape)}")
    return data
