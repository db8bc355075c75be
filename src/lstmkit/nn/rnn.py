"""Sequence layers: ``LSTM``, ``GRU`` and ``RNN``, drop-ins for their torch.nn namesakes.

Same constructor arguments, call signature, parameter names and shapes as torch.nn, so
``load_state_dict`` works both ways; in addition ``forward`` takes ``lengths=`` for
variable-length batches, ``impl=`` picks the implementation, ``init=`` the
initialisation (see :mod:`lstmkit.nn.init`), and LSTM and GRU take the variant options
documented on :class:`LSTM` (equations in :mod:`lstmkit.ops.variants`).

Example:
    >>> import torch
    >>> from lstmkit.nn import LSTM
    >>> lstm = LSTM(10, 20, num_layers=2, batch_first=True)
    >>> x = torch.randn(3, 7, 10)                         # (B, T, I)
    >>> out, (h_n, c_n) = lstm(x, lengths=[7, 2, 5])      # unsorted lengths are fine
    >>> out.shape, h_n.shape                              # (B, T, D*H), (L*D, B, H)
    (torch.Size([3, 7, 20]), torch.Size([2, 3, 20]))
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..ops import dispatch
from ..ops.spec import RNNSpec
from ..ops.stack import State
from ..ops.weights import PARAM_STEMS, LayerWeights
from . import checks
from .init import check_forget_bias, check_init, reset_
from .params import gather


class RNNBase(nn.Module):
    """Shared machinery of LSTM, GRU and RNN; use those classes."""

    mode = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        impl: str = "auto",
        init: str = "lstmkit",
        forget_bias: float | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.spec = RNNSpec(
            self.mode,
            input_size,
            hidden_size,
            num_layers,
            bias,
            bidirectional,
            dropout=dropout,
            **options,
        )
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first: expected a bool, got {batch_first!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} has no effect with num_layers=1: dropout is applied "
                "between stacked layers only",
                stacklevel=2,
            )
        self.batch_first = batch_first
        self.impl = impl
        dispatch.choose_impl(self.spec, impl)  # fail now, not at the first forward
        self.init = check_init(init)
        self.forget_bias = check_forget_bias(self.spec, forget_bias)
        for layer in range(num_layers):
            for suffix in self._suffixes():
                for stem, shape in self.spec.param_shapes(layer).items():
                    param = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
                    self.register_parameter(f"{stem}_l{layer}{suffix}", param)
        # Per layer-direction, the slots in PARAM_STEMS of the parameters it has and their
        # names, for layer_weights on every call.
        self._names = []
        for layer in range(num_layers):
            stems = self.spec.param_shapes(layer)
            slots = tuple(i for i, stem in enumerate(PARAM_STEMS) if stem in stems)
            for sfx in self._suffixes():
                names = tuple(f"{PARAM_STEMS[i]}_l{layer}{sfx}" for i in slots)
                self._names.append((slots, names))
        self.reset_parameters()

    # -- torch.nn-compatible attributes ---------------------------------------------------
    input_size = property(lambda self: self.spec.input_size)
    hidden_size = property(lambda self: self.spec.hidden_size)
    num_layers = property(lambda self: self.spec.num_layers)
    bias = property(lambda self: self.spec.bias)
    dropout = property(lambda self: self.spec.dropout)
    bidirectional = property(lambda self: self.spec.bidirectional)
    proj_size = property(lambda self: self.spec.proj_size)

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.spec.bidirectional else ("",)

    def layer_weights(self) -> list[LayerWeights]:
        """The weights of every layer-direction, layer-major, forward before reverse."""
        return [LayerWeights(*gather(self, slots, names)) for slots, names in self._names]

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Parameters grouped per layer-direction, as torch.nn.RNNBase.all_weights."""
        return [w.flat() for w in self.layer_weights()]

    def reset_parameters(self, init: str | None = None) -> None:
        """Re-draw every parameter with ``init`` (default: the scheme given at construction)."""
        reset_(self.layer_weights(), self.spec, check_init(init or self.init), self.forget_bias)

    def flatten_parameters(self) -> None:
        """Accepted for torch.nn compatibility; lstmkit keeps parameters as they are."""

    def extra_repr(self) -> str:
        s = self.spec
        text = f"{s.input_size}, {s.hidden_size}"
        defaults = RNNSpec(s.mode, s.input_size, s.hidden_size)
        for name in (
            "num_layers",
            "bias",
            "dropout",
            "bidirectional",
            "proj_size",
            "nonlinearity",
            "reset_after",
        ):
            if getattr(s, name) != getattr(defaults, name):
                text += f", {name}={getattr(s, name)!r}"
        for name, value in s.variant_options().items():
            text += f", {name}={value!r}"
        if self.forget_bias is not None:
            text += f", forget_bias={self.forget_bias!r}"
        if self.batch_first:
            text += ", batch_first=True"
        if self.impl != "auto":
            text += f", impl={self.impl!r}"
        return text

    # -- forward ----------------------------------------------------------------------------
    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | list[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Any]:
        """Run the stack over a sequence.

        Args:
            input: (T, B, I), or (B, T, I) when ``batch_first``, or unbatched (T, I),
                or a PackedSequence.
            hx: initial state, (L*D, B, H) (LSTM: a pair (h_0 (L*D, B, P or H),
                c_0 (L*D, B, H)); with ablation="FGR" optionally a third, the gates
                q_0 (L*D, B, 3H), zeros when left out); zeros when None. Never batch-first,
                as in torch.nn.
            lengths: (B,) valid steps per sequence, in [1, T], any order, any device.
                Outputs past a sequence's length are zero and its final state is taken at
                its last valid step (for the reverse direction: after reaching step 0,
                having started at the last valid step).

        Returns:
            ``(output, h_n)``, or ``(output, (h_n, c_n))`` for LSTM (``(h_n, c_n, q_n)`` with
            ablation="FGR"); output (T, B, D*(P or H)) (batch-first when ``batch_first``),
            a PackedSequence for packed input.
        """
        weights = self.layer_weights()
        w0 = weights[0].w_ih
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError(
                    "lengths: expected None when input is a PackedSequence "
                    "(it carries its own lengths), got a value"
                )
            checks.require_like("input", input.data, w0)
            x, lengths = pad_packed_sequence(input)  # (T, B, I), original batch order
            batched = True
        else:
            x = checks.check_sequence("input", input, self.spec.input_size, self.batch_first, w0)
            batched = x.dim() == 3
            if not batched:
                x = x.unsqueeze(1)  # (T, 1, I)
                if lengths is not None:
                    raise ValueError("lengths: expected None for unbatched 2-D input, got a value")
            elif self.batch_first:
                x = x.transpose(0, 1)  # (T, B, I)
        steps, batch = x.shape[0], x.shape[1]
        if lengths is not None:
            lengths = checks.as_lengths(lengths, batch, steps)
        states = self._initial_state(hx, x, batched, w0)
        out, states = dispatch.rnn(
            self.spec, x, states, weights, lengths, self.training, self.impl
        )  # out (T, B, D*S), states each (L*D, B, S)
        if packed:
            out = _repack(out, input, lengths)
        elif not batched:
            out, states = out.squeeze(1), tuple(s.squeeze(1) for s in states)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, (states if self.mode == "lstm" else states[0])

    def _initial_state(self, hx: Any, x: Tensor, batched: bool, weight: Tensor) -> State:
        """Zeros when hx is None, else hx checked against (L*D, B, S) and made batched."""
        s = self.spec
        rows, batch = s.num_layers * s.num_directions, x.shape[1]
        sizes = s.state_sizes()
        if hx is None:
            return tuple(x.new_zeros(rows, batch, size) for size in sizes)
        lead = (rows, batch) if batched else (rows,)
        if s.mode == "lstm":
            names = ("hx[0] (h_0)", "hx[1] (c_0)", "hx[2] (q_0)")[: len(sizes)]
            letters = ("P" if s.proj_size else "H", "H", "3H")[: len(sizes)]
            if len(sizes) == 3 and isinstance(hx, tuple | list) and len(hx) == 2:
                hx = (*hx, x.new_zeros(*lead, sizes[2]))  # FGR: the gates start at zero
        else:
            names, letters = ("hx",), ("H",)
        lead_txt = "(L*D, B, " if batched else "(L*D, "
        shapes = [(*lead, size) for size in sizes]
        meanings = [f"{lead_txt}{letter})" for letter in letters]
        states = checks.check_state(names, hx, shapes, meanings, weight)
        return states if batched else tuple(h.unsqueeze(1) for h in states)

    # -- conversion -------------------------------------------------------------------------
    @classmethod
    def from_torch(cls, module: nn.Module, **kwargs: Any) -> RNNBase:
        """A copy of a torch.nn.LSTM / GRU / RNN with the same configuration and weights."""
        from .convert import from_torch

        return from_torch(module, **kwargs)

    def to_torch(self) -> nn.Module:
        """A torch.nn module with this configuration and a copy of these weights."""
        from .convert import to_torch

        return to_torch(self)


