"""Single-step cells: ``LSTMCell``, ``GRUCell`` and ``RNNCell``, drop-ins for torch.nn's.

A cell advances the state by one step; loop over it yourself when each step's input
depends on the previous output (decoders, generation). Parameter names and shapes are
torch.nn's (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``).

LSTMCell and GRUCell take the variant options of :class:`lstmkit.nn.LSTM` that act within
a step (peephole, coupled_gates, layer_norm, zoneout, activation, recurrent_activation,
ablation, forget_bias; the variant parameters are named without the ``_l0`` suffix, e.g.
``weight_ci``, ``ln_ih_weight``). ``recurrent_dropout`` and ``weight_drop`` keep one mask
per sequence, which a cell that sees one step cannot do: use the sequence layers for them.
With ablation="FGR" the state is a triple (h, c, q), q the gates of the step.

Example:
    >>> import torch
    >>> from lstmkit.nn import LSTMCell
    >>> cell = LSTMCell(10, 20)
    >>> h, c = cell(torch.randn(3, 10))                   # state starts at zeros
    >>> h, c = cell(torch.randn(3, 10), (h, c))
    >>> h.shape
    torch.Size([3, 20])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..ops import dispatch
from ..ops.spec import RNNSpec
from ..ops.stack import State
from ..ops.weights import PARAM_STEMS, LayerWeights
from . import checks
from .init import check_forget_bias, check_init, reset_
from .params import gather

# Variant options that need the whole sequence (one mask per sequence or per forward pass).
SEQUENCE_ONLY = ("recurrent_dropout", "weight_drop")


class RNNCellBase(nn.Module):
    """Shared machinery of the cells; use LSTMCell, GRUCell or RNNCell."""

    mode = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        impl: str = "auto",
        init: str = "lstmkit",
        forget_bias: float | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        if "proj_size" in options:
            raise TypeError(f"proj_size: not an option of {type(self).__name__}, only of LSTM")
        self.spec = RNNSpec(self.mode, input_size, hidden_size, bias=bias, **options)
        for name in SEQUENCE_ONLY:
            if getattr(self.spec, name):
                raise ValueError(
                    f"{name}: {type(self).__name__} sees one step at a time and cannot keep "
                    f"one mask per sequence; use lstmkit.nn.{type(self).__name__[:-4]} "
                    f"(got {name}={getattr(self.spec, name)})"
                )
        self.impl = impl
        dispatch.choose_impl(self.spec, impl)
        self.init = check_init(init)
        self.forget_bias = check_forget_bias(self.spec, forget_bias)
        shapes = self.spec.param_shapes(0)
        for stem, shape in shapes.items():
            param = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
            self.register_parameter(stem, param)
        self._slots = tuple(i for i, stem in enumerate(PARAM_STEMS) if stem in shapes)
        self._stems = tuple(PARAM_STEMS[i] for i in self._slots)
        self._quick: tuple[str, dispatch.QuickStep | None] = ("", None)  # (impl, quick_step)
        self.reset_parameters()

    input_size = property(lambda self: self.spec.input_size)
    hidden_size = property(lambda self: self.spec.hidden_size)
    bias = property(lambda self: self.spec.bias)

    def weights(self) -> LayerWeights:
        return LayerWeights(*gather(self, self._slots, self._stems))  # the stems it has

    def reset_parameters(self, init: str | None = None) -> None:
        """Re-draw every parameter with ``init`` (default: the scheme given at construction)."""
        reset_([self.weights()], self.spec, check_init(init or self.init), self.forget_bias)

    def extra_repr(self) -> str:
        s = self.spec
        text = f"{s.input_size}, {s.hidden_size}"
        if not s.bias:
            text += ", bias=False"
        if s.mode == "rnn" and s.nonlinearity != "tanh":
            text += f", nonlinearity={s.nonlinearity!r}"
        if s.mode == "gru" and not s.reset_after:
            text += ", reset_after=False"
        for name, value in s.variant_options().items():
            text += f", {name}={value!r}"
        if self.forget_bias is not None:
            text += f", forget_bias={self.forget_bias!r}"
        return text

    def forward(self, input: Tensor, hx: Any = None) -> Any:
        """One step. input: (B, I) or unbatched (I,); hx: (B, H) (LSTM: (h, c)) or None.

        With ablation="FGR", hx may be (h, c) or (h, c, q), q (B, 3H) the last gates (zeros
        when left out), and the result is (h', c', q').
        """
        if hx is not None and not torch.is_grad_enabled():  # in training its weights need grads
            impl, step = self._quick
            if impl != self.impl:  # the quick step for this impl (set it anew if it changed)
                step = dispatch.quick_step(self.spec, self.impl, self._stems)
                self._quick = (self.impl, step)
            quick = step and step(self._parameters, input, hx)
            if quick is not None:
                return quick
        w = self.weights()
        x = checks.check_step("input", input, self.spec.input_size, w.w_ih)
        batched = x.dim() == 2
        if not batched:
            x = x.unsqueeze(0)  # (1, I)
        sizes = self.spec.state_sizes()
        if hx is None:
            state = tuple(x.new_zeros(x.shape[0], size) for size in sizes)
        else:  # the common case is checked quickly; anything else with messages
            fits = batched and checks.fitting_states(hx, x.shape[0], sizes, w.w_ih)
            state = fits or self._check_state(hx, x, batched, w)
        state = dispatch.cell(self.spec, x, state, w, self.impl, self.training)
        if not batched:
            state = tuple(s.squeeze(0) for s in state)
        return state if self.mode == "lstm" else state[0]

    def __getstate__(self) -> dict[str, Any]:
        """The module's state without its quick step (a function of this process, found
        again on the first call), so that copies and torch.save take it as any module."""
        state = self.__dict__.copy()
        state["_quick"] = ("", None)
        return state

    def _check_state(self, hx: Any, x: Tensor, batched: bool, w: LayerWeights) -> State:
        """hx checked against x (B, I), with a message naming what is wrong."""
        sizes = self.spec.state_sizes()
        names = ("hx[0] (h)", "hx[1] (c)", "hx[2] (q)") if self.mode == "lstm" else ("hx",)
        lead = (x.shape[0],) if batched else ()
        if len(sizes) == 3 and isinstance(hx, tuple | list) and len(hx) == 2:
            hx = (*hx, x.new_zeros(*lead, sizes[2]))  # FGR: the gates start at zero
        letters = ("H", "H", "3H")[: len(sizes)]
        meanings = [f"(B, {n})" if batched else f"({n},)" for n in letters]
        shapes = [(*lead, size) for size in sizes]
        state = checks.check_state(names[: len(sizes)], hx, shapes, meanings, w.w_ih)
        return state if batched else tuple(s.unsqueeze(0) for s in state)

    @classmethod
    def from_torch(cls, module: nn.Module, **kwargs: Any) -> RNNCellBase:
        """A copy of a torch.nn.LSTMCell / GRUCell / RNNCell with the same weights."""
        from .convert import from_torch

        return from_torch(module, **kwargs)

    def to_torch(self) -> nn.Module:
        """A torch.nn cell with this configuration and a copy of these weights."""
        from .convert import to_torch

        return to_torch(self)


class LSTMCell(RNNCellBase):
    """One LSTM step; a drop-in for ``torch.nn.LSTMCell``. Returns ``(h', c')``.

    Example:
        >>> cell = LSTMCell(4, 8)
        >>> h, c = cell(torch.randn(2, 4))
        >>> h.shape, c.shape
        (torch.Size([2, 8]), torch.Size([2, 8]))
    """

    mode = "lstm"


class GRUCell(RNNCellBase):
    """One GRU step; a drop-in for ``torch.nn.GRUCell``. Returns ``h'``.

    Example:
        >>> GRUCell(4, 8, reset_after=False)(torch.randn(2, 4)).shape
        torch.Size([2, 8])
    """

    mode = "gru"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        reset_after: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, reset_after=reset_after, **kwargs)


class RNNCell(RNNCellBase):
    """One Elman RNN step; a drop-in for ``torch.nn.RNNCell``. Returns ``h'``.

    Example:
        >>> RNNCell(4, 8, nonlinearity="relu")(torch.randn(4)).shape
        torch.Size([8])
    """

    mode = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        **kwargs: Any,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, nonlinearity=nonlinearity, **kwargs)
