"""Native ops: torch's own fused recurrent kernels (oneDNN on CPU, cuDNN on CUDA).

These are the kernels behind ``torch.nn.LSTM`` / ``GRU`` / ``RNN``. They serve the standard
cells only; :func:`unsupported` names the option that keeps a configuration away from them.
Variable lengths go through torch's packed-sequence path, so padded steps cost nothing.

Example:
    >>> import torch
    >>> from lstmkit.ops.spec import RNNSpec
    >>> from lstmkit.ops.weights import LayerWeights
    >>> spec = RNNSpec("gru", 2, 3, bias=False)
    >>> w = [LayerWeights(torch.randn(9, 2), torch.randn(9, 3))]
    >>> out, (h,) = rnn(spec, torch.randn(4, 1, 2), (torch.zeros(1, 1, 3),), w)
    >>> out.shape
    torch.Size([4, 1, 3])
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .spec import RNNSpec
from .stack import State
from .weights import LayerWeights


def unsupported(spec: RNNSpec) -> str | None:
    """The option torch's kernel cannot serve, as ``"name=value"``, or None if it serves all.

    Weight drop is served (dispatch drops W_hh before any kernel runs), and so is the NP
    ablation, which is the standard LSTM; every other variant is not.

    >>> unsupported(RNNSpec("lstm", 2, 3, peephole=True, weight_drop=0.5))
    'peephole=True'
    """
    if spec.mode == "gru" and not spec.reset_after:
        return "reset_after=False"
    for name, value in spec.variant_options().items():
        if name == "weight_drop" or (name == "ablation" and value == "NP"):
            continue
        return f"{name}={value!r}"
    return None


def _sequence_fn(spec: RNNSpec):
    if spec.mode == "rnn":
        return torch.rnn_tanh if spec.nonlinearity == "tanh" else torch.rnn_relu
    return torch.lstm if spec.mode == "lstm" else torch.gru


def rnn(
    spec: RNNSpec,
    x: Tensor,
    hx: State,
    weights: list[LayerWeights],
    lengths: Tensor | None = None,
    training: bool = False,
) -> tuple[Tensor, State]:
    """A whole stack through torch's fused kernel.

    Args:
        x: (T, B, I) time-major input.
        hx: initial states, (h0,) or (h0, c0), each (L*D, B, S).
        weights: L*D layer-directions.
        lengths: (B,) int64 on the CPU, each in [1, T], or None when every sequence has T steps.
        training: applies ``spec.dropout`` between layers when true.

    Returns:
        (out (T, B, D*(P or H)), final states like hx). Steps past a sequence's length are zero.
    """
    fn = _sequence_fn(spec)
    flat = [t for w in weights for t in w.flat()]
    args = (flat, spec.bias, spec.num_layers, spec.dropout, training, spec.bidirectional)
    if lengths is None:
        result = fn(x, _hx_arg(spec, hx), *args, False)  # batch_first=False
        return result[0], tuple(result[1:])
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    # torch's packed kernels take the batch sorted by decreasing length.
    hx_sorted = tuple(h.index_select(1, packed.sorted_indices) for h in hx)
    result = fn(packed.data, packed.batch_sizes, _hx_arg(spec, hx_sorted), *args)
    out_packed = PackedSequence(
        result[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
    )
    out, _ = pad_packed_sequence(out_packed, total_length=x.shape[0])  # (T, B, D*S), zeros
    return out, tuple(h.index_select(1, packed.unsorted_indices) for h in result[1:])


def cell(spec: RNNSpec, x: Tensor, state: State, w: LayerWeights) -> State:
    """One step through torch's cell kernel: x (B, I), state ((B, S), ...) -> new state."""
    if spec.mode == "lstm":
        return tuple(torch.lstm_cell(x, state, w.w_ih, w.w_hh, w.b_ih, w.b_hh))
    if spec.mode == "gru":
        fn = torch.gru_cell
    else:
        fn = torch.rnn_tanh_cell if spec.nonlinearity == "tanh" else torch.rnn_relu_cell
    return (fn(x, state[0], w.w_ih, w.w_hh, w.b_ih, w.b_hh),)


def _hx_arg(spec: RNNSpec, hx: State):
    """torch.lstm takes the (h, c) pair, torch.gru / rnn_* take h alone."""
    return hx if spec.mode == "lstm" else hx[0]