def _repack(out: Tensor, like: PackedSequence, lengths: Tensor) -> PackedSequence:
    """Pack a padded (T, B, F) output with the batch order and sizes of ``like``."""
    order = like.sorted_indices
    if order is not None:
        out, lengths = out.index_select(1, order), lengths.index_select(0, order.cpu())
    data = pack_padded_sequence(out, lengths, enforce_sorted=True).data
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


class LSTM(RNNBase):
    """Long Short-Term Memory over sequences; a drop-in for ``torch.nn.LSTM``.

    Gate order i, f, g, o; the equations are in :mod:`lstmkit.ops.reference`, those of the
    variants in :mod:`lstmkit.ops.variants`. σ is the gate function, φ the activation.

    Args:
        input_size: I. hidden_size: H. num_layers: L. bias: use b_ih and b_hh.
        batch_first: input and output are (B, T, *). dropout: between layers, in training.
        bidirectional: D = 2. proj_size: P > 0 projects h to P features (Sak et al. 2014).
        impl: ``"auto"`` (fastest that serves), ``"reference"`` or ``"native"`` (torch's kernel).
        init: ``"lstmkit"`` (forget bias 1, orthogonal recurrent, Xavier input) or ``"torch"``.
        forget_bias: initial value of the forget gate's bias (default 1 under
            ``init="lstmkit"``, torch's draw under ``init="torch"``).

    Variant options (keyword arguments; any combination not listed as a conflict works with
    layers, bidirectional, batch_first, lengths, proj_size and initial states):
        peephole: ``True`` adds diagonal peepholes (Gers & Schmidhuber 2000):
            i = σ(a_i + p_i ⊙ c_{t-1}), f = σ(a_f + p_f ⊙ c_{t-1}), o = σ(a_o + p_o ⊙ c_t);
            parameters ``weight_ci_l{k}``, ``weight_cf_l{k}``, ``weight_co_l{k}`` (H,), init 0.
        coupled_gates: ``True`` ties the input gate to the forget gate, i = 1 - f
            (the rows of W for i are kept, so torch weights load, and get no gradient).
        layer_norm: ``True`` (Ba et al. 2016): a = LN(W_ih x) + b_ih + LN(W_hh h) + b_hh,
            h = o ⊙ φ(LN(c)); each LN with gain and bias, ``ln_ih_weight_l{k}`` /
            ``ln_ih_bias_l{k}`` (4H,), ``ln_hh_*`` (4H,), ``ln_c_*`` (H,), init 1 and 0.
        zoneout: ``(z_c, z_h)`` or one number for both (Krueger et al. 2017): in training
            c_t = d_c ⊙ c_{t-1} + (1 - d_c) ⊙ c', h_t = d_h ⊙ h_{t-1} + (1 - d_h) ⊙ h' with
            d ~ Bernoulli(z) per unit and step (c', h' the LSTM's update); in evaluation
            d = z, the expectation.
        recurrent_dropout: p in [0, 1) (Gal & Ghahramani 2016, as Keras): W_hh (m ⊙ h_{t-1})
            with one mask m ~ Bernoulli(1 - p) / (1 - p) per sequence, layer and direction,
            in training only.
        weight_drop: p in [0, 1) (Merity et al. 2018, AWD-LSTM): W_hh replaced by
            dropout(W_hh, p) once per forward pass, in training only; torch's kernel
            still serves it.
        activation: φ of the candidate g and of the output, ``"tanh"`` (default),
            ``"sigmoid"``, ``"hard_sigmoid"`` (Keras 3: clip(x / 6 + 1/2, 0, 1)), ``"relu"``.
        recurrent_activation: σ of the gates, same choices, ``"sigmoid"`` by default.
        ablation: a variant of Greff et al. 2017, "LSTM: A Search Space Odyssey", whose
            base is the peephole LSTM: ``"NIG"`` i = 1, ``"NFG"`` f = 1, ``"NOG"`` o = 1,
            ``"NIAF"`` g = a_g, ``"NOAF"`` h = o ⊙ c, ``"NP"`` no peepholes (the standard
            LSTM), ``"CIFG"`` f = 1 - i, ``"FGR"`` a_k += Σ_j W_kj q_j over the gates
            k, j in (i, f, o) at t and t-1, parameter ``weight_gg_l{k}`` (3H, 3H), init 0,
            and a third state q (the gates) in hx and the result. Conflicts:
            ``coupled_gates`` with any ablation, ``peephole=True`` with ``"NP"``.

    Options torch's kernel cannot serve run on the reference ops under ``impl="auto"``;
    ``impl="native"`` then raises a ValueError naming the option.

    Example:
        >>> lstm = LSTM(4, 8, bidirectional=True)
        >>> out, (h, c) = lstm(torch.randn(5, 2, 4))
        >>> out.shape, h.shape, c.shape
        (torch.Size([5, 2, 16]), torch.Size([2, 2, 8]), torch.Size([2, 2, 8]))
        >>> ln = LSTM(4, 8, layer_norm=True, zoneout=(0.1, 0.05), peephole=True)
        >>> ln(torch.randn(5, 2, 4), lengths=[5, 3])[0].shape
        torch.Size([5, 2, 8])
    """

    mode = "lstm"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size=proj_size,
            **kwargs,
        )


