"""The loops behind ``evaluate`` and ``predict``.

Example:
    >>> import numpy as np
    >>> from lstmkit.models import Sequential
    >>> from lstmkit.layers import Dense
    >>> model = Sequential([Dense(1, input_shape=(3,))])
    >>> model.compile("sgd", "mse", metrics=["mae"], device="cpu")
    >>> x, y = np.ones((8, 3)), np.zeros((8, 1))
    >>> sorted(model.evaluate(x, y, verbose=0, return_dict=True))
    ['loss', 'mae']
    >>> model.predict(x[:5]).shape
    (5, 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..progress import Progress
from . import distributed
from . import steps as batch_steps
from .data import ArrayData, IterData, adapt
from .preparation import check_int, first_x, setup, steps_of, verbosity


def reduce_logs(loss_sum: Tensor, metrics: list, ctx: distributed.Context) -> dict[str, float]:
    """Loss and metric results, summed over every process of a multi-process run.

    Args:
        loss_sum: (2,) float64, the sum of batch losses weighted by batch size, and the count.
    """
    loss_sum = distributed.all_reduce_sum(loss_sum, ctx)
    logs = {"loss": float(loss_sum[0] / loss_sum[1])}
    for m in metrics:
        m.totals = distributed.all_reduce_sum(m.totals, ctx)
        logs[m.name] = m.result()
    return logs


def evaluate_data(
    model: Any,
    data: ArrayData | IterData,
    batch_size: int,
    ctx: distributed.Context,
    table: dict[int, float] | None = None,
) -> dict[str, float]:
    """Loss and metrics over ``data`` (this rank's shards, summed over ranks)."""
    metrics = model.compiled.make_metrics()
    loss_sum = torch.zeros(2, dtype=torch.float64, device=model.compiled.device)
    if isinstance(data, ArrayData):
        batches = data.batches(batch_size, None, ctx.rank, ctx.world)
    else:
        batches = data.batches()
    for batch in batches:
        loss, n = batch_steps.test_batch(model, batch, metrics, table)
        loss_sum += torch.stack([loss.double() * n, loss.new_tensor(n, dtype=torch.float64)])
    if loss_sum[1] == 0:
        raise ValueError("evaluate: expected at least one batch of data, got none")
    return reduce_logs(loss_sum, metrics, ctx)


def evaluate(
    model: Any,
    x: Any = None,
    y: Any = None,
    batch_size: int | None = None,
    verbose: int | str = "auto",
    sample_weight: Any = None,
    steps: int | None = None,
    return_dict: bool = False,
) -> float | list[float] | dict[str, float]:
    """See :meth:`lstmkit.models.Model.evaluate`."""
    batch_size = check_int("batch_size", batch_size, 1, allow_none=True) or 32
    verbose = verbosity(verbose)
    data = adapt(x, y, sample_weight, steps=steps)
    _, ctx = setup(model, data)
    logs = evaluate_data(model, data, batch_size, ctx)
    if verbose and ctx.is_main:
        print(" - ".join(f"{k} {v:.4g}" for k, v in logs.items()), flush=True)
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def predict(
    model: Any,
    x: Any,
    batch_size: int | None = None,
    verbose: int | str = 0,
    steps: int | None = None,
) -> np.ndarray | list[np.ndarray]:
    """See :meth:`lstmkit.models.Model.predict`."""
    batch_size = check_int("batch_size", batch_size, 1, allow_none=True) or 32
    verbose = verbosity(verbose)
    data = adapt(x, steps=steps)
    cfg = model.compiled
    device = cfg.device if cfg is not None else model.device
    precision = cfg.precision if cfg is not None else "32"
    if not model.built:
        model.build_from_batch(
            batch_steps.to_device(first_x(data), device, batch_steps.model_dtype(model))
        )
    batches = data.batches(batch_size) if isinstance(data, ArrayData) else data.batches()
    outs = []
    quiet = verbose != 1 or not distributed.is_main()
    with Progress(max(steps_of(data, batch_size), 1), "predict", quiet=quiet) as bar:
        for xb, _, _ in batches:
            outs.append(batch_steps.predict_batch(model, xb, device, precision))
            bar.update()
    if not outs:
        raise ValueError("predict: expected at least one batch of data, got none")
    return _concat(outs)


def _concat(outs: list[Any]) -> np.ndarray | list[np.ndarray]:
    try:
        if isinstance(outs[0], list):
            return [torch.cat([o[i] for o in outs]).numpy() for i in range(len(outs[0]))]
        return torch.cat(outs).numpy()
    except RuntimeError as err:
        raise ValueError(
            f"predict: the batches' outputs have different shapes and cannot be joined ({err}); "
            "predict batches of equal sequence length separately"
        ) from err
