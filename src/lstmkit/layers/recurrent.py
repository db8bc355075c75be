"""The machinery of the Keras-style recurrent layers (LSTM, GRU, SimpleRNN) on lstmkit.nn.

Each layer owns one batch-first :class:`lstmkit.nn.LSTM` / ``GRU`` / ``RNN`` (``self.rnn``),
built on the first call with the input size of the data (or at once with
``input_shape=``); Keras's ``units`` is its ``hidden_size``. The recurrence itself is
lstmkit.nn's, so every implementation and option of the ops is available: arguments the
Keras layer does not know itself (``impl=``, ``init=``, ``proj_size=``, ``num_layers=``, ...)
go to the lstmkit.nn module unchanged, and so do ``activation`` / ``recurrent_activation``
/ ``recurrent_dropout`` when they differ from the defaults (tanh / sigmoid / 0).

Masks (from ``Embedding(mask_zero=True)`` or ``Masking``) arrive as ``lengths=``: padded
steps never touch the result. ``go_backwards`` reverses each sequence within its length.

Example:
    >>> import torch
    >>> from lstmkit.layers import LSTM
    >>> layer = LSTM(8, return_sequences=True)
    >>> layer(torch.randn(2, 5, 3)).shape                       # (B, T, H)
    torch.Size([2, 5, 8])
    >>> out, h, c = LSTM(8, return_state=True)(torch.randn(2, 5, 3))
    >>> out.shape, h.shape, c.shape                             # (B, H) each
    (torch.Size([2, 8]), torch.Size([2, 8]), torch.Size([2, 8]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .. import nn as lnn
from .base import Layer, Shape
from .core import check_rate, check_units
from .masking import mask_to_lengths, reverse_padded

# lstmkit.nn arguments the Keras layer sets itself, with what to use instead.
RESERVED = {
    "input_size": "the input size is inferred from the data (or input_shape=)",
    "hidden_size": "use units=",
    "batch_first": "Keras-style layers are always batch-first",
    "bidirectional": "wrap the layer in Bidirectional(...)",
    "bias": "use use_bias=",
    "nonlinearity": "use activation=",
    "device": "layers are built on the device of their first input; move models with .to()",
    "dtype": "layers are built with the dtype of their first input; convert with .to()",
}


def check_bool(arg: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{arg}: expected a bool, got {value!r}")
    return value


class Recurrent(Layer):
    """Shared machinery of LSTM, GRU and SimpleRNN; use those classes."""

    nn_class: type[lnn.rnn.RNNBase] = lnn.RNN
    supports_masking = True

    def __init__(
        self,
        units: int,
        keras: dict[str, Any],
        nn_options: dict[str, Any],
        options: dict[str, Any],
        input_shape: Sequence[int | None] | None,
        name: str | None,
    ) -> None:
        super().__init__(input_shape=input_shape, name=name)
        self.units = check_units("units", units)
        for arg in ("use_bias", "return_sequences", "return_state", "go_backwards", "stateful"):
            check_bool(arg, keras[arg])
        check_rate("dropout", keras["dropout"])
        self.keras = keras  # the Keras arguments, for get_config
        self.options = dict(options)  # passed through to lstmkit.nn
        for key in options:
            if key in RESERVED:
                raise TypeError(f"{key}: not an argument of {type(self).__name__}; {RESERVED[key]}")
        self.nn_kwargs = {"bias": keras["use_bias"], **nn_options, **options}
        # Fail now, not at the first call: a weightless module validates every option.
        self.nn_class(1, self.units, batch_first=True, device="meta", **self.nn_kwargs)
        self.states: tuple[Tensor, ...] | None = None
        self.carry_state = False  # set by fit(tbptt=k): carry state like a stateful layer
        self.build_if_shaped()

    # Keras attribute names
    return_sequences = property(lambda self: self.keras["return_sequences"])
    return_state = property(lambda self: self.keras["return_state"])
    go_backwards = property(lambda self: self.keras["go_backwards"])
    stateful = property(lambda self: self.keras["stateful"])
    dropout = property(lambda self: self.keras["dropout"])

    @property
    def output_size(self) -> int:
        """Features of the output: ``proj_size`` when projecting, else ``units``."""
        return self.options.get("proj_size") or self.units

    def _build(self, input_shape: Shape) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__}: expected inputs (B, T, F) with a known F, "
                f"got shape {input_shape}"
            )
        self.rnn = self.nn_class(input_shape[-1], self.units, batch_first=True, **self.nn_kwargs)

    # -- forward ----------------------------------------------------------------------------
    def forward(
        self, x: Tensor, mask: Tensor | None = None, initial_state: Sequence[Tensor] | None = None
    ) -> Tensor | list[Tensor]:
        """Run over x (B, T, F); mask (B, T) marks valid steps (right padding only).

        Returns the output, (B, T, H) with ``return_sequences`` else (B, H); with
        ``return_state`` a list ``[output, *states]``, each state (B, H).
        """
        x = self._check_input(x)
        batch, steps = x.shape[0], x.shape[1]
        lengths = None
        if mask is not None:
            if mask.shape[0] != batch:
                raise ValueError(
                    f"mask: expected shape ({batch}, {steps}), got {tuple(mask.shape)}"
                )
            lengths = mask_to_lengths(mask, steps)  # (B,), may hold zeros
        if self.go_backwards:
            x = reverse_padded(x, lengths)
        if self.training and self.dropout > 0:
            # One mask per sequence, the same at every step (Gal & Ghahramani 2016, Keras).
            keep = x.new_empty(batch, 1, x.shape[2]).bernoulli_(1 - self.dropout)  # (B, 1, F)
            x = x * keep / (1 - self.dropout)
        hx = self._start_state(initial_state, batch)
        run_lengths = None if lengths is None else lengths.clamp(min=1)
        out, state = self.rnn(x, hx, lengths=run_lengths)  # out (B, T, H)
        states = tuple(state) if isinstance(state, tuple) else (state,)  # each (L, B, H)
        if lengths is not None and bool((lengths == 0).any()):
            out, states = self._blank(out, states, hx, lengths == 0)
        if self.stateful or self.carry_state:
            self.states = tuple(s.detach() for s in states)
        result = out if self.return_sequences else states[0][-1]  # (B, T, H) or (B, H)
        if not self.return_state:
            return result
        return [result, *(s[0] if len(s) == 1 else s for s in states)]

    def _check_input(self, x: Tensor) -> Tensor:
        weight = self.rnn.weight_ih_l0
        features = weight.shape[1]
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != features:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"{type(self).__name__}: expected inputs (B, T, {features}) "
                f"(batch, steps, features), got {got}"
            )
        if not x.is_floating_point():
            raise TypeError(f"{type(self).__name__}: expected a float input, got dtype {x.dtype}")
        return x.to(weight.dtype)  # autocast may hand us bf16; the weights stay float32

    def _state_shapes(self, batch: int) -> list[tuple[int, ...]]:
        layers = self.rnn.num_layers
        return [(layers, batch, size) for size in self.rnn.spec.state_sizes()]

    def _start_state(self, initial_state: Sequence[Tensor] | None, batch: int) -> Any:
        """The state to start from, in lstmkit.nn's form, or None for zeros."""
        shapes = self._state_shapes(batch)
        if initial_state is not None:
            return self._as_nn_state(self._check_state(initial_state, shapes))
        if self.states is None:
            return None
        if self.states[0].shape[1] != batch:
            raise ValueError(
                f"{type(self).__name__}: a stateful layer got a batch of {batch} sequences "
                f"after batches of {self.states[0].shape[1]}; keep the batch size fixed "
                "(a batch size that divides the data) or call reset_states()"
            )
        return self._as_nn_state(self.states)

    def _check_state(self, initial_state: Sequence[Tensor], shapes: list) -> tuple[Tensor, ...]:
        if isinstance(initial_state, Tensor):
            initial_state = [initial_state]
        if len(initial_state) != len(shapes):
            raise ValueError(
                f"initial_state: expected {len(shapes)} tensors, got {len(initial_state)}"
            )
        states = []
        for i, (s, shape) in enumerate(zip(initial_state, shapes, strict=True)):
            full = s.unsqueeze(0) if s.dim() == 2 else s
            if tuple(full.shape) != shape:
                want = shape[1:] if shape[0] == 1 else shape
                raise ValueError(f"initial_state[{i}]: expected shape {want}, got {tuple(s.shape)}")
            states.append(full.to(self.rnn.weight_ih_l0.dtype))
        return tuple(states)

    @staticmethod
    def _as_nn_state(states: tuple[Tensor, ...]) -> Any:
        return states if len(states) == 2 else states[0]

    @staticmethod
    def _blank(out: Tensor, states: tuple, hx: Any, empty: Tensor) -> tuple[Tensor, tuple]:
        """Sequences that are padding only: zero output, the initial state unchanged."""
        empty = empty.to(out.device)
        out = out.masked_fill(empty[:, None, None], 0.0)
        starts = (hx,) if isinstance(hx, Tensor) else hx
        starts = starts or tuple(torch.zeros_like(s) for s in states)
        kept = tuple(
            torch.where(empty[None, :, None], h, s) for h, s in zip(starts, states, strict=True)
        )
        return out, kept

    def reset_states(self, states: Sequence[Tensor] | None = None) -> None:
        """Forget the carried state (zeros next call), or set it to ``states``."""
        if states is None:
            self.states = None
            return
        if not self.built:
            raise ValueError(f"{type(self).__name__}: build the layer before setting its states")
        batch = states[0].shape[-2]
        self.states = tuple(
            s.detach() for s in self._check_state(states, self._state_shapes(batch))
        )

    # -- shapes and configuration ---------------------------------------------------------
    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.output_size)
        return (input_shape[0], self.output_size)

    def compute_mask(self, x: Tensor, mask: Tensor | None) -> Tensor | None:
        return mask if self.return_sequences else None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, **self.keras, **self.options}

    def extra_repr(self) -> str:
        flags = [k for k in ("return_sequences", "return_state", "go_backwards") if self.keras[k]]
        return ", ".join([str(self.units), *flags] + ([] if self.built else ["not built"]))
