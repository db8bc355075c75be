"""The networks the experiments train: one recurrent layer and a linear read-out.

A cell is named ``"lstm"``, ``"gru"`` or ``"rnn"`` (an Elman network trained by full
backpropagation through time). ``"elman"`` is the same Elman network trained by Elman's
(1990) own procedure, as in the paper's comparisons: the previous hidden state (the
"context units") enters each step as a plain input, so the gradient is truncated after
one step. ``"lstm:NAME"`` builds
``lstmkit.nn.LSTM(..., ablation="NAME")``, one of the LSTM variants of Greff et al. (2017)
("NIG" no input gate, "NFG" no forget gate, "NOG" no output gate, "NIAF" / "NOAF" no input /
output activation function, "NP" no peepholes, "CIFG" coupled input and forget gate, "FGR"
full gate recurrence): the name is passed through unchanged, and the LSTM layer checks it.
Greff et al.'s variants change their "vanilla" LSTM, which has peepholes; ``"lstm:V"`` is
that LSTM (``lstmkit.nn.LSTM(..., peephole=True)``), while plain ``"lstm"`` has no
peepholes and so is their "NP".

Example:
    >>> parse_cell("lstm:NIG")
    Cell(kind='lstm', ablation='NIG')
    >>> model = SequenceModel(parse_cell("gru"), input_size=2, hidden_size=8, output_size=1)
    >>> model(torch.randn(3, 5, 2)).shape          # (B, T, O)
    torch.Size([3, 5, 1])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..nn import GRU, LSTM, RNN, RNNCell

LAYERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN, "elman": RNNCell}
VANILLA = "V"  # Greff et al.'s "vanilla" LSTM: peepholes, every gate, both activations


@dataclass(frozen=True)
class Cell:
    """A recurrent cell type and, for the LSTM, an optional ablation name ("V": the
    peephole LSTM of Greff et al., the base of their ablations)."""

    kind: str
    ablation: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.ablation}" if self.ablation else self.kind


def parse_cell(text: str) -> Cell:
    """``"lstm"``, ``"gru"``, ``"rnn"`` or ``"lstm:ABLATION"`` -> :class:`Cell`."""
    if not isinstance(text, str):
        raise TypeError(f"cell: expected a string, got {type(text).__name__}")
    kind, colon, ablation = text.partition(":")
    if kind not in LAYERS:
        raise ValueError(
            f"cell: expected 'lstm', 'gru', 'rnn', 'elman' or 'lstm:ABLATION' (e.g. 'lstm:NIG'), "
            f"got {text!r}"
        )
    if colon and kind != "lstm":
        raise ValueError(f"cell: only the LSTM has ablations ('lstm:NAME'), got {text!r}")
    if colon and not ablation:
        raise ValueError(f"cell: expected an ablation name after 'lstm:', got {text!r}")
    return Cell(kind, ablation or None)


class SequenceModel(nn.Module):
    """A recurrent layer over (B, T, I) and a linear read-out at every step, (B, T, O).

    Args:
        cell: which recurrent layer.
        input_size: I. hidden_size: H. output_size: O.
        chrono: 0 keeps the layer's own (lstmkit) initialisation; a value T_max > 1 sets
            the gate biases by the chrono initialisation (see :func:`chrono_init_`).
        skip: the read-out also sees the input of the same step (a direct input-to-output
            connection, as in the paper's architecture for experiment 2).
        layer_norm: the LSTM or GRU layer normalises its pre-activations and, for the LSTM,
            its cell state before the output activation (``layer_norm=True`` of
            ``lstmkit.nn``, Ba et al. 2016). The Elman RNN has no such form: left as is.
    """

    def __init__(
        self,
        cell: Cell,
        input_size: int,
        hidden_size: int,
        output_size: int,
        chrono: int = 0,
        skip: bool = False,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        options: dict = {"ablation": cell.ablation} if cell.ablation else {}
        if cell.ablation == VANILLA:
            options = {"peephole": True}
        if layer_norm and cell.kind in ("lstm", "gru"):
            options["layer_norm"] = True
        if cell.kind == "elman":
            self.rnn = RNNCell(input_size, hidden_size)
        else:
            self.rnn = LAYERS[cell.kind](input_size, hidden_size, batch_first=True, **options)
        self.skip = skip
        self.head = nn.Linear(hidden_size + (input_size if skip else 0), output_size)
        if chrono:
            chrono_init_(self.rnn, chrono)

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(self.rnn, RNNCell):
            out = elman_context(self.rnn, x)  # (B, T, H)
        else:
            out, _ = self.rnn(x)  # (B, T, H)
        if self.skip:
            out = torch.cat([out, x], dim=-1)  # (B, T, H + I)
        return self.head(out)  # (B, T, O)


def elman_context(cell: RNNCell, x: Tensor) -> Tensor:
    """(B, T, H) hidden states of ``cell`` over ``x`` (B, T, I), with the gradient cut
    between steps: each step sees the previous state as a constant input (Elman 1990)."""
    h = x.new_zeros(x.shape[0], cell.hidden_size)  # (B, H)
    states = []
    for t in range(x.shape[1]):
        h = cell(x[:, t], h.detach())
        states.append(h)
    return torch.stack(states, dim=1)  # (B, T, H)


@torch.no_grad()
def chrono_init_(layer: nn.Module, t_max: int) -> None:
    """Chrono initialisation of the gate biases (Tallec & Ollivier 2018).

    A gate that keeps a fraction f of the memory per step remembers for about 1 / (1 - f)
    steps. Drawing each unit's forget bias as log(u), u uniform in [1, t_max - 1], spreads
    the units' memory spans over 1 .. t_max steps at initialisation instead of the ~4
    steps a forget bias of 1 gives, so the cell state, and the error flowing back through
    it, lasts over long lags from the first update. LSTM: forget bias log(u) and input
    bias -log(u); GRU: the update gate z (h keeps z of its old value) gets log(u). The
    Elman RNN has no gates and is left as is. The bias goes into ``b_ih``; the matching
    slice of ``b_hh`` is zeroed.
    """
    if t_max < 2:
        raise ValueError(f"chrono: expected T_max >= 2, got {t_max}")
    if isinstance(layer, RNNCell) or layer.spec.mode == "rnn":
        return
    mode, hidden = layer.spec.mode, layer.spec.hidden_size
    for w in layer.layer_weights():
        if w.b_ih is None:
            continue
        span = 1 + (t_max - 2) * torch.rand(hidden)  # (H,) uniform in [1, t_max - 1]
        keep = torch.log(span)
        gates = layer.spec.gate_count
        b_ih, b_hh = w.b_ih.view(gates, hidden), w.b_hh.view(gates, hidden)  # (gates, H)
        b_ih[1], b_hh[1] = keep, 0.0  # LSTM i, f, g, o: forget; GRU r, z, n: update z
        if mode == "lstm":
            b_ih[0], b_hh[0] = -keep, 0.0  # the input gate opens as the forget gate closes


def count_parameters(model: nn.Module) -> int:
    """Number of trainable weights."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
