"""The Keras-style layer: a torch.nn.Module whose sizes are inferred on first use.

A :class:`Layer` is built either eagerly, from ``input_shape=`` (the shape of one sample,
without the batch dimension, as in Keras) or :meth:`Layer.build`, or lazily on its first
call from the shape of the input it sees. Building creates the parameters; before that a
layer has none.

Layers take an optional padding ``mask`` (B, T) of booleans alongside their input and say
with :meth:`Layer.compute_mask` what mask their output carries. Shapes given to ``build``
and returned by :meth:`Layer.compute_output_shape` include the batch dimension, with
``None`` for any size not known in advance.

Example:
    >>> import torch
    >>> from lstmkit.layers import Dense
    >>> dense = Dense(3)
    >>> dense.built, dense(torch.randn(2, 5)).shape, dense.built
    (False, torch.Size([2, 3]), True)
    >>> Dense(3, input_shape=(5,)).compute_output_shape((None, 5))
    (None, 3)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

Shape = tuple[int | None, ...]

# Class name -> class for every layer lstmkit can rebuild from a saved configuration.
REGISTRY: dict[str, type[Layer]] = {}


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make ``cls`` known to :func:`lstmkit.models.load_model`."""
    REGISTRY[cls.__name__] = cls
    return cls


def snake_case(name: str) -> str:
    """``"SimpleRNN"`` -> ``"simple_rnn"``, the default name of a layer."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def check_shape(arg: str, shape: object, batch: bool = False) -> Shape | None:
    """A shape as a tuple of positive ints (or None for unknown sizes)."""
    if shape is None:
        return None
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence) or isinstance(shape, str):
        raise TypeError(f"{arg}: expected a tuple of sizes, got {type(shape).__name__}")
    dims = tuple(shape)
    for d in dims[1:] if batch else dims:
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1):
            raise ValueError(
                f"{arg}: expected positive integers or None for unknown sizes, got {shape!r}"
            )
    return dims


def check_name(name: object) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(
            f"name: expected an identifier (letters, digits, underscores; no dots), got {name!r}"
        )
    return name


def param_dtype(x: Tensor) -> torch.dtype:
    """The dtype for parameters built from input ``x``: x's own if float32/64, else the default.

    Inputs in a lower precision (bf16 under autocast) or integers (token ids) get the
    default floating type, so autocast never creates low-precision weights.
    """
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.get_default_dtype()


class Layer(nn.Module):
    """Base of the Keras-style layers.

    Subclasses implement ``_build(input_shape)`` (create submodules and parameters),
    ``forward(x, mask=None)``, ``compute_output_shape`` and ``get_config``, and call
    :meth:`build_if_shaped` at the end of their ``__init__``.

    Args:
        input_shape: shape of one sample, without the batch dimension; builds the layer now.
        name: the layer's name in its model (defaults to the class name in snake case).
    """

    # True: the layer passes a padding mask through unchanged. False: it refuses a mask.
    # Layers that make or consume masks override compute_mask instead.
    supports_masking = False

    def __init__(self, *, input_shape: Sequence[int | None] | None = None, name: str | None = None):
        super().__init__()
        self.name = check_name(name)
        self.input_shape_arg = check_shape("input_shape", input_shape)
        self.built = False
        self.build_input_shape: Shape | None = None

    def build_if_shaped(self) -> None:
        """Build now if ``input_shape`` was given; subclasses call it at the end of __init__."""
        if self.input_shape_arg is not None:
            self.build((None, *self.input_shape_arg))

    # -- building ---------------------------------------------------------------------------
    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the parameters for inputs of ``input_shape`` (batch dimension included)."""
        shape = check_shape("input_shape", input_shape, batch=True)
        if not self.built:
            self._build(shape)
            self.built = True
            self.build_input_shape = shape

    def _build(self, input_shape: Shape) -> None:
        """Create submodules; the default layer has none."""

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.built:
            if not isinstance(x, Tensor):
                raise TypeError(
                    f"{type(self).__name__}: expected a torch.Tensor input, got {type(x).__name__}"
                )
            self.build((None, *x.shape[1:]))
            self.to(device=x.device, dtype=param_dtype(x))
        return super().__call__(x, *args, **kwargs)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """Shape of the output for inputs of ``input_shape``; the identity by default."""
        return tuple(input_shape)

    # -- masks ------------------------------------------------------------------------------
    def check_mask(self, mask: Tensor | None) -> None:
        """Refuse a mask if this layer cannot honour one."""
        if mask is not None and not self.supports_masking:
            raise ValueError(
                f"{type(self).__name__} layer {self.name or ''!s}: its input carries a padding "
                "mask (from Embedding(mask_zero=True) or Masking), which this layer cannot "
                "honour; put it after a recurrent layer that consumes the mask"
            )

    def compute_mask(self, x: Tensor, mask: Tensor | None) -> Tensor | None:
        """The padding mask of the output: ``mask`` unchanged if supported, else None."""
        return mask if self.supports_masking else None

    # -- configuration ----------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as JSON-compatible values."""
        config: dict[str, Any] = {"name": self.name}
        if self.input_shape_arg is not None:
            config["input_shape"] = list(self.input_shape_arg)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """A new, unbuilt-or-built layer from :meth:`get_config`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        config = self.get_config()
        parts = [
            f"{k}={v!r}"
            for k, v in config.items()
            if k not in ("name", "input_shape") and not isinstance(v, dict)
        ]
        return ", ".join(parts + ([] if self.built else ["not built"]))
