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
