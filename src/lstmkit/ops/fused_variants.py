"""The LSTM and GRU variants in the fused CPU kernels: which options they serve, and how.

The kernels' variant LSTM and GRU cells (``cpu/variant_cells.h``) compute the equations of
:mod:`lstmkit.ops.variants` unit by unit inside the fused time loop, forward and backward:
peepholes, ``coupled_gates``, the ablations NIG, NFG, NOG, NIAF, NOAF, CIFG, FGR (and NP,
the plain LSTM), the ``activation`` / ``recurrent_activation`` choices, zoneout (evaluation:
the expectation; training: the masks :func:`lstmkit.ops.variants.draw_noise` draws, so the
same seed gives the reference's result) and ``recurrent_dropout`` (the mask drawn the same
way). Weight drop is applied before any kernel runs. The GRU (``reset_after=True``) has
the activation choices, zoneout and recurrent dropout.

``layer_norm`` (LSTM and GRU) runs in kernels of its own (:mod:`lstmkit.ops.fused_ln`,
``cpu/ln_loop.cpp``), since its row statistics couple all units of a step; with it they
serve peepholes, the activations, zoneout, recurrent dropout and weight drop, and refuse
``coupled_gates``, the ablations (but NP) and ``proj_size``.

FGR's gate recurrence runs as part of the recurrent product: the kernels' recurrent input is
z = [h, q] (4H wide, q = [i, f, o] of the last step) and their W_hh is [W_hh | W_gg with zero
rows for g] (:func:`recurrent_weight`), so one product forms W_hh h + W_gg q.

Not served (these configurations run the reference): zoneout of h or recurrent dropout
together with ``proj_size``, FGR with ``proj_size`` or recurrent dropout, and the
combinations with ``layer_norm`` above.

The options travel in the cell code (see :func:`cell_code`), the extra tensors as six per
direction (:func:`extra_tensors`).

Example:
    >>> from lstmkit.ops.spec import RNNSpec
    >>> unsupported(RNNSpec("lstm", 2, 3, peephole=True, zoneout=0.1)) is None
    True
    >>> unsupported(RNNSpec("lstm", 2, 3, layer_norm=True, zoneout=0.1)) is None
    True
    >>> unsupported(RNNSpec("lstm", 2, 3, layer_norm=True, coupled_gates=True))
    'coupled_gates=True with layer_norm=True'
    >>> cell_code(RNNSpec("lstm", 2, 3, ablation="NOG"))  # variant LSTM, o = 1
    16516
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import variants
from .spec import RNNSpec
from .weights import LayerWeights

VARIANT_LSTM, VARIANT_GRU = 4, 5  # the kernels' cell kinds of the variant cells
ACTIVATION_CODES = {"tanh": 0, "sigmoid": 1, "hard_sigmoid": 2, "relu": 3, "identity": 4}
# How the input and forget gates are made: both (0), i = 1 (1), f = 1 (2), f = 1 - i (3),
# i = 1 - f (4).
GATE_MODES = {"NIG": 1, "NFG": 2, "CIFG": 3}
COUPLED = 4


def _with_layer_norm(spec: RNNSpec) -> str | None:
    """What the layer-normalised kernels (:mod:`lstmkit.ops.fused_ln`) do not combine with."""
    if spec.coupled_gates:
        return "coupled_gates=True with layer_norm=True"
    if spec.ablation not in (None, "NP"):
        return f"ablation={spec.ablation!r} with layer_norm=True"
    if spec.proj_size:
        return f"proj_size={spec.proj_size} with layer_norm=True"
    return None


def unsupported(spec: RNNSpec) -> str | None:
    """The variant option of ``spec`` the fused kernels cannot serve, as ``"name=value"``."""
    if spec.layer_norm:
        return _with_layer_norm(spec)
    for name, value in spec.variant_options().items():
        if name == "weight_drop":
            continue
        if name == "ablation" and value == "FGR" and spec.proj_size:
            return f"ablation='FGR' with proj_size={spec.proj_size}"
        if name == "recurrent_dropout" and spec.ablation == "FGR":
            return f"recurrent_dropout={value!r} with ablation='FGR'"
        if name == "zoneout" and spec.proj_size and spec.zoneout[1]:
            return f"zoneout={value!r} with proj_size={spec.proj_size}"
        if name == "recurrent_dropout" and spec.proj_size:
            return f"recurrent_dropout={value!r} with proj_size={spec.proj_size}"
    return None


def is_variant(spec: RNNSpec) -> bool:
    """Whether ``spec`` needs a variant cell rather than the plain one."""
    return spec.mode != "rnn" and variants.changes_step(spec)


def cell_code(spec: RNNSpec) -> int:
    """The kernels' cell code of a variant LSTM or GRU: the kind in bits 0-3, then the gate
    mode (bits 4-6), no output gate (bit 7), the candidate's, the output's and the gates'
    activation (3 bits each from bit 8), FGR (bit 17), as ``variant_cells.h`` decodes it."""
    if spec.mode == "gru":
        act = ACTIVATION_CODES[spec.activation]
        return (
            VARIANT_GRU | act << 8 | act << 11 | ACTIVATION_CODES[spec.recurrent_activation] << 14
        )
    mode = COUPLED if spec.coupled_gates else GATE_MODES.get(spec.ablation or "", 0)
    act_g = "identity" if spec.ablation == "NIAF" else spec.activation
    act_h = "identity" if spec.ablation == "NOAF" else spec.activation
    return (
        VARIANT_LSTM
        | mode << 4
        | int(spec.ablation == "NOG") << 7
        | ACTIVATION_CODES[act_g] << 8
        | ACTIVATION_CODES[act_h] << 11
        | ACTIVATION_CODES[spec.recurrent_activation] << 14
        | int(spec.ablation == "FGR") << 17
    )


def recurrent_weight(spec: RNNSpec, w: LayerWeights) -> Tensor:
    """What the kernels' recurrent product multiplies by: W_hh, or for FGR (4H, 4H)
    [W_hh | W_gg'], W_gg' (4H, 3H) the rows of W_gg for i, f, o and zeros for g.

    Example:
        >>> spec = RNNSpec("lstm", 2, 1, ablation="FGR", bias=False)
        >>> w = LayerWeights(torch.ones(4, 2), torch.ones(4, 1), w_gg=torch.full((3, 3), 2.0))
        >>> recurrent_weight(spec, w)
        tensor([[1., 2., 2., 2.],
                [1., 2., 2., 2.],
                [1., 0., 0., 0.],
                [1., 2., 2., 2.]])
    """
    if spec.ablation != "FGR":
        return w.w_hh
    hidden = spec.hidden_size
    gg = w.w_gg  # (3H, 3H), rows and columns i, f, o
    rows = torch.cat([gg[: 2 * hidden], gg.new_zeros(hidden, 3 * hidden), gg[2 * hidden :]])
    return torch.cat([w.w_hh, rows], dim=1)  # (4H, H + 3H)


def widen(spec: RNNSpec, state: tuple[Tensor, ...]) -> Tensor:
    """The kernels' recurrent input state: h, or for FGR z = [h, q] (..., 4H)."""
    return torch.cat([state[0], state[2]], dim=-1) if spec.ablation == "FGR" else state[0]


def narrow(spec: RNNSpec, z: Tensor, c: Tensor | None) -> tuple[Tensor, ...]:
    """The state from the kernels' final z (and c): (h,), (h, c) or for FGR (h, c, q)."""
    if spec.ablation == "FGR":
        hidden = spec.hidden_size
        return z[..., :hidden], c, z[..., hidden:]
    return (z,) if c is None else (z, c)


def _keep(keep: variants.HashedKeep | Tensor | float | None, like: Tensor) -> Tensor:
    """A zoneout keep value as the kernel reads it: empty (off), one number, (T, B, H) masks,
    or the (2,) int64 code of hashed masks."""
    if keep is None:
        return like.new_empty(0)
    if isinstance(keep, variants.HashedKeep):
        return keep.code
    if isinstance(keep, Tensor):
        return keep.contiguous()
    return like.new_full((1,), keep)


def extra_tensors(ws: list[LayerWeights], noises: list[variants.Noise], like: Tensor) -> list:
    """Six tensors per direction: peepholes p_i, p_f, p_o ((H,) or empty), zoneout keep_c,
    keep_h, the recurrent dropout mask ((B, H) or empty)."""
    extra = []
    for w, noise in zip(ws, noises, strict=True):
        for p in (w.w_ci, w.w_cf, w.w_co):
            extra.append(like.new_empty(0) if p is None else p)
        extra += [_keep(noise.keep_c, like), _keep(noise.keep_h, like)]
        mask = noise.recurrent_mask
        extra.append(like.new_empty(0) if mask is None else mask.contiguous())
    return extra


def draw(spec: RNNSpec, steps: int, state: tuple[Tensor, ...], training: bool) -> list:
    """The noise of every direction of a layer, drawn in the reference's order.

    state: each (D, B, S). Returns D :class:`~lstmkit.ops.variants.Noise`.
    """
    return [
        variants.draw_noise(spec, steps, tuple(s[k] for s in state), training)
        for k in range(state[0].shape[0])
    ]
