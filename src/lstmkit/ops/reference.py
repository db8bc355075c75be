"""Reference ops: the LSTM, GRU and Elman RNN in plain PyTorch, written to be read.

These functions are the definition every faster path is tested against, and the fallback
for configurations no fused kernel serves. Gate order follows torch.nn: LSTM (i, f, g, o),
GRU (r, z, n). Shape letters: T steps, B batch, I input features, H hidden units,
P projection size, G gates per unit.

LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000)::

    i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)   o = σ(W_io x + b_io + W_ho h + b_ho)
    c' = f ⊙ c + i ⊙ g                         h' = o ⊙ tanh(c')      (h' = W_hr h' if P > 0)

GRU, reset after the recurrent matmul (torch.nn.GRU, cuDNN)::

    r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))                     h' = (1 - z) ⊙ n + z ⊙ h

GRU, reset before it (Cho et al. 2014, ``reset_after=False``)::

    n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)

Elman RNN::

    h' = tanh(W_ih x + b_ih + W_hh h + b_hh)   (or relu)

The variants (peepholes, coupled gates, layer norm, zoneout, recurrent dropout, other
activations, the Greff et al. ablations) are in :mod:`lstmkit.ops.variants`; the sequence
functions here run them whenever the spec switches one on.

Example:
    >>> import torch
    >>> x, h, c = torch.randn(2, 3), torch.zeros(2, 4), torch.zeros(2, 4)
    >>> w_ih, w_hh = torch.randn(16, 3), torch.randn(16, 4)
    >>> h, c = lstm_cell(x, h, c, w_ih, w_hh)
    >>> h.shape, c.shape
    (torch.Size([2, 4]), torch.Size([2, 4]))
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from . import variants
from .spec import RNNSpec
from .stack import State, stack_layers
from .weights import LayerWeights

# ----------------------------------------------------------------------------- one step
# Each *_step takes gi = W_ih x + b_ih, the input projection, already computed: a sequence
# computes it for all T steps in one matmul, so only the recurrent part is in the loop.


def lstm_step(
    gi: Tensor,
    h: Tensor,
    c: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None = None,
    w_hr: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One LSTM step. gi: (B, 4H), h: (B, P or H), c: (B, H) -> (h', c')."""
    gates = gi + F.linear(h, w_hh, b_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # each (B, H)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)  # (B, H)
    if w_hr is not None:
        h = F.linear(h, w_hr)  # (B, P)
    return h, c


def gru_step(
    gi: Tensor,
    h: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None = None,
    reset_after: bool = True,
) -> Tensor:
    """One GRU step. gi: (B, 3H), h: (B, H) -> h' (B, H)."""
    gi_r, gi_z, gi_n = gi.chunk(3, dim=-1)  # each (B, H)
    if reset_after:
        gh_r, gh_z, gh_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
        r = torch.sigmoid(gi_r + gh_r)
        z = torch.sigmoid(gi_z + gh_z)
        n = torch.tanh(gi_n + r * gh_n)
    else:
        # The reset gate scales h before the candidate's matmul, so split W_hh by gate.
        w_r, w_z, w_n = w_hh.chunk(3, dim=0)  # each (H, H)
        b_r, b_z, b_n = (None, None, None) if b_hh is None else b_hh.chunk(3)
        r = torch.sigmoid(gi_r + F.linear(h, w_r, b_r))
        z = torch.sigmoid(gi_z + F.linear(h, w_z, b_z))
        n = torch.tanh(gi_n + F.linear(r * h, w_n, b_n))
    return (1 - z) * n + z * h


def rnn_step(
    gi: Tensor,
    h: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
) -> Tensor:
    """One Elman RNN step. gi: (B, H), h: (B, H) -> h' (B, H)."""
    pre = gi + F.linear(h, w_hh, b_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


# ----------------------------------------------------------------------------- cells


def lstm_cell(
    x: Tensor,
    h: Tensor,
    c: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    w_hr: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """LSTM cell on one step of input. x: (B, I), h: (B, P or H), c: (B, H) -> (h', c')."""
    return lstm_step(F.linear(x, w_ih, b_ih), h, c, w_hh, b_hh, w_hr)


def gru_cell(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    reset_after: bool = True,
) -> Tensor:
    """GRU cell on one step of input. x: (B, I), h: (B, H) -> h' (B, H)."""
    return gru_step(F.linear(x, w_ih, b_ih), h, w_hh, b_hh, reset_after)


def rnn_cell(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
) -> Tensor:
    """Elman RNN cell on one step of input. x: (B, I), h: (B, H) -> h' (B, H)."""
    return rnn_step(F.linear(x, w_ih, b_ih), h, w_hh, b_hh, nonlinearity)


def cell(spec: RNNSpec, x: Tensor, state: State, w: LayerWeights, training: bool = False) -> State:
    """Any cell of ``spec`` on one step: x (B, I), state ((B, S), ...) -> new state.

    With ``training`` the variants' noise is drawn as for a sequence of one step.
    """
    gi = variants.input_projection(spec, x, w)  # (B, G*H)
    noise = variants.draw_noise(spec, 1, state, training).materialised().at(0)
    return step_function(spec)(gi, state, w, noise)[1]


# ----------------------------------------------------------------------------- sequences


def step_function(spec: RNNSpec) -> Callable[..., tuple[Tensor, State]]:
    """The step of ``spec``: (gi, state, w, noise) -> (output h, new state tuple).

    The plain cells above when no option changes the step, else the variant step of
    :mod:`lstmkit.ops.variants`; chosen once per sequence, not at every step.
    """
    if variants.changes_step(spec):
        return partial(variants.lstm_step if spec.mode == "lstm" else variants.gru_step, spec)
    return partial(_plain_step, spec)


def _plain_step(
    spec: RNNSpec, gi: Tensor, state: State, w: LayerWeights, noise: variants.Noise
) -> tuple[Tensor, State]:
    """Dispatch one step by cell type: returns (output h, new state tuple)."""
    if spec.mode == "lstm":
        h, c = lstm_step(gi, state[0], state[1], w.w_hh, w.b_hh, w.w_hr)
        return h, (h, c)
    if spec.mode == "gru":
        h = gru_step(gi, state[0], w.w_hh, w.b_hh, spec.reset_after)
    else:
        h = rnn_step(gi, state[0], w.w_hh, w.b_hh, spec.nonlinearity)
    return h, (h,)


def run_layer(
    spec: RNNSpec,
    x: Tensor,
    state: State,
    w: LayerWeights,
    valid: Tensor | None = None,
    reverse: bool = False,
    training: bool = False,
) -> tuple[Tensor, State]:
    """One layer in one direction over a whole sequence.

    Args:
        x: (T, B, I) time-major input.
        state: initial state, (h0,) or (h0, c0), each (B, S).
        w: the layer-direction's weights.
        valid: (T, B, 1) bool, True where step t is inside sequence b; None when all are.
            A step outside keeps the state unchanged and outputs zeros, so the final state
            is each sequence's state at its own last step, and a reverse pass starts at it.
        reverse: run from step T-1 down to 0.
        training: draw the variants' noise (zoneout, recurrent dropout masks) for this
            sequence; in evaluation zoneout uses its expectation.

    Returns:
        (out, state): out (T, B, P or H) in the input's time order, and the final state.
    """
    gi = variants.input_projection(spec, x, w)  # (T, B, G*H): one matmul over all steps
    noise = variants.draw_noise(spec, x.shape[0], state, training).materialised()
    step = step_function(spec)
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    outs: list[Tensor] = [gi] * x.shape[0]  # placeholders, every slot is overwritten
    for t in steps:
        h, new_state = step(gi[t], state, w, noise.at(t))
        if valid is not None:
            new_state = tuple(
                torch.where(valid[t], n, s) for n, s in zip(new_state, state, strict=True)
            )
            h = torch.where(valid[t], h, 0.0)
        state = new_state
        outs[t] = h
    return torch.stack(outs), state  # (T, B, P or H)


def rnn(
    spec: RNNSpec,
    x: Tensor,
    hx: State,
    weights: list[LayerWeights],
    valid: Tensor | None = None,
    training: bool = False,
) -> tuple[Tensor, State]:
    """A whole stack (all layers and directions) with the reference cells.

    Args:
        x: (T, B, I) time-major input.
        hx: initial states, (h0,) or (h0, c0), each (L*D, B, S).
        weights: L*D layer-directions, layer-major, forward before reverse.
        valid: (T, B, 1) bool step mask or None (see :func:`run_layer`).
        training: applies ``spec.dropout`` between layers and the variants' noise when true.

    Returns:
        (out, state): out (T, B, D*(P or H)), state like hx with the final states.
    """
    layer_fn = partial(run_layer, training=training)
    return stack_layers(layer_fn, spec, x, hx, weights, valid, training)
