"""The LSTM variants in the benchmark: fused variant, the plain-PyTorch loop, torch.nn.LSTM.

For every variant at a few shapes (one layer, I = H, float32, forward under no_grad and
forward + backward) the same weights run through:

* ``fused``      lstmkit's variant LSTM with ``impl="fused"`` (the C++ kernels), or the
  implementation ``impl="auto"`` picks where the kernels do not serve the variant yet
* ``loop``       lstmkit's ``impl="reference"``: the step-by-step PyTorch loop a user writes
  for a variant today
* ``torch``      the standard torch.nn.LSTM at the same shape (oneDNN)

One GRU variant, ``layer_norm (GRU)``, is measured the same way (its loop is lstmkit's
reference GRU; the yardstick stays the standard torch.nn.LSTM, as the goal says).

The goal (issue 7): every variant <= 1.3 x the time of the standard torch.nn.LSTM.

Example:
    >>> points = variant_grid(quick=True)
    >>> points[0]
    VariantPoint(variant='peephole', batch=8, hidden=128, steps=100, train=False)
    >>> variant_table([{"variant": "peephole", "batch": 8, "hidden": 128, "steps": 100,
    ...     "train": False, "impl": "fused", "seconds": {"fused": 0.012, "loop": 0.05,
    ...     "torch": 0.01}}]).splitlines()[2]
    '| peephole | 8 | 128 | fused | 12.00 | 50.00 | 10.00 | 1.20 | met | 4.17 |'
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .. import nn as lk
from ..ops import dispatch
from .timing import interleaved

GOAL = 1.3  # fused variant / standard torch.nn.LSTM
VARIANTS: dict[str, dict] = {
    "peephole": {"peephole": True},
    "coupled_gates": {"coupled_gates": True},
    "CIFG": {"ablation": "CIFG"},
    "NIG": {"ablation": "NIG"},
    "NOG": {"ablation": "NOG"},
    "NOAF": {"ablation": "NOAF"},
    "hard_sigmoid+relu": {"recurrent_activation": "hard_sigmoid", "activation": "relu"},
    "zoneout (eval)": {"zoneout": (0.1, 0.05)},
    "zoneout (train)": {"zoneout": (0.1, 0.05), "train": True},
    "recurrent_dropout (train)": {"recurrent_dropout": 0.25, "train": True},
    "weight_drop (train)": {"weight_drop": 0.25, "train": True},
    "layer_norm": {"layer_norm": True},
    "layer_norm (GRU)": {"layer_norm": True, "gru": True},
    "FGR": {"ablation": "FGR"},
}
QUICK = ("peephole", "CIFG", "zoneout (train)", "layer_norm", "layer_norm (GRU)")


@dataclass(frozen=True)
class VariantPoint:
    variant: str
    batch: int
    hidden: int
    steps: int
    train: bool


def variant_grid(quick: bool = False) -> list[VariantPoint]:
    """Every variant at B in {8, 32}, H in {128, 256}, T = 100; ``quick``: five variants at
    B = 8, H = 128."""
    names = QUICK if quick else tuple(VARIANTS)
    shapes = [(8, 128)] if quick else [(b, h) for b in (8, 32) for h in (128, 256)]
    return [
        VariantPoint(name, b, h, 100, train)
        for name in names
        for train in (False, True)
        for b, h in shapes
    ]


def _models(point: VariantPoint) -> tuple[dict[str, nn.Module], str]:
    """The three models of ``point`` and the implementation impl="auto" takes for it."""
    options = dict(VARIANTS[point.variant])
    training = options.pop("train", False)
    cls = lk.GRU if options.pop("gru", False) else lk.LSTM
    torch.manual_seed(0)
    theirs = nn.LSTM(point.hidden, point.hidden)
    ours = cls(point.hidden, point.hidden, **options).train(training)
    loop = cls(point.hidden, point.hidden, impl="reference", **options).train(training)
    loop.load_state_dict(ours.state_dict())
    x = torch.zeros(point.steps, point.batch, point.hidden)  # (T, B, I)
    chosen = dispatch.choose_impl(ours.spec, "auto", x, grad=point.train)
    return {"fused": ours, "loop": loop, "torch": theirs}, chosen


def run_variant_point(point: VariantPoint, budget_s: float = 2.0) -> dict:
    """Median seconds of the fused variant, its PyTorch loop and torch.nn.LSTM at ``point``."""
    models, chosen = _models(point)
    x = torch.randn(point.steps, point.batch, point.hidden)

    def make(model: nn.Module) -> Callable[[], object]:
        def call() -> object:
            if not point.train:
                with torch.no_grad():
                    return model(x)
            out = model(x.detach().requires_grad_())[0]
            out.sum().backward()
            return out

        return call

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TF32 acceleration")
        times = interleaved({k: make(m) for k, m in models.items()}, max_reps=60, budget_s=budget_s)
    return {**asdict(point), "impl": chosen, "seconds": times}


def variant_table(rows: list[dict]) -> str:
    """Markdown: times (ms), the ratio fused variant / torch.nn.LSTM against the goal."""
    head = (
        "| variant | B | H | impl | fused ms | loop ms | torch.nn.LSTM ms | fused/torch "
        f"| goal <= {GOAL} | loop/fused |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        s = r["seconds"]
        ratio = s["fused"] / s["torch"]
        cells = [
            r["variant"],
            str(r["batch"]),
            str(r["hidden"]),
            r["impl"],
            f"{s['fused'] * 1e3:.2f}",
            f"{s['loop'] * 1e3:.2f}",
            f"{s['torch'] * 1e3:.2f}",
            f"{ratio:.2f}",
            "met" if ratio <= GOAL else "MISSED",
            f"{s['loop'] / s['fused']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def variant_markdown(rows: list[dict]) -> list[str]:
    """The "variants" section of RESULTS.md, forward and forward + backward tables."""
    if not rows:
        return []
    met = sum(r["seconds"]["fused"] / r["seconds"]["torch"] <= GOAL for r in rows)
    out = [
        "## LSTM variants",
        "",
        "Each variant (one layer, I = H, T = 100, float32) run by lstmkit with impl='auto'",
        "(*impl*: what auto chose; `fused` is the C++ kernels), by the plain-PyTorch step",
        "loop (lstmkit's impl='reference', the loop a user writes for a variant) and the",
        "standard torch.nn.LSTM at the same shape. Variants marked (train) run in training",
        f"mode (masks drawn every call). Goal: fused / torch.nn.LSTM <= {GOAL}.",
        "",
        f"Goal met at {met} of {len(rows)} points.",
        "",
    ]
    for train in (False, True):
        part = [r for r in rows if r["train"] == train]
        if part:
            what = "forward + backward" if train else "forward, no_grad"
            out += [f"### Variants, {what}", "", variant_table(part), ""]
    return out
