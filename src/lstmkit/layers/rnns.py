"""The Keras recurrent layers: LSTM, GRU and SimpleRNN, each on its lstmkit.nn module.

Example:
    >>> import torch
    >>> from lstmkit.layers import GRU
    >>> GRU(6, return_sequences=True, go_backwards=True)(torch.randn(2, 5, 3)).shape
    torch.Size([2, 5, 6])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import nn as lnn
from .base import register
from .recurrent import Recurrent, check_bool


def _activation_options(
    activation: Any, recurrent_activation: Any, recurrent_dropout: float
) -> dict[str, Any]:
    """Options for lstmkit.nn where they differ from its defaults; the module checks them."""
    options: dict[str, Any] = {}
    if activation != "tanh":
        options["activation"] = activation
    if recurrent_activation != "sigmoid":
        options["recurrent_activation"] = recurrent_activation
    if recurrent_dropout != 0:
        options["recurrent_dropout"] = recurrent_dropout
    return options


@register
class LSTM(Recurrent):
    """Long Short-Term Memory layer (Hochreiter & Schmidhuber 1997), Keras-style.

    Args:
        units: H, the hidden size.
        activation, recurrent_activation, recurrent_dropout: passed to lstmkit.nn.LSTM
            when not tanh / sigmoid / 0.
        use_bias: use biases.
        return_sequences: output every step (B, T, H) rather than the last (B, H).
        return_state: also return the final states ``[output, h, c]``.
        go_backwards: process each sequence in reverse (outputs in processing order).
        stateful: the final state of a batch is the initial state of the next;
            see :meth:`reset_states`.
        dropout: input dropout in training, one mask per sequence shared by all steps.
        unit_forget_bias: True: the forget gate's bias starts at 1 (lstmkit's default;
            with ``init="torch"``, torch's draw); False: at 0 (``forget_bias=0.0`` of
            lstmkit.nn.LSTM). ``forget_bias=`` itself sets any other value.
        input_shape: (T, F) of one sample; builds the layer now.
        options: any other lstmkit.nn.LSTM option (``impl=``, ``init=``, ``proj_size=``, ...).
    """

    nn_class = lnn.LSTM

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        unit_forget_bias: bool = True,
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        keras = dict(
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            unit_forget_bias=check_bool("unit_forget_bias", unit_forget_bias),
        )
        extra = _activation_options(activation, recurrent_activation, recurrent_dropout)
        extra.update(_forget_bias_option(unit_forget_bias, use_bias, options))
        super().__init__(units, keras, extra, options, input_shape, name)


def _forget_bias_option(unit_forget_bias: bool, use_bias: bool, options: dict) -> dict:
    """Keras's unit_forget_bias=False as lstmkit.nn's forget_bias=0.0, where a bias holds it."""
    if unit_forget_bias:
        return {}
    if options.get("forget_bias") not in (None, 0, 0.0):
        raise ValueError(
            f"unit_forget_bias=False asks for a forget-gate bias of 0, but "
            f"forget_bias={options['forget_bias']!r} was given; pass one of them"
        )
    if not (use_bias or options.get("layer_norm")):
        return {}  # no bias anywhere: nothing to set
    return {"forget_bias": 0.0}


@register
class GRU(Recurrent):
    """Gated Recurrent Unit layer (Cho et al. 2014), Keras-style.

    ``reset_after=True`` (Keras's and torch's default) applies the reset gate after the
    recurrent matmul; False is the original form. Other arguments as :class:`LSTM`.
    """

    nn_class = lnn.GRU

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        reset_after: bool = True,
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        keras = dict(
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            reset_after=reset_after,
        )
        extra = _activation_options(activation, recurrent_activation, recurrent_dropout)
        extra["reset_after"] = reset_after
        super().__init__(units, keras, extra, options, input_shape, name)


@register
class SimpleRNN(Recurrent):
    """Elman recurrent layer, Keras-style: ``h' = activation(W x + U h + b)``.

    ``activation`` "tanh" or "relu" is torch's ``nonlinearity``; any other value is passed
    to lstmkit.nn.RNN as ``activation=``. Other arguments as :class:`LSTM`.
    """

    nn_class = lnn.RNN

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        keras = dict(
            activation=activation,
            use_bias=use_bias,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
        )
        if activation in ("tanh", "relu"):
            extra = {"nonlinearity": activation}
        else:
            extra = {"activation": activation}
        if recurrent_dropout != 0:
            extra["recurrent_dropout"] = recurrent_dropout
        super().__init__(units, keras, extra, options, input_shape, name)
