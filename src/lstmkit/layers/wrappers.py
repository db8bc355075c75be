"""Wrappers: Bidirectional (a recurrent layer both ways) and TimeDistributed (a layer per step).

Example:
    >>> import torch
    >>> from lstmkit.layers import LSTM, Bidirectional, Dense, TimeDistributed
    >>> Bidirectional(LSTM(8, return_sequences=True))(torch.randn(2, 5, 3)).shape
    torch.Size([2, 5, 16])
    >>> TimeDistributed(Dense(4))(torch.randn(2, 5, 3)).shape
    torch.Size([2, 5, 4])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .base import REGISTRY, Layer, Shape, register
from .masking import mask_to_lengths, reverse_padded
from .recurrent import Recurrent

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def layer_config(layer: nn.Module) -> dict[str, Any]:
    """``{"class": name, "config": {...}}`` of a layer, for a wrapper's configuration."""
    if not isinstance(layer, Layer):
        return {"class": f"<torch module {type(layer).__name__}>", "config": {}}
    return {"class": type(layer).__name__, "config": layer.get_config()}


def layer_from_config(spec: dict[str, Any], custom: dict[str, type] | None = None) -> Layer:
    """Rebuild a layer from :func:`layer_config`'s output."""
    known = {**REGISTRY, **(custom or {})}
    name = spec.get("class")
    if name not in known:
        raise ValueError(
            f"layer class {name!r} is unknown; known: {', '.join(sorted(known))} "
            "(pass custom layers to load_model(..., custom_objects={name: cls}))"
        )
    cls = known[name]
    config = dict(spec.get("config", {}))
    if getattr(cls, "wraps_layers", False):
        return cls.from_config(config, custom)
    return cls.from_config(config)


