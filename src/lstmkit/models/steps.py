"""One step of training or evaluation on one batch, and truncated BPTT.

Example:
    >>> import torch
    >>> from lstmkit.models import Sequential
    >>> from lstmkit.layers import Dense
    >>> model = Sequential([Dense(1, input_shape=(2,))])
    >>> model.compile("sgd", "mse", device="cpu")
    >>> loss = model.train_on_batch(torch.ones(4, 2), torch.zeros(4, 1))
    >>> isinstance(loss, float)
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from ..layers.recurrent import Recurrent
from ..layers.wrappers import Bidirectional
from . import losses
from .compiling import CompileConfig
from .data import Batch, to_device
from .devices import autocast
from .metrics import Metric


def model_dtype(model: nn.Module) -> torch.dtype:
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    return p.dtype if p is not None else torch.get_default_dtype()


def class_weights(y: Tensor, table: dict[int, float] | None) -> Tensor | None:
    """Per-sample (or per-step) weights from ``class_weight`` and the targets' classes.

    Class ids are the targets themselves when they are integers, the argmax of one-hot
    targets, and the rounded target of a single sigmoid output.
    """
    if table is None:
        return None
    if not y.is_floating_point():
        labels = y
    elif y.dim() >= 2 and y.shape[-1] > 1:
        labels = y.argmax(-1)
    else:
        labels = y.round()
        labels = labels.squeeze(-1) if labels.dim() >= 2 else labels
    labels = labels.long()
    present = {int(c) for c in labels.unique().tolist()}
    missing = sorted(present - set(table))
    if missing:
        raise ValueError(
            f"class_weight: expected a weight for every class in the data, "
            f"missing classes {missing}"
        )
    lookup = torch.zeros(max(max(table), max(present)) + 1, device=y.device)
    for cls, weight in table.items():
        lookup[cls] = weight
    return lookup[labels]


def combine(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """The product of two optional weights, (B,) broadcast against (B, T)."""
    if a is None or b is None:
        return a if b is None else b
    if a.dim() < b.dim():
        a = a.reshape(-1, *([1] * (b.dim() - 1)))
    elif b.dim() < a.dim():
        b = b.reshape(-1, *([1] * (a.dim() - 1)))
    return a * b


def prepare(model: nn.Module, batch: Batch, cfg: CompileConfig, table: dict | None) -> tuple:
    """(x, y, weights) on the model's device and dtype."""
    x, y, w = batch
    if y is None:
        raise ValueError("y: expected targets for training and evaluation, got None")
    dtype = model_dtype(model)
    x, y, w = (to_device(t, cfg.device, dtype) for t in (x, y, w))
    return x, y, combine(w, class_weights(y, table))


def forward_loss(
    model: nn.Module, net: nn.Module, x: Tensor, y: Tensor, w: Tensor | None, cfg: CompileConfig
) -> tuple[Tensor, Tensor]:
    """(loss, y_pred) for one batch; the loss is computed in float32 even under autocast."""
    with autocast(cfg.device, cfg.precision):
        y_pred = net(x)
    if not isinstance(y_pred, Tensor):
        raise TypeError(
            f"model output: expected one tensor, got {type(y_pred).__name__}; "
            "the model's forward must return the prediction the loss compares with y"
        )
    y_pred = y_pred.float() if y_pred.dtype == torch.bfloat16 else y_pred
    mask = getattr(model, "output_mask", None)
    return losses.compute(cfg.loss, y, y_pred, w, mask), y_pred


def update_metrics(metrics: list[Metric], model: nn.Module, y: Tensor, y_pred: Tensor) -> None:
    mask = getattr(model, "output_mask", None)
    for m in metrics:
        m.update(y, y_pred.detach(), mask)


def optimise(model: Any, loss: Tensor, cfg: CompileConfig) -> None:
    model.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    cfg.clip([p for p in model.parameters() if p.requires_grad])
    model.optimizer.step()


def train_batch(
    model: Any,
    net: nn.Module,
    batch: Batch,
    metrics: list[Metric],
    table: dict | None = None,
    tbptt: int | None = None,
) -> Tensor:
    """One optimisation step (or one per chunk with ``tbptt``); returns the detached loss."""
    cfg = model.compiled
    model.train()
    x, y, w = prepare(model, batch, cfg, table)
    if tbptt is not None:
        return tbptt_batch(model, net, x, y, w, metrics, tbptt)
    loss, y_pred = forward_loss(model, net, x, y, w, cfg)
    optimise(model, loss, cfg)
    update_metrics(metrics, model, y, y_pred)
    return loss.detach()


def tbptt_batch(
    model: Any,
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    w: Tensor | None,
    metrics: list[Metric],
    k: int,
) -> Tensor:
    """Truncated BPTT: chunks of ``k`` steps, one update each, state carried and detached."""
    steps = x.shape[1] if x.dim() >= 2 else 0
    if y.dim() < 2 or y.shape[1] != steps:
        raise ValueError(
            f"tbptt: expected targets with a time axis of {steps} steps like x "
            f"(a model that returns sequences), got y of shape {tuple(y.shape)}"
        )
    total = []
    with carrying_state(model):
        for start in range(0, steps, k):
            part = slice(start, start + k)
            wc = w[:, part] if w is not None and w.dim() >= 2 else w
            loss, y_pred = forward_loss(model, net, x[:, part], y[:, part], wc, model.compiled)
            optimise(model, loss, model.compiled)
            update_metrics(metrics, model, y[:, part], y_pred)
            total.append(loss.detach())
    return torch.stack(total).mean()


@contextlib.contextmanager
def carrying_state(model: nn.Module) -> Iterator[None]:
    """Recurrent layers carry their state between calls; non-stateful ones start from zeros
    and forget it afterwards."""
    if any(isinstance(m, Bidirectional) for m in model.modules()):
        raise ValueError(
            "tbptt: Bidirectional layers read each chunk backwards from its end, so truncated "
            "BPTT cannot serve them; train on whole sequences"
        )
    layers = [m for m in model.modules() if isinstance(m, Recurrent) and not m.stateful]
    for layer in layers:
        layer.reset_states()
        layer.carry_state = True
    try:
        yield
    finally:
        for layer in layers:
            layer.carry_state = False
            layer.reset_states()


@torch.no_grad()
def test_batch(
    model: Any, batch: Batch, metrics: list[Metric], table: dict | None = None
) -> tuple[Tensor, int]:
    """(loss, samples) of one batch in evaluation mode, updating ``metrics``."""
    cfg = model.compiled
    model.eval()
    x, y, w = prepare(model, batch, cfg, table)
    loss, y_pred = forward_loss(model, model, x, y, w, cfg)
    update_metrics(metrics, model, y, y_pred)
    return loss, len(x)


@torch.no_grad()
def predict_batch(model: Any, x: Tensor, device: torch.device, precision: str) -> Any:
    """The model's output for one batch, in evaluation mode, on the CPU in float32."""
    model.eval()
    x = to_device(x, device, model_dtype(model))
    with autocast(device, precision):
        out = model(x)
    if isinstance(out, list | tuple):
        return [o.float().cpu() if o.dtype == torch.bfloat16 else o.cpu() for o in out]
    return out.float().cpu() if out.dtype == torch.bfloat16 else out.cpu()
