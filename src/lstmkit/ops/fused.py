"""Fused ops: lstmkit's own CPU kernels, with a hand-written backward pass.

One call of the C++ operator ``torch.ops.lstmkit.rnn`` runs a whole layer (both directions
when there are two) as one autograd node:

* forward: the input projection of all T steps in one GEMM, then the time loop in C++, the
  recurrent product and the gate math fused per tile of (batch rows x units), threads split
  over the two directions and over units, meeting at a barrier once per step, or over the
  batch rows (each thread runs its rows alone). A plain LSTM or RNN whose threads each run
  whole rows (so split, or one thread per direction) multiplies x_t by W_ih in the loop,
  with W_hh, instead of forming the projection first;
* backward: the time loop of dL/dh and dL/dc, then dX, dW_ih, dW_hh (and dW_hr) as GEMMs
  over all steps at once.

An LSTM or GRU with variants the kernels serve (peepholes, coupled gates, ablations, activations,
zoneout, recurrent dropout; see :mod:`lstmkit.ops.fused_variants`) runs the same loops with
the variant cell, through ``torch.ops.lstmkit.rnn_variant``, which also takes the variant's
extra tensors. A layer-normalised LSTM or GRU runs loops of its own (:mod:`lstmkit.ops.fused_ln`).

Sequence lengths are handled inside the kernel: a step past a sequence's length keeps the
state and outputs zeros, exactly as the reference does. Layers are stacked (with dropout
between them) by :func:`lstmkit.ops.stack.stack_whole_layers`.

The kernels are built on first use (see :mod:`lstmkit.ops.cpu`); :func:`available` says
whether that worked. :func:`unsupported` names the option they cannot serve.

Example:
    >>> import torch
    >>> from lstmkit.ops.spec import RNNSpec
    >>> from lstmkit.ops.weights import LayerWeights
    >>> spec = RNNSpec("gru", 2, 3, bias=False)
    >>> w = [LayerWeights(torch.randn(9, 2), torch.randn(9, 3))]
    >>> if available():
    ...     out, (h,) = rnn(spec, torch.randn(4, 1, 2), (torch.zeros(1, 1, 3),), w)
    ...     print(out.shape)
    torch.Size([4, 1, 3])
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from . import cpu, fused_ln, fused_variants, variants
from .spec import VARIANT_MODES, RNNSpec
from .stack import State, stack_whole_layers
from .weights import LayerWeights

DTYPES = (torch.float32, torch.float64)
# The RNNSpec fields the kernels implement. The variant fields are judged by
# fused_variants.unsupported; any other field is refused while it differs from its default,
# so such a configuration goes to another implementation until the kernels learn it.
SERVED_FIELDS = frozenset(
    {
        "mode",
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "bidirectional",
        "proj_size",
        "dropout",
        "nonlinearity",
        "reset_after",
        "weight_drop",  # dispatch drops W_hh before any kernel runs
    }
)


def cell_code(spec: RNNSpec) -> int:
    """The kernel's cell number: 0 LSTM, 1 GRU, 2 RNN tanh, 3 RNN relu (see cells.h); a
    variant LSTM's code is :func:`lstmkit.ops.fused_variants.cell_code`."""
    if spec.mode == "lstm":
        return fused_variants.cell_code(spec) if fused_variants.is_variant(spec) else 0
    if spec.mode == "gru":
        return fused_variants.cell_code(spec) if fused_variants.is_variant(spec) else 1
    return 2 if spec.nonlinearity == "tanh" else 3


def unsupported(spec: RNNSpec) -> str | None:
    """The option of ``spec`` the fused kernels cannot serve, as ``"name=value"``, or None."""
    if spec.mode == "gru" and not spec.reset_after:
        return "reset_after=False"
    variant = fused_variants.unsupported(spec)
    if variant:
        return variant
    for field in dataclasses.fields(spec):
        value = getattr(spec, field.name)
        if field.name in SERVED_FIELDS or field.name in VARIANT_MODES or value == field.default:
            continue
        return f"{field.name}={value!r}"
    return None


def unsupported_input(x: Tensor) -> str | None:
    """What about the input keeps it away from the fused kernels (device, dtype), or None."""
    if x.device.type != "cpu":
        return f"device={x.device.type}"
    if x.dtype not in DTYPES:
        return f"dtype={x.dtype}"
    return None


@torch.compiler.assume_constant_result
def available() -> bool:
    """Whether the kernels are built and loaded (builds them on the first call).

    Tracers (torch.compile, torch.export) call it once and treat the answer as a constant.
    """
    return cpu.available()