@register
class Bidirectional(Layer):
    """Run a recurrent layer forwards and a copy of it backwards, and merge the results.

    The backward copy has ``go_backwards`` flipped; with ``return_sequences`` its outputs
    are put back in the input's time order (each sequence within its own length) before
    merging, so step t of the result sees the whole sequence from both sides.

    Args:
        layer: an unbuilt LSTM, GRU or SimpleRNN (or one built with input_shape=).
        merge_mode: "concat" (features 2H), "sum", "mul", "ave", or None for a list
            ``[forward, backward]``.
        backward_layer: the backward layer, if not a copy of ``layer``.

    With ``return_state`` the result is ``[output, *forward_states, *backward_states]``.

    Example:
        >>> from lstmkit.layers import GRU
        >>> Bidirectional(GRU(4), merge_mode="sum")(torch.randn(2, 5, 3)).shape
        torch.Size([2, 4])
    """

    supports_masking = True
    wraps_layers = True

    def __init__(
        self,
        layer: Recurrent,
        merge_mode: str | None = "concat",
        backward_layer: Recurrent | None = None,
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            input_shape=input_shape or getattr(layer, "input_shape_arg", None), name=name
        )
        for arg, lay in (("layer", layer), ("backward_layer", backward_layer)):
            if lay is not None and not isinstance(lay, Recurrent):
                raise TypeError(
                    f"{arg}: expected an LSTM, GRU or SimpleRNN layer, got {type(lay).__name__}"
                )
        if layer.stateful:
            raise ValueError("layer: Bidirectional does not support stateful=True layers")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode: expected one of {MERGE_MODES}, got {merge_mode!r}")
        self.merge_mode = merge_mode
        if backward_layer is None:
            config = {**layer.get_config(), "go_backwards": not layer.go_backwards}
            config.pop("input_shape", None)
            config["name"] = None
            backward_layer = type(layer).from_config(config)
        if backward_layer.return_sequences != layer.return_sequences:
            raise ValueError("backward_layer: expected the same return_sequences as layer")
        self.forward_layer = layer
        self.backward_layer = backward_layer
        self.build_if_shaped()

    return_sequences = property(lambda self: self.forward_layer.return_sequences)
    return_state = property(lambda self: self.forward_layer.return_state)

    def _build(self, input_shape: Shape) -> None:
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, initial_state: Sequence[Tensor] | None = None
    ) -> Tensor | list[Tensor]:
        init_f = init_b = None
        if initial_state is not None:
            half = len(initial_state) // 2
            init_f, init_b = list(initial_state[:half]), list(initial_state[half:])
        yf = self.forward_layer(x, mask=mask, initial_state=init_f)
        yb = self.backward_layer(x, mask=mask, initial_state=init_b)
        states: list[Tensor] = []
        if self.return_state:
            (yf, *sf), (yb, *sb) = yf, yb
            states = [*sf, *sb]
        if self.return_sequences:
            lengths = None if mask is None else mask_to_lengths(mask, x.shape[1])
            yb = reverse_padded(yb, lengths)  # back to the input's time order
        merged = self._merge(yf, yb)
        if not self.return_state:
            return merged
        return [*(merged if isinstance(merged, list) else [merged]), *states]

    def _merge(self, yf: Tensor, yb: Tensor) -> Tensor | list[Tensor]:
        if self.merge_mode == "concat":
            return torch.cat([yf, yb], dim=-1)  # (..., 2H)
        if self.merge_mode == "sum":
            return yf + yb
        if self.merge_mode == "mul":
            return yf * yb
        if self.merge_mode == "ave":
            return (yf + yb) / 2
        return [yf, yb]

    def reset_states(self) -> None:
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = self.forward_layer.compute_output_shape(input_shape)
        if self.merge_mode == "concat":
            shape = (*shape[:-1], 2 * shape[-1])
        return shape

    def compute_mask(self, x: Tensor, mask: Tensor | None) -> Tensor | None:
        return mask if self.return_sequences else None

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "layer": layer_config(self.forward_layer),
            "merge_mode": self.merge_mode,
            "backward_layer": layer_config(self.backward_layer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom: dict | None = None) -> Bidirectional:
        config = dict(config)
        config["layer"] = layer_from_config(config["layer"], custom)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = layer_from_config(config["backward_layer"], custom)
        return cls(**config)


@register
class TimeDistributed(Layer):
    """Apply a layer to every time step: (B, T, ...) -> layer on (B*T, ...) -> (B, T, ...).

    Example:
        >>> from lstmkit.layers import Dense
        >>> td = TimeDistributed(Dense(2), input_shape=(5, 3))
        >>> td.compute_output_shape((None, 5, 3))
        (None, 5, 2)
    """

    supports_masking = True
    wraps_layers = True

    def __init__(
        self,
        layer: nn.Module,
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(layer, nn.Module):
            raise TypeError(
                f"layer: expected a layer (torch.nn.Module), got {type(layer).__name__}"
            )
        super().__init__(input_shape=input_shape, name=name)
        self.layer = layer
        self.build_if_shaped()

    def _build(self, input_shape: Shape) -> None:
        if len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed: expected inputs (B, T, ...) of at least 3 dimensions, "
                f"got shape {input_shape}"
            )
        if isinstance(self.layer, Layer):
            self.layer.build((None, *input_shape[2:]))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if x.dim() < 3:
            raise ValueError(f"TimeDistributed: expected (B, T, ...) input, got {tuple(x.shape)}")
        batch, steps = x.shape[0], x.shape[1]
        y = self.layer(x.reshape(batch * steps, *x.shape[2:]))  # (B*T, ...)
        return y.reshape(batch, steps, *y.shape[1:])  # (B, T, ...)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if not isinstance(self.layer, Layer):
            return (*input_shape[:2], None)
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (*input_shape[:2], *inner[1:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layer": layer_config(self.layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom: dict | None = None) -> TimeDistributed:
        config = dict(config)
        config["layer"] = layer_from_config(config["layer"], custom)
        return cls(**config)
