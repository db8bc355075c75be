"""Losses by their Keras names, with Keras's conventions.

Each loss is called ``loss(y_true, y_pred)`` (Keras's order) and returns the mean over
all samples; :meth:`Loss.values` gives one value per sample (per time step for sequence
outputs), which ``fit`` weights by ``class_weight``, ``sample_weight`` and padding masks.
Regression losses average over the last axis, the cross-entropies sum over the classes.
``from_logits=True`` takes unnormalised scores instead of probabilities; probabilities
are clipped to [1e-7, 1 - 1e-7] as in Keras.

============================================  ==============================================
name                                          class
============================================  ==============================================
``mse``, ``mean_squared_error``               :class:`MeanSquaredError`
``mae``, ``mean_absolute_error``              :class:`MeanAbsoluteError`
``huber``, ``huber_loss``                     :class:`Huber` (delta 1)
``binary_crossentropy``                       :class:`BinaryCrossentropy`
``categorical_crossentropy``                  :class:`CategoricalCrossentropy` (one-hot)
``sparse_categorical_crossentropy``           :class:`SparseCategoricalCrossentropy` (ids)
============================================  ==============================================

Example:
    >>> import torch
    >>> y_true, y_pred = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 1.5]])
    >>> get("mse")(y_true, y_pred)
    tensor(0.2500)
    >>> SparseCategoricalCrossentropy(from_logits=True)(torch.tensor([1]), torch.zeros(1, 4))
    tensor(1.3863)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

EPSILON = 1e-7


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def align_dense(y_true: Tensor, y_pred: Tensor, hint: str = "") -> Tensor:
    """y_true with y_pred's shape; (B, ...) targets for (B, ..., 1) outputs get the 1 added."""
    if y_pred.shape[-1:] == (1,) and y_true.shape == y_pred.shape[:-1]:
        y_true = y_true.unsqueeze(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y: expected targets of shape {_shape(y_pred)} (the model's output), "
            f"got {_shape(y_true)}{hint}"
        )
    return y_true.to(y_pred.dtype)


class Loss:
    """Base of the named losses: ``values`` per sample, ``__call__`` their mean."""

    name = "loss"
    reduce_last_axis = True  # average over the last axis (regression, binary)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """One value per sample: shape y_pred.shape[:-1] (y_pred.shape for 1-D outputs)."""
        y_true = align_dense(y_true, y_pred, self.hint())
        elements = self.elementwise(y_true, y_pred)
        return elements.mean(-1) if y_pred.dim() > 1 else elements

    def elementwise(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        raise NotImplementedError

    def hint(self) -> str:
        return ""

    def __call__(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return self.values(y_true, y_pred).mean()

    def get_config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)^2) over the last axis."""

    name = "mse"

    def elementwise(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return (y_pred - y_true).square()


class MeanAbsoluteError(Loss):
    """mean(|y_pred - y_true|) over the last axis."""

    name = "mae"

    def elementwise(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return (y_pred - y_true).abs()


class Huber(Loss):
    """0.5 e^2 where |e| <= delta, else delta (|e| - delta / 2); e = y_pred - y_true."""

    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        if isinstance(delta, bool) or not isinstance(delta, int | float) or delta <= 0:
            raise ValueError(f"delta: expected a number > 0, got {delta!r}")
        self.delta = float(delta)

    def elementwise(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        e = (y_pred - y_true).abs()
        return torch.where(e <= self.delta, 0.5 * e.square(), self.delta * (e - 0.5 * self.delta))

    def get_config(self) -> dict[str, Any]:
        return {"delta": self.delta}


class BinaryCrossentropy(Loss):
    """-(y log p + (1 - y) log(1 - p)), averaged over the last axis."""

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = _check_bool("from_logits", from_logits)

    def elementwise(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        if self.from_logits:
            # log(1 + e^-|x|) + max(x, 0) - x y: the stable form of the same expression.
            return y_pred.clamp(min=0) - y_pred * y_true + torch.log1p(torch.exp(-y_pred.abs()))
        p = y_pred.clamp(EPSILON, 1 - EPSILON)
        return -(y_true * torch.log(p) + (1 - y_true) * torch.log1p(-p))

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


class CategoricalCrossentropy(Loss):
    """-sum_k y_k log p_k over the last (class) axis; y one-hot or class probabilities."""

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = _check_bool("from_logits", from_logits)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true = align_dense(y_true, y_pred, self.hint())
        if self.from_logits:
            log_p = torch.log_softmax(y_pred, dim=-1)
        else:
            p = y_pred / y_pred.sum(dim=-1, keepdim=True)  # Keras renormalises first
            log_p = torch.log(p.clamp(EPSILON, 1 - EPSILON))
        return -(y_true * log_p).sum(dim=-1)

    def hint(self) -> str:
        return "; for integer class ids use sparse_categorical_crossentropy"

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


class SparseCategoricalCrossentropy(Loss):
    """-log p[y] for integer class ids y of shape y_pred.shape[:-1]."""

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = _check_bool("from_logits", from_logits)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        ids = class_ids(y_true, y_pred)
        if self.from_logits:
            log_p = torch.log_softmax(y_pred, dim=-1)
        else:
            log_p = torch.log(y_pred.clamp(EPSILON, 1 - EPSILON))
        return -log_p.gather(-1, ids.unsqueeze(-1)).squeeze(-1)

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


def class_ids(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Integer class ids of shape y_pred.shape[:-1], checked against the number of classes."""
    if y_true.shape == (*y_pred.shape[:-1], 1) and y_pred.dim() > 1:
        y_true = y_true.squeeze(-1)
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"y: expected class ids of shape {_shape(y_pred)[:-1]} (the model's output "
            f"{_shape(y_pred)} without its class axis), got {_shape(y_true)}; "
            "for one-hot targets use categorical_crossentropy"
        )
    if y_true.is_floating_point():
        if not torch.equal(y_true, y_true.round()):
            raise ValueError("y: expected integer class ids, got fractional values")
    elif y_true.dtype == torch.bool or y_true.is_complex():
        raise TypeError(f"y: expected integer class ids, got dtype {y_true.dtype}")
    ids = y_true.long()
    classes = y_pred.shape[-1]
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= classes):
        bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
        raise ValueError(f"y: expected class ids in [0, {classes}), got {bad}")
    return ids