def run_layer(
    spec: RNNSpec,
    x: Tensor,
    state: State,
    weights: list[LayerWeights],
    lengths: Tensor | None,
    training: bool = False,
) -> tuple[Tensor, State]:
    """One layer, all directions: x (T, B, I), state each (D, B, S) -> (out (T, B, D*S), state).

    A variant LSTM draws its noise here (``training``), per direction, as the reference does.
    """
    if spec.layer_norm:
        return fused_ln.run_layer(spec, x, state, weights, lengths, training)
    lstm = spec.mode == "lstm"
    code, variant = _codes(spec)
    extra = []  # a variant's extra tensors
    if variant:
        noises = fused_variants.draw(spec, x.shape[0], state, training)
        extra = fused_variants.extra_tensors(weights, noises, x)
    args = (
        x,
        fused_variants.widen(spec, state),  # h, or FGR's [h, q]
        state[1] if lstm else None,
        [w.w_ih for w in weights],
        [fused_variants.recurrent_weight(spec, w) for w in weights],
        [w.b_ih for w in weights] if spec.bias else [],
        [w.b_hh for w in weights] if spec.bias else [],
        [w.w_hr for w in weights] if spec.proj_size else [],
        lengths,
        code,
    )
    if extra:  # a variant LSTM: its peepholes and zoneout keep values (fused_variants.py)
        out, h_n, c_n = torch.ops.lstmkit.rnn_variant(*args, extra)
    else:
        out, h_n, c_n = torch.ops.lstmkit.rnn(*args)
    return out, fused_variants.narrow(spec, h_n, c_n if lstm else None)


def rnn(
    spec: RNNSpec,
    x: Tensor,
    hx: State,
    weights: list[LayerWeights],
    lengths: Tensor | None = None,
    training: bool = False,
) -> tuple[Tensor, State]:
    """A whole stack through the fused kernels.

    Args:
        x: (T, B, I) time-major input, float32 or float64 on the CPU.
        hx: initial states, (h0,) or (h0, c0), each (L*D, B, S).
        weights: L*D layer-directions, layer-major, forward before reverse.
        lengths: (B,) int64 valid steps per sequence, each in [1, T], or None.
        training: applies ``spec.dropout`` between layers when true.

    Returns:
        (out (T, B, D*(P or H)), final states like hx). Steps past a length are zero.
    """

    def layer_fn(spec: RNNSpec, x: Tensor, state: State, ws: list[LayerWeights]):
        return run_layer(spec, x, state, ws, lengths, training)

    return stack_whole_layers(layer_fn, spec, x, hx, weights, training)


def cell(spec: RNNSpec, x: Tensor, state: State, w: LayerWeights, training: bool = False) -> State:
    """One step: x (B, I), state ((B, S), ...) -> new state, as a sequence of one step.

    One call of ``torch.ops.lstmkit.cell`` (in eager code through its binding, which skips
    the operator call's argument conversion: a few microseconds, as much as a small step).
    """
    if spec.layer_norm:
        one = tuple(s.unsqueeze(0) for s in state)  # each (1, B, S)
        _, new = fused_ln.run_layer(spec, x.unsqueeze(0), one, [w], None, training)
        return tuple(s.squeeze(0) for s in new)  # each (B, S)
    code, variant = _codes(spec)
    extra = []
    if variant:  # the noise of a sequence of one step, as the reference draws it
        noise = variants.draw_noise(spec, 1, state, training)
        extra = fused_variants.extra_tensors([w], [noise], x)
    lstm = spec.mode == "lstm"
    h, w_hh = fused_variants.widen(spec, state), fused_variants.recurrent_weight(spec, w)
    c = state[1] if lstm else None
    step = torch.ops.lstmkit.cell if torch.compiler.is_compiling() else cpu.module().cell
    h, c = step(x, h, c, w.w_ih, w_hh, w.b_ih, w.b_hh, code, extra)
    return fused_variants.narrow(spec, h, c if lstm else None)


_CODES: dict[RNNSpec, tuple[int, bool]] = {}


def _codes(spec: RNNSpec) -> tuple[int, bool]:
    """(cell_code(spec), is_variant(spec)), kept per spec (a cell asks on every step)."""
    found = _CODES.get(spec)
    if found is None:
        if len(_CODES) >= 256:
            _CODES.clear()
        found = _CODES[spec] = (cell_code(spec), fused_variants.is_variant(spec))
    return found
