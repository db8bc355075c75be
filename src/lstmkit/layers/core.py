"""Core layers: Dense, Activation, Dropout, Flatten, RepeatVector.

Example:
    >>> import torch
    >>> from lstmkit.layers import Dense, RepeatVector
    >>> Dense(4, activation="relu")(torch.randn(2, 7, 3)).shape   # acts on the last axis
    torch.Size([2, 7, 4])
    >>> RepeatVector(5)(torch.randn(2, 3)).shape
    torch.Size([2, 5, 3])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from . import activations
from .base import Layer, Shape, register


def check_units(arg: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{arg}: expected an integer >= 1, got {value!r}")
    return value


def check_rate(arg: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"{arg}: expected a number in [0, 1), got {value!r}")
    return float(value)


def activation_config(activation: str | Callable | None) -> str | None:
    """What a configuration stores for an activation; custom callables are marked for saving."""
    name = activations.name_of(activation)
    return name if name is not None else f"<custom {getattr(activation, '__name__', 'callable')}>"


@register
class Dense(Layer):
    """A fully connected layer on the last axis: ``activation(x W^T + b)``.

    Weights start Glorot-uniform and the bias at zero, as in Keras. The parameters live in
    ``self.linear``, a ``torch.nn.Linear``.

    Args:
        units: output features.
        activation: a name (see :mod:`lstmkit.layers.activations`), a callable, or None.
        use_bias: add a bias.

    Example:
        >>> Dense(2, input_shape=(3,)).linear.weight.shape
        torch.Size([2, 3])
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: str | Callable[[Tensor], Tensor] | None = None,
        use_bias: bool = True,
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(input_shape=input_shape, name=name)
        self.units = check_units("units", units)
        self.activation = activation
        self.activation_fn = activations.get(activation)
        if not isinstance(use_bias, bool):
            raise TypeError(f"use_bias: expected a bool, got {use_bias!r}")
        self.use_bias = use_bias
        self.build_if_shaped()

    def _build(self, input_shape: Shape) -> None:
        features = input_shape[-1] if len(input_shape) >= 2 else None
        if features is None:
            raise ValueError(
                f"Dense: expected inputs (B, ..., F) with a known F, got shape {input_shape}"
            )
        self.linear = nn.Linear(features, self.units, bias=self.use_bias)
        nn.init.xavier_uniform_(self.linear.weight)
        if self.use_bias:
            nn.init.zeros_(self.linear.bias)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if x.dim() < 2 or x.shape[-1] != self.linear.in_features:
            raise ValueError(
                f"Dense: expected inputs (B, ..., {self.linear.in_features}), "
                f"got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(f"Dense: expected a floating-point input, got dtype {x.dtype}")
        return self.activation_fn(self.linear(x))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activation_config(self.activation),
            "use_bias": self.use_bias,
        }


@register
class Activation(Layer):
    """Apply an activation function element-wise (softmax: over the last axis).

    Example:
        >>> import torch
        >>> Activation("tanh")(torch.zeros(2, 3)).sum().item()
        0.0
    """

    supports_masking = True

    def __init__(
        self,
        activation: str | Callable[[Tensor], Tensor] | None,
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(input_shape=input_shape, name=name)
        self.activation = activation
        self.activation_fn = activations.get(activation)
        self.build_if_shaped()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.activation_fn(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activation_config(self.activation)}


@register
class Dropout(Layer):
    """Zero each element with probability ``rate`` in training, scaling the rest by 1/(1-rate).

    Example:
        >>> import torch
        >>> layer = Dropout(0.5).eval()     # the identity outside training
        >>> layer(torch.ones(2, 3)).sum().item()
        6.0
    """

    supports_masking = True

    def __init__(
        self,
        rate: float,
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(input_shape=input_shape, name=name)
        self.rate = check_rate("rate", rate)
        self.build_if_shaped()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return F.dropout(x, self.rate, self.training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


@register
class Flatten(Layer):
    """Flatten every dimension but the batch: (B, d1, d2, ...) -> (B, d1*d2*...).

    Example:
        >>> import torch
        >>> Flatten()(torch.zeros(2, 3, 4)).shape
        torch.Size([2, 12])
    """

    def __init__(
        self, *, input_shape: Sequence[int | None] | None = None, name: str | None = None
    ) -> None:
        super().__init__(input_shape=input_shape, name=name)
        self.build_if_shaped()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        self.check_mask(mask)
        return x.flatten(1) if x.dim() > 1 else x.unsqueeze(1)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)  # type: ignore[arg-type]
        return (input_shape[0], size)


@register
class RepeatVector(Layer):
    """Repeat a (B, F) input ``n`` times along a new time axis: (B, n, F).

    Example:
        >>> import torch
        >>> RepeatVector(3)(torch.tensor([[1.0, 2.0]]))
        tensor([[[1., 2.],
                 [1., 2.],
                 [1., 2.]]])
    """

    def __init__(
        self,
        n: int,
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(input_shape=input_shape, name=name)
        self.n = check_units("n", n)
        self.build_if_shaped()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        self.check_mask(mask)
        if x.dim() != 2:
            raise ValueError(f"RepeatVector: expected a 2-D input (B, F), got {tuple(x.shape)}")
        return x.unsqueeze(1).expand(-1, self.n, -1)  # (B, n, F)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.n, *input_shape[1:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}
