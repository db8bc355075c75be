"""Single-step cells: ``LSTMCell``, ``GRUCell`` and ``RNNCell``, drop-ins for torch.nn's.

A cell advances the state by one step; loop over it yourself when each step's input
depends on the previous output (decoders, generation). Parameter names and shapes are
torch.nn's (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``).

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
from ..ops.weights import PARAM_STEMS, LayerWeights
from . import checks
from .init import check_init, init_lstmkit_, init_torch_


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
        device: Any = None,
        dtype: torch.dtype | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        if "proj_size" in options:
            raise TypeError(f"proj_size: not an option of {type(self).__name__}, only of LSTM")
        self.spec = RNNSpec(self.mode, input_size, hidden_size, bias=bias, **options)
        self.impl = impl
        dispatch.choose_impl(self.spec, impl)
        self.init = check_init(init)
        for stem, shape in self.spec.param_shapes(0).items():
            param = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
            self.register_parameter(stem, param)
        self.reset_parameters()

    input_size = property(lambda self: self.spec.input_size)
    hidden_size = property(lambda self: self.spec.hidden_size)
    bias = property(lambda self: self.spec.bias)

    def weights(self) -> LayerWeights:
        return LayerWeights(*(getattr(self, stem, None) for stem in PARAM_STEMS))

    def reset_parameters(self, init: str | None = None) -> None:
        """Re-draw every parameter with ``init`` (default: the scheme given at construction)."""
        init = check_init(init or self.init)
        if init == "torch":
            init_torch_(self.parameters(), self.spec.hidden_size)
        else:
            init_lstmkit_(self.weights().named(), self.mode, self.spec.gate_count)

    def extra_repr(self) -> str:
        s = self.spec
        text = f"{s.input_size}, {s.hidden_size}"
        if not s.bias:
            text += ", bias=False"
        if s.mode == "rnn" and s.nonlinearity != "tanh":
            text += f", nonlinearity={s.nonlinearity!r}"
        if s.mode == "gru" and not s.reset_after:
            text += ", reset_after=False"
        return text

    def forward(self, input: Tensor, hx: Any = None) -> Any:
        """One step. input: (B, I) or unbatched (I,); hx: (B, H) (LSTM: (h, c)) or None."""
        w = self.weights()
        x = checks.check_step("input", input, self.spec.input_size, w.w_ih)
        batched = x.dim() == 2
        if not batched:
            x = x.unsqueeze(0)  # (1, I)
        sizes = self.spec.state_sizes()
        if hx is None:
            state = tuple(x.new_zeros(x.shape[0], size) for size in sizes)
        else:
            names = ("hx[0] (h)", "hx[1] (c)") if self.mode == "lstm" else ("hx",)
            lead = (x.shape[0],) if batched else ()
            meaning = "(B, H)" if batched else "(H,)"
            shapes = [(*lead, size) for size in sizes]
            state = checks.check_state(names, hx, shapes, [meaning] * len(sizes), w.w_ih)
            if not batched:
                state = tuple(s.unsqueeze(0) for s in state)
        state = dispatch.cell(self.spec, x, state, w, self.impl)
        if not batched:
            state = tuple(s.squeeze(0) for s in state)
        return state if self.mode == "lstm" else state[0]

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
