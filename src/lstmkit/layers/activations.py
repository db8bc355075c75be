"""Activation functions by their Keras names.

Every name maps to a function of one tensor; ``softmax`` and ``log_softmax`` act on the last
axis, as in Keras. ``None`` and ``"linear"`` are the identity.

Example:
    >>> import torch
    >>> get("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    >>> get("softmax")(torch.zeros(1, 4))
    tensor([[0.2500, 0.2500, 0.2500, 0.2500]])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def linear(x: Tensor) -> Tensor:
    """The identity."""
    return x


def hard_sigmoid(x: Tensor) -> Tensor:
    """relu6(x + 3) / 6, Keras's piecewise-linear sigmoid."""
    return F.relu6(x + 3.0) / 6.0


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": linear,
    "relu": torch.relu,
    "relu6": F.relu6,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "silu": F.silu,
    "swish": F.silu,
    "mish": F.mish,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),  # Keras's default slope
    "exponential": torch.exp,
    "hard_sigmoid": hard_sigmoid,
}


def get(activation: str | Callable[[Tensor], Tensor] | None) -> Callable[[Tensor], Tensor]:
    """The function for a name, a callable (returned as is) or None (the identity).

    Raises:
        ValueError: an unknown name; the message lists the known ones.
        TypeError: neither a string, a callable nor None.
    """
    if activation is None:
        return linear
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            names = ", ".join(sorted(ACTIVATIONS))
            raise ValueError(f"activation: expected one of {names}, got {activation!r}")
        return ACTIVATIONS[activation]
    if callable(activation):
        return activation
    raise TypeError(
        f"activation: expected a name, a callable or None, got {type(activation).__name__}"
    )


def name_of(activation: str | Callable | None) -> str | None:
    """The name to store in a saved configuration, or None for a custom callable."""
    if activation is None:
        return "linear"
    return activation if isinstance(activation, str) else None