def _check_bool(arg: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{arg}: expected a bool, got {value!r}")
    return value


LOSSES: dict[str, Callable[[], Loss]] = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
CLASSES = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        Huber,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}


def get(loss: str | Loss | Callable | nn.Module) -> Loss | Callable | nn.Module:
    """A loss from its name, or the given Loss / callable / torch loss module unchanged.

    A plain callable is called ``fn(y_true, y_pred)`` (Keras's order); a torch.nn loss
    module ``module(y_pred, y_true)`` (torch's order).
    """
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"loss: expected one of {', '.join(sorted(LOSSES))}, got {loss!r}")
        return LOSSES[loss]()
    if isinstance(loss, Loss | nn.Module) or callable(loss):
        return loss
    raise TypeError(
        f"loss: expected a name, a Loss, a callable or a torch loss module, "
        f"got {type(loss).__name__}"
    )


def compute(
    loss: Loss | Callable | nn.Module,
    y_true: Tensor,
    y_pred: Tensor,
    weights: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """The scalar training loss: per-sample values weighted by ``weights``, masked by ``mask``.

    Args:
        weights: (B,) per sample or the shape of the per-sample values (class weights per step).
        mask: (B, T) valid steps of a sequence output; padded steps count for nothing.

    Without a mask the weighted values are averaged over all samples (Keras's
    ``sum_over_batch_size``); with one, summed over the valid steps and divided by their count.
    """
    if isinstance(loss, Loss):
        values = loss.values(y_true, y_pred)
    elif isinstance(loss, nn.Module):
        values = loss(y_pred, y_true)
    else:
        values = loss(y_true, y_pred)
    if not isinstance(values, Tensor):
        raise TypeError(f"loss: expected the loss function to return a tensor, got {values!r}")
    if values.dim() == 0:
        if weights is not None or mask is not None:
            raise ValueError(
                "loss: the loss function returned a scalar, so class_weight, sample_weight "
                "and padding masks cannot weight it; return one value per sample "
                "(e.g. reduction='none' for torch losses)"
            )
        return values
    return weighted_mean(values, weights, mask)


def weighted_mean(values: Tensor, weights: Tensor | None, mask: Tensor | None) -> Tensor:
    """Mean of per-sample ``values`` times ``weights``, over the valid steps of ``mask``."""
    if weights is not None:
        if weights.dim() == 1:
            weights = weights.reshape(-1, *([1] * (values.dim() - 1)))  # (B, 1, ...)
        values = values * weights.to(values.dtype)
    if mask is None:
        return values.mean()
    if mask.shape != values.shape:
        raise ValueError(
            f"mask: expected the shape of the per-sample losses {_shape(values)}, "
            f"got {_shape(mask)}"
        )
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)
