"""The demo job: an LSTM learns the adding problem, a task that needs memory.

Each input is a sequence of T pairs (value, marker): values are uniform in [0, 1] and
exactly two steps are marked. The target is the sum of the two marked values. A model
that cannot carry information across the sequence can do no better than predicting the
mean sum, 1.0 (mean squared error 1/6); the LSTM learns to store each marked value in its
cell and add them. (After Hochreiter & Schmidhuber 1997, experiment 4.)

Example:
    >>> x, y = adding_batch(4, steps=10, generator=torch.Generator().manual_seed(0))
    >>> x.shape, y.shape
    (torch.Size([4, 10, 2]), torch.Size([4, 1]))
    >>> bool(torch.allclose((x[..., 0] * x[..., 1]).sum(1, keepdim=True), y))
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .nn import LSTM
from .progress import Progress


def adding_batch(n: int, steps: int, generator: torch.Generator | None = None):
    """``n`` adding-problem sequences: x (n, T, 2) as (value, marker), y (n, 1) the sum."""
    values = torch.rand(n, steps, generator=generator)  # (n, T)
    marked = torch.rand(n, steps, generator=generator).argsort(dim=1)[:, :2]  # 2 distinct steps
    markers = torch.zeros(n, steps).scatter_(1, marked, 1.0)  # (n, T)
    x = torch.stack([values, markers], dim=-1)  # (n, T, 2)
    return x, (values * markers).sum(dim=1, keepdim=True)


class Adder(nn.Module):
    """An LSTM reads the sequence; a linear head reads its last hidden state."""

    def __init__(self, hidden_size: int = 64) -> None:
        super().__init__()
        self.lstm = LSTM(2, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:  # x (B, T, 2) -> (B, 1)
        _, (h, _) = self.lstm(x)
        return self.head(h[-1])


@dataclass
class DemoResult:
    test_mse: float
    baseline_mse: float
    within_tolerance: float  # share of test sums predicted within 0.04
    examples: list[tuple[float, float, float, float]]  # (a, b, a + b, prediction)


def run_demo(steps: int = 2000, length: int = 50, seed: int = 0, quiet: bool = False) -> DemoResult:
    """Train the adder for ``steps`` batches of 64 sequences of ``length`` steps; score it."""
    torch.manual_seed(seed)
    model = Adder()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=steps)
    with Progress(steps, f"adding problem, T = {length}", quiet=quiet) as bar:
        for _ in range(steps):
            x, y = adding_batch(64, length)
            loss = nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            bar.update(loss=loss.item())
    x, y = adding_batch(2000, length, torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        pred = model(x)
    marked = x[..., 0][x[..., 1] == 1].view(-1, 2)  # (n, 2) the two marked values
    examples = [(*marked[i].tolist(), y[i].item(), pred[i].item()) for i in range(5)]
    return DemoResult(
        test_mse=nn.functional.mse_loss(pred, y).item(),
        baseline_mse=nn.functional.mse_loss(torch.full_like(y, 1.0), y).item(),
        within_tolerance=((pred - y).abs() < 0.04).float().mean().item(),
        examples=examples,
    )


def report(result: DemoResult, length: int) -> str:
    """What the model learned, in words and a few worked examples."""
    lines = [
        f"The LSTM learned to add the two marked numbers in sequences of {length} steps.",
        f"  test MSE {result.test_mse:.5f}  (always answering 1.0 scores "
        f"{result.baseline_mse:.4f})",
        f"  {100 * result.within_tolerance:.1f} % of 2000 test sums within 0.04 of the truth",
        "  a few test sequences:",
    ]
    for a, b, total, pred in result.examples:
        lines.append(f"    {a:.3f} + {b:.3f} = {total:.3f}   LSTM says {pred:.3f}")
    return "\n".join(lines)
