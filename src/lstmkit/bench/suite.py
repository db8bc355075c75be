"""The CPU benchmark: lstmkit's implementations beside torch's, on one grid, in one run.

At every grid point (cell, B, H, T, forward under no_grad or forward + backward) the same
weights run through:

* ``fused``      lstmkit, ``impl="fused"`` (the C++ kernels)
* ``reference``  lstmkit, ``impl="reference"`` (plain PyTorch, one step at a time)
* ``torch``      torch.nn.LSTM / GRU / RNN, torch's default CPU path (oneDNN for float32)
* ``no-onednn``  the same with ``torch.backends.mkldnn`` disabled
* ``cell-loop``  a Python loop over torch.nn.LSTMCell / GRUCell / RNNCell, what a user writes

The Elman RNN (tanh) has no speed goal; it is measured at T = 100 for the rules of
``impl="auto"``.

Example:
    >>> points = grid(quick=True)
    >>> points[0]
    Point(cell='lstm', batch=1, hidden=64, steps=100, train=False)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .. import nn as lk
from ..ops import cpu
from .timing import interleaved, per_call, per_call_interleaved

BATCHES = (1, 8, 32, 128)
HIDDEN = (64, 128, 256, 512)
SMALL = 2048  # B * H at most: also run with T = 1000
IMPLS = ("fused", "reference", "torch", "no-onednn", "cell-loop")
LONG_IMPLS = ("fused", "torch", "no-onednn")  # T = 1000: the others add minutes, not insight
CELLS = ("lstm", "gru", "rnn")
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
TORCH = {
    "lstm": (nn.LSTM, nn.LSTMCell, lk.LSTM),
    "gru": (nn.GRU, nn.GRUCell, lk.GRU),
    "rnn": (nn.RNN, nn.RNNCell, lk.RNN),
}


@dataclass(frozen=True)
class Point:
    cell: str
    batch: int
    hidden: int
    steps: int
    train: bool

    def flops(self) -> float:
        """FLOPs of the matrix products: per step 2 * B * G*H * (I + H), x3 with backward."""
        gates = GATES[self.cell]
        per_step = 2 * self.batch * gates * self.hidden * (2 * self.hidden)  # I = H
        return per_step * self.steps * (3 if self.train else 1)


def grid(quick: bool = False) -> list[Point]:
    """The grid points; ``quick`` keeps a corner of it (small and medium shapes, LSTM first)."""
    batches, hidden = ((1, 8), (64, 256)) if quick else (BATCHES, HIDDEN)
    points = []
    for cell in CELLS:
        for train in (False, True):
            for b in batches:
                for h in hidden:
                    points.append(Point(cell, b, h, 100, train))
                    if b * h <= SMALL and not quick and cell != "rnn":
                        points.append(Point(cell, b, h, 1000, train))
    return points


def _cell_loop(cell: nn.Module, mode: str) -> Callable:
    def run(x: torch.Tensor):
        h = x.new_zeros(x.shape[1], cell.hidden_size)
        state = (h, h) if mode == "lstm" else h
        outs = []
        for t in range(x.shape[0]):
            state = cell(x[t], state)
            outs.append(state[0] if mode == "lstm" else state)
        return torch.stack(outs), state

    return run


def _callables(point: Point, impls: tuple[str, ...]) -> dict[str, Callable[[], object]]:
    seq_cls, cell_cls, ours_cls = TORCH[point.cell]
    torch.manual_seed(0)
    theirs = seq_cls(point.hidden, point.hidden)
    models: dict[str, Callable] = {
        "fused": ours_cls.from_torch(theirs, impl="fused"),
        "reference": ours_cls.from_torch(theirs, impl="reference"),
        "torch": theirs,
        "no-onednn": theirs,
    }
    cell = cell_cls(point.hidden, point.hidden)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(theirs, f"{name}_l0"))
    models["cell-loop"] = _cell_loop(cell, point.cell)
    x = torch.randn(point.steps, point.batch, point.hidden)

    def make(name: str) -> Callable[[], object]:
        model = models[name]

        def call() -> object:
            with torch.backends.mkldnn.flags(enabled=name != "no-onednn"):
                if not point.train:
                    with torch.no_grad():
                        return model(x)
                xg = x.detach().requires_grad_()
                out = model(xg)[0]
                out.sum().backward()
                return out

        return call

    return {name: make(name) for name in impls}


def run_point(point: Point, budget_s: float = 2.0) -> dict:
    """Median seconds of every implementation at ``point``, with FLOP rates."""
    impls = IMPLS if point.steps <= 100 else LONG_IMPLS
    with warnings.catch_warnings():  # torch notes on every toggle that TF32 needs an Intel GPU
        warnings.filterwarnings("ignore", message="TF32 acceleration")
        times = interleaved(_callables(point, impls), max_reps=60, budget_s=budget_s)
    return {**asdict(point), "flops": point.flops(), "seconds": times}


def latency(hidden: int = 256) -> dict[str, float]:
    """One step at B = 1 (seconds): torch's LSTMCell call against lstmkit's fused paths."""
    torch.manual_seed(0)
    cell = nn.LSTMCell(hidden, hidden)
    ours = lk.LSTMCell.from_torch(cell, impl="fused")
    auto = lk.LSTMCell.from_torch(cell)
    x, h = torch.randn(1, hidden), torch.zeros(1, hidden)
    seq_torch = nn.LSTM(hidden, hidden)
    seq_ours = lk.LSTM.from_torch(seq_torch, impl="fused")
    xs = torch.randn(1000, 1, hidden)
    w = [getattr(seq_torch, f"{n}_l0").detach() for n in ("weight_ih", "weight_hh")]
    b = [getattr(seq_torch, f"{n}_l0").detach() for n in ("bias_ih", "bias_hh")]
    quick = cpu.module().quick_cell
    with torch.no_grad():
        result = per_call_interleaved(
            {
                "torch LSTMCell call": lambda: cell(x, (h, h)),
                "lstmkit LSTMCell(impl='fused') call": lambda: ours(x, (h, h)),
                "lstmkit LSTMCell(impl='auto') call": lambda: auto(x, (h, h)),
                "fused op alone (torch.ops.lstmkit.cell)": lambda: torch.ops.lstmkit.cell(
                    x, h, h, *w, *b, 0, []
                ),
                "one-step kernel alone (its binding)": lambda: quick(x, h, h, *w, *b, 0, 1),
            }
        )
        result["fused LSTM, per step of T = 1000"] = per_call(lambda: seq_ours(xs), 3, 5) / 1000
        result["torch LSTM, per step of T = 1000"] = per_call(lambda: seq_torch(xs), 3, 5) / 1000
    return result


CELL_CALL_HIDDEN = (16, 64, 256)


def cell_calls(hidden_sizes: tuple[int, ...] = CELL_CALL_HIDDEN) -> list[dict]:
    """One step of each cell kind at B = 1 (no_grad): seconds per call of torch.nn's cell
    and of lstmkit's with impl="fused", interleaved. The input of rules.ONE_STEP_MIN_HIDDEN."""

    def step(module: nn.Module, x: torch.Tensor, state: object) -> Callable[[], object]:
        return lambda: module(x, state)

    rows = []
    for cell, name in (("lstm", "LSTMCell"), ("gru", "GRUCell"), ("rnn", "RNNCell")):
        for hidden in hidden_sizes:
            torch.manual_seed(0)
            theirs = getattr(nn, name)(hidden, hidden)
            ours = getattr(lk, name).from_torch(theirs, impl="fused")
            x, h = torch.randn(1, hidden), torch.zeros(1, hidden)
            state = (h, h) if cell == "lstm" else h
            fns = {"torch": step(theirs, x, state), "fused": step(ours, x, state)}
            with torch.no_grad():
                times = per_call_interleaved(fns, calls=100, rounds=9)
            rows.append({"cell": cell, "hidden": hidden, "seconds": times})
    return rows
