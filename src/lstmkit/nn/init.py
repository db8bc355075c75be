"""Weight initialisation for recurrent layers.

Two schemes:

``init="lstmkit"`` (the default), a recipe that helps LSTMs learn:

* input weights ``W_ih``: Xavier-uniform (Glorot & Bengio 2010), drawn per gate block, so
  each gate's (H, I) map keeps the variance of its input;
* recurrent weights ``W_hh``: orthogonal per gate block (Saxe et al. 2014), so repeated
  multiplication by them neither shrinks nor grows h at initialisation;
* biases zero, except the LSTM forget gate's, set to 1 (Gers et al. 2000; Jozefowicz et al.
  2015): the cell starts by remembering, so gradients reach far back from the first update;
  the 1 goes into ``b_ih`` and ``b_hh`` stays 0, so their sum, which is what the cell sees, is 1;
* projection ``W_hr``: Xavier-uniform.

``init="torch"`` reproduces torch.nn's default exactly: every parameter drawn from
U(-1/sqrt(H), 1/sqrt(H)) in registration order, so with the same seed lstmkit and
torch.nn modules start from identical weights.

The parameters the variants add start the same way under both schemes, so that a variant
begins as the cell it modifies: layer-norm gains 1 and biases 0, peephole weights 0 and
FGR's gate-to-gate weights 0 (their gradients are not zero, so they learn from the first
step). ``forget_bias=`` (LSTM) sets the forget gate's initial bias under either scheme:
the value goes into ``b_ih``'s forget slice and ``b_hh``'s is zeroed (without biases, into
``ln_ih_bias``'s forget slice when layer-normalised). Left as None it is 1 under
``"lstmkit"`` and torch's draw under ``"torch"``.

Example:
    >>> import torch
    >>> from lstmkit.nn import LSTM
    >>> lstm = LSTM(3, 4)
    >>> lstm.bias_ih_l0[4:8]  # the forget gate's slice
    tensor([1., 1., 1., 1.], grad_fn=<SliceBackward0>)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from ..ops.spec import RNNSpec
from ..ops.weights import TORCH_STEMS, LayerWeights

INITS = ("lstmkit", "torch")


def check_init(init: str) -> str:
    if init not in INITS:
        raise ValueError(f"init: expected one of {', '.join(map(repr, INITS))}, got {init!r}")
    return init


@torch.no_grad()
def init_torch_(params: Iterable[Tensor], hidden_size: int) -> None:
    """torch.nn's default: U(-1/sqrt(H), 1/sqrt(H)) for every parameter, in the given order."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in params:
        p.uniform_(-bound, bound)


@torch.no_grad()
def init_lstmkit_(named: Iterable[tuple[str, Tensor]], mode: str, gates: int) -> None:
    """The lstmkit recipe on one layer-direction's ``(stem, tensor)`` pairs.

    Args:
        named: pairs like ``("weight_ih", tensor)``; stems as in torch.nn's names.
        mode: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        gates: gate blocks stacked in the weight rows (4, 3 or 1).
    """
    for stem, p in named:
        if p is None:
            continue
        if stem == "weight_ih":
            for block in p.chunk(gates, dim=0):  # each (H, I)
                nn.init.xavier_uniform_(block)
        elif stem == "weight_hh":
            for block in p.chunk(gates, dim=0):  # each (H, H) or (H, P)
                nn.init.orthogonal_(block)
        elif stem == "weight_hr":
            nn.init.xavier_uniform_(p)
        elif stem.startswith("bias"):
            p.zero_()
            if mode == "lstm" and stem == "bias_ih":
                p.chunk(4)[1].fill_(1.0)  # gate order i, f, g, o: the forget gate is second


def check_forget_bias(spec: RNNSpec, forget_bias: object) -> float | None:
    """``forget_bias`` as a float (or None), checked against the cell type and its biases."""
    if forget_bias is None:
        return None
    if isinstance(forget_bias, bool) or not isinstance(forget_bias, int | float):
        raise TypeError(f"forget_bias: expected a number or None, got {forget_bias!r}")
    if spec.mode != "lstm":
        raise TypeError(
            f"forget_bias: an option of LSTM only, {spec.mode.upper()} has no forget gate"
        )
    if not (spec.bias or spec.layer_norm):
        raise ValueError(
            f"forget_bias: needs a bias to hold it (bias=True or layer_norm=True), "
            f"got forget_bias={forget_bias} with bias=False"
        )
    return float(forget_bias)


@torch.no_grad()
def init_variants_(named: Iterable[tuple[str, Tensor | None]]) -> None:
    """Start the variant parameters at the cell they modify: LN gains 1, the rest 0."""
    for stem, p in named:
        if p is None or stem in TORCH_STEMS:
            continue
        if stem.endswith("_weight") and stem.startswith("ln_"):
            p.fill_(1.0)
        else:
            p.zero_()  # layer-norm biases, peepholes, gate-to-gate weights


@torch.no_grad()
def set_forget_bias_(w: LayerWeights, value: float) -> None:
    """Put ``value`` where the forget gate's bias lives (gate order i, f, g, o)."""
    if w.b_ih is not None:
        w.b_ih.chunk(4)[1].fill_(value)
        w.b_hh.chunk(4)[1].zero_()
    elif w.ln_ih_b is not None:
        w.ln_ih_b.chunk(4)[1].fill_(value)


def reset_(
    weights: list[LayerWeights], spec: RNNSpec, init: str, forget_bias: float | None
) -> None:
    """(Re-)initialise every layer-direction of a module with ``init`` and ``forget_bias``."""
    if init == "torch":
        torch_params = [t for w in weights for s, t in w.named() if s in TORCH_STEMS]
        init_torch_([t for t in torch_params if t is not None], spec.hidden_size)
    else:
        for w in weights:
            init_lstmkit_(w.named(), spec.mode, spec.gate_count)
    if forget_bias is None and init == "lstmkit" and spec.mode == "lstm":
        forget_bias = 1.0
    for w in weights:
        init_variants_(w.named())
        if forget_bias is not None:
            set_forget_bias_(w, forget_bias)