class GRU(RNNBase):
    """Gated Recurrent Unit over sequences; a drop-in for ``torch.nn.GRU``.

    Gate order r, z, n. ``reset_after=True`` (default) is torch's and cuDNN's form;
    ``reset_after=False`` the original of Cho et al. (2014), served by the reference ops.

    Variant options, as for :class:`LSTM`: ``layer_norm`` (reset_after=True only; LN of
    W_ih x and W_hh h, parameters ``ln_ih_*`` and ``ln_hh_*`` (3H,)), ``zoneout`` (one
    number z_h: h_t = d ⊙ h_{t-1} + (1 - d) ⊙ h'), ``recurrent_dropout`` (the mask on h
    entering W_hh; the z ⊙ h_{t-1} term keeps the undropped h), ``weight_drop``,
    ``activation`` (of n) and ``recurrent_activation`` (of r and z).

    Example:
        >>> gru = GRU(4, 8, num_layers=2)
        >>> out, h = gru(torch.randn(5, 2, 4))
        >>> out.shape, h.shape
        (torch.Size([5, 2, 8]), torch.Size([2, 2, 8]))
    """

    mode = "gru"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        reset_after: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            reset_after=reset_after,
            **kwargs,
        )


class RNN(RNNBase):
    """Elman recurrent network over sequences; a drop-in for ``torch.nn.RNN``.

    Example:
        >>> rnn = RNN(4, 8, nonlinearity="relu", batch_first=True)
        >>> out, h = rnn(torch.randn(2, 5, 4))
        >>> out.shape, h.shape
        (torch.Size([2, 5, 8]), torch.Size([1, 2, 8]))
    """

    mode = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            nonlinearity=nonlinearity,
            **kwargs,
        )
