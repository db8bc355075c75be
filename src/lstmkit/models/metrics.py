"""Metrics by their Keras names, accumulated over an epoch.

A metric sums a value per sample (per valid time step for masked sequence outputs) and
counts them; :meth:`Metric.result` is the mean (``rmse``: its square root of the mean
squared error, ``perplexity``: e to the mean cross-entropy). Totals are tensors, so
processes in a multi-process run add them up with one all-reduce.

``"accuracy"`` (or ``"acc"``) picks its kind as Keras does: binary with
``binary_crossentropy`` or a single output unit, sparse when the targets are class ids,
categorical when they are one-hot.

Example:
    >>> import torch
    >>> acc = get("accuracy", loss=None)
    >>> acc.update(torch.tensor([2, 0]), torch.tensor([[0.1, 0.2, 0.7], [0.2, 0.5, 0.3]]))
    >>> acc.result()
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from . import losses


class Metric:
    """A mean of per-sample values over everything seen since :meth:`reset`."""

    def __init__(self, name: str, fn: Callable[[Tensor, Tensor], Tensor]) -> None:
        self.name = name
        self.fn = fn
        self.totals = torch.zeros(2, dtype=torch.float64)  # (sum, count)

    def reset(self) -> None:
        self.totals = torch.zeros(2, dtype=torch.float64)

    @torch.no_grad()
    def update(self, y_true: Tensor, y_pred: Tensor, mask: Tensor | None = None) -> None:
        values = self.fn(y_true, y_pred.float()).double()  # one value per sample
        if self.totals.device != values.device:
            self.totals = self.totals.to(values.device)
        if mask is None:
            self.totals += torch.stack([values.sum(), values.new_tensor(values.numel())])
        else:
            m = mask.to(values.dtype)
            self.totals += torch.stack([(values * m).sum(), m.sum()])

    def result(self) -> float:
        total, count = self.totals.tolist()
        return self.finish(total / count) if count else float("nan")

    def finish(self, mean: float) -> float:
        return mean

    def __repr__(self) -> str:
        return f"Metric({self.name!r})"


class RootMeanSquaredError(Metric):
    def finish(self, mean: float) -> float:
        return math.sqrt(mean)


class Perplexity(Metric):
    def finish(self, mean: float) -> float:
        return math.exp(mean) if mean < 700 else float("inf")


def binary_accuracy(threshold: float) -> Callable[[Tensor, Tensor], Tensor]:
    def fn(y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true = losses.align_dense(y_true, y_pred)
        hit = ((y_pred > threshold) == (y_true > 0.5)).to(y_pred.dtype)
        return hit.mean(-1) if y_pred.dim() > 1 else hit

    return fn


def categorical_accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    y_true = losses.align_dense(y_true, y_pred)
    return (y_pred.argmax(-1) == y_true.argmax(-1)).to(y_pred.dtype)


def sparse_categorical_accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    ids = losses.class_ids(y_true, y_pred)
    return (y_pred.argmax(-1) == ids).to(y_pred.dtype)


def auto_accuracy(loss: Any) -> Callable[[Tensor, Tensor], Tensor]:
    """Keras's ``"accuracy"``: the kind of accuracy the targets and the loss imply."""
    logits = bool(getattr(loss, "from_logits", False))
    binary = binary_accuracy(0.0 if logits else 0.5)

    def fn(y_true: Tensor, y_pred: Tensor) -> Tensor:
        if isinstance(loss, losses.BinaryCrossentropy) or y_pred.dim() < 2:
            return binary(y_true, y_pred)
        if y_true.shape == y_pred.shape:
            return (
                binary(y_true, y_pred)
                if y_pred.shape[-1] == 1
                else categorical_accuracy(y_true, y_pred)
            )
        return sparse_categorical_accuracy(y_true, y_pred)

    return fn


def perplexity(loss: Any) -> Callable[[Tensor, Tensor], Tensor]:
    """Cross-entropy per sample, sparse or categorical as the targets are, for exp(mean)."""
    logits = bool(getattr(loss, "from_logits", False))
    sparse = losses.SparseCategoricalCrossentropy(from_logits=logits)
    dense = losses.CategoricalCrossentropy(from_logits=logits)

    def fn(y_true: Tensor, y_pred: Tensor) -> Tensor:
        return (
            dense.values(y_true, y_pred)
            if y_true.shape == y_pred.shape
            else sparse.values(y_true, y_pred)
        )

    return fn


def _named(name: str, loss: Any) -> Metric:
    if name in ("accuracy", "acc"):
        return Metric(name, auto_accuracy(loss))
    if name == "binary_accuracy":
        return Metric(name, binary_accuracy(0.5))
    if name == "categorical_accuracy":
        return Metric(name, categorical_accuracy)
    if name == "sparse_categorical_accuracy":
        return Metric(name, sparse_categorical_accuracy)
    if name in ("mae", "mean_absolute_error"):
        return Metric(name, losses.MeanAbsoluteError().values)
    if name in ("mse", "mean_squared_error"):
        return Metric(name, losses.MeanSquaredError().values)
    if name in ("rmse", "root_mean_squared_error"):
        return RootMeanSquaredError(name, losses.MeanSquaredError().values)
    return Perplexity(name, perplexity(loss))


NAMES = (
    "accuracy",
    "acc",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "mae",
    "mean_absolute_error",
    "mse",
    "mean_squared_error",
    "rmse",
    "root_mean_squared_error",
    "perplexity",
)


def get(metric: str | Callable[[Tensor, Tensor], Tensor], loss: Any) -> Metric:
    """A metric from its name, or from a callable ``fn(y_true, y_pred)`` -> per-sample values.

    Args:
        loss: the compiled loss; ``accuracy`` and ``perplexity`` read ``from_logits`` from it.
    """
    if isinstance(metric, str):
        if metric not in NAMES:
            raise ValueError(f"metrics: expected names among {', '.join(NAMES)}, got {metric!r}")
        return _named(metric, loss)
    if isinstance(metric, Metric):
        return metric
    if callable(metric):
        return Metric(getattr(metric, "__name__", "metric"), metric)
    raise TypeError(f"metrics: expected names or callables, got {type(metric).__name__}")
