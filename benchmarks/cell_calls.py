"""Cell calls of lstmkit's fused LSTMCell beside torch.nn.LSTMCell, interleaved in one run.

Usage (from the repository root, in the project's environment):

    python benchmarks/cell_calls.py       # about a minute on 2 cores

Prints two markdown tables of median microseconds per call and the ratio fused / torch:
one step without autograd (B = 1, 2, 4, 8; H = 64, 256), the case ``impl="auto"``'s
one-step rule covers (``src/lstmkit/ops/rules.py``), and a decoder-style loop of ten steps
followed by the backward pass, which the rule leaves to torch.nn's cell. The main
benchmark (``lstmkit bench``) measures B = 1 without autograd only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

import lstmkit.nn as lk
from lstmkit.bench.timing import per_call_interleaved

Step = Callable[[], object]


def one_step(cell: torch.nn.Module, x: torch.Tensor, h: torch.Tensor) -> Step:
    def call() -> object:
        with torch.no_grad():
            return cell(x, (h, h))

    return call


def ten_steps_and_backward(cell: torch.nn.Module, x: torch.Tensor, h: torch.Tensor) -> Step:
    def call() -> object:
        state, loss = (h, h), 0
        for _ in range(10):
            state = cell(x, state)
            loss = loss + state[0].sum()
        loss.backward()
        return loss

    return call


def table(title: str, make: Callable[..., Step], batches: tuple[int, ...], calls: int) -> None:
    print(f"\n### {title}\n\n| B | H | torch us | fused us | fused/torch |\n|---|---|---|---|---|")
    for hidden in (64, 256):
        torch.manual_seed(0)
        theirs = torch.nn.LSTMCell(hidden, hidden)
        ours = lk.LSTMCell.from_torch(theirs, impl="fused")
        for batch in batches:
            x, h = torch.randn(batch, hidden), torch.zeros(batch, hidden)
            fns = {"torch": make(theirs, x, h), "fused": make(ours, x, h)}
            t = per_call_interleaved(fns, calls=calls, rounds=9)
            us = {k: v * 1e6 for k, v in t.items()}
            ratio = us["fused"] / us["torch"]
            print(f"| {batch} | {hidden} | {us['torch']:.1f} | {us['fused']:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    table("One step, no_grad", one_step, (1, 2, 4, 8), calls=200)
    table("Ten steps, then the backward pass", ten_steps_and_backward, (1,), calls=10)
