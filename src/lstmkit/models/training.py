"""The loops behind ``fit``, ``evaluate`` and ``predict``.

Example:
    >>> import numpy as np
    >>> from lstmkit.models import Sequential
    >>> from lstmkit.layers import Dense
    >>> model = Sequential([Dense(1, input_shape=(3,))])
    >>> model.compile("sgd", "mse", metrics=["mae"], device="cpu")
    >>> x, y = np.random.rand(32, 3), np.random.rand(32, 1)
    >>> history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    >>> sorted(history.history), len(history.history["loss"])
    (['loss', 'mae', 'val_loss', 'val_mae'], 2)
    >>> model.predict(x[:5]).shape
    (5, 1)
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..progress import Progress
from . import distributed
from . import steps as batch_steps
from .callbacks import Callback, CallbackList, History
from .compiling import CompileConfig
from .data import ArrayData, IterData, adapt


@dataclass
class FitState:
    """What a running ``fit`` keeps beside the model; BackupAndRestore saves and restores it."""

    shuffle: torch.Generator
    initial_epoch: int
    epochs: int
    callbacks: list[Callback] = field(default_factory=list)


def require_compiled(model: Any) -> CompileConfig:
    if model.compiled is None:
        raise RuntimeError("model: call compile(optimizer, loss) before training or evaluating")
    return model.compiled


def _check_int(arg: str, value: object, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{arg}: expected an integer >= {low}, got {value!r}")
    return value


def _verbosity(verbose: object) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)  # type: ignore[arg-type]


def check_class_weight(class_weight: object) -> dict[int, float] | None:
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict) or not all(
        isinstance(k, int | np.integer) and isinstance(v, int | float)
        for k, v in class_weight.items()
    ):
        raise TypeError(f"class_weight: expected a dict {{class id: weight}}, got {class_weight!r}")
    return {int(k): float(v) for k, v in class_weight.items()}


def _validation(
    train: ArrayData | IterData,
    validation_split: float,
    validation_data: Any,
    validation_steps: int | None,
) -> tuple[ArrayData | IterData, ArrayData | IterData | None]:
    if validation_data is not None:
        if isinstance(validation_data, tuple | list) and 2 <= len(validation_data) <= 3:
            return train, adapt(*validation_data, what="validation_data")
        return train, adapt(validation_data, steps=validation_steps, what="validation_data")
    if not validation_split:
        return train, None
    if not 0 < validation_split < 1:
        raise ValueError(f"validation_split: expected a number in (0, 1), got {validation_split!r}")
    if not isinstance(train, ArrayData):
        raise ValueError(
            "validation_split: only for array data; with a DataLoader or generator "
            "pass validation_data="
        )
    return train.split(validation_split)


def _first_x(data: ArrayData | IterData) -> Tensor:
    if isinstance(data, ArrayData):
        if len(data) == 0:
            raise ValueError("x: expected at least one sample, got 0")
        return data.x[:1]
    return data.peek()[0]


def setup(model: Any, data: ArrayData | IterData) -> tuple[CompileConfig, distributed.Context]:
    """Join the process group, build the model on its device, create the optimizer."""
    cfg = require_compiled(model)
    ctx = distributed.join(cfg.device)
    if not model.built:
        x = _first_x(data)
        model.build_from_batch(batch_steps.to_device(x, cfg.device, batch_steps.model_dtype(model)))
    model.to(cfg.device)
    model.ensure_optimizer()
    return cfg, ctx


def fit(
    model: Any,
    x: Any = None,
    y: Any = None,
    batch_size: int | None = None,
    epochs: int = 1,
    verbose: int | str = "auto",
    callbacks: list[Callback] | None = None,
    validation_split: float = 0.0,
    validation_data: Any = None,
    shuffle: bool = True,
    class_weight: dict[int, float] | None = None,
    sample_weight: Any = None,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    validation_batch_size: int | None = None,
    validation_freq: int = 1,
    tbptt: int | None = None,
) -> History:
    """See :meth:`lstmkit.models.Model.fit`."""
    batch_size = _check_int("batch_size", batch_size, 1, allow_none=True) or 32
    _check_int("epochs", epochs, 0)
    _check_int("initial_epoch", initial_epoch, 0)
    _check_int("validation_freq", validation_freq, 1)
    _check_int("steps_per_epoch", steps_per_epoch, 1, allow_none=True)
    tbptt = _check_int("tbptt", tbptt, 1, allow_none=True)
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle: expected a bool, got {shuffle!r}")
    verbose = _verbosity(verbose)
    table = check_class_weight(class_weight)
    train = adapt(x, y, sample_weight, steps=steps_per_epoch)
    train, val = _validation(train, validation_split, validation_data, validation_steps)
    cfg, ctx = setup(model, train)
    if batch_size % ctx.world:
        raise ValueError(
            f"batch_size: expected a multiple of the {ctx.world} processes "
            f"(it is the global batch, split between them), got {batch_size}"
        )
    net = distributed.wrap(model, ctx, cfg.device)
    # The shuffling generator is seeded from torch's global RNG, so torch.manual_seed makes
    # a run repeatable; rank 0's seed is shared so every rank shuffles the same way.
    seed = distributed.broadcast_int(int(torch.randint(2**62, (1,))), ctx, cfg.device)
    history = History()
    user = list(callbacks or [])
    state = FitState(torch.Generator().manual_seed(seed), initial_epoch, epochs, [*user, history])
    model.fit_state, model.stop_training = state, False
    params = {"epochs": epochs, "verbose": verbose, "steps": _steps(train, batch_size)}
    cbs = CallbackList(state.callbacks, model, params)
    cbs.on_train_begin({})
    verbose = verbose if ctx.is_main else 0
    loop = EpochLoop(model, net, cfg, ctx, table, tbptt, verbose)
    for epoch in range(state.initial_epoch, epochs):
        cbs.on_epoch_begin(epoch, {})
        started = time.perf_counter()
        order = (
            torch.randperm(len(train), generator=state.shuffle)
            if shuffle and isinstance(train, ArrayData)
            else None
        )
        logs = loop.train_epoch(train, batch_size, order, cbs, f"epoch {epoch + 1}/{epochs}")
        if logs is None:
            break  # the generator ran out of data
        if val is not None and (epoch + 1) % validation_freq == 0:
            vals = evaluate_data(model, val, validation_batch_size or batch_size, ctx, table)
            logs.update({f"val_{k}": v for k, v in vals.items()})
        if verbose:
            print_epoch(f"epoch {epoch + 1}/{epochs}", time.perf_counter() - started, logs)
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end({})
    model.history = history
    return history


def _steps(data: ArrayData | IterData, batch_size: int) -> int:
    return data.steps(batch_size) if isinstance(data, ArrayData) else len(data)


def print_epoch(title: str, seconds: float, logs: dict[str, float]) -> None:
    parts = [f"{k} {v:.4g}" for k, v in logs.items()]
    print(f"{title} - {seconds:.1f}s - " + " - ".join(parts), file=sys.stdout, flush=True)


@dataclass
class EpochLoop:
    """One epoch of training: batches, progress, per-batch callbacks, epoch logs."""

    model: Any
    net: nn.Module
    cfg: CompileConfig
    ctx: distributed.Context
    table: dict[int, float] | None
    tbptt: int | None
    verbose: int

    def train_epoch(
        self,
        data: ArrayData | IterData,
        batch_size: int,
        order: Tensor | None,
        cbs: CallbackList,
        title: str,
    ) -> dict[str, float] | None:
        metrics = self.cfg.make_metrics()
        if isinstance(data, ArrayData):
            batches = data.batches(batch_size, order, self.ctx.rank, self.ctx.world)
        else:
            batches = data.batches()
        loss_sum = torch.zeros(2, dtype=torch.float64, device=self.cfg.device)  # (sum, count)
        total = _steps(data, batch_size)
        quiet = self.verbose != 1 or total == 0
        with Progress(max(total, 1), title, quiet=quiet) as bar:
            for step, batch in enumerate(batches):
                cbs.on_train_batch_begin(step, {})
                loss = batch_steps.train_batch(
                    self.model, self.net, batch, metrics, self.table, self.tbptt
                )
                n = len(batch[0])
                loss_sum += torch.stack(
                    [loss.double() * n, loss.new_tensor(n, dtype=torch.float64)]
                )
                logs = {"loss": float(loss_sum[0] / loss_sum[1])}
                logs.update({m.name: m.result() for m in metrics})
                bar.update(**logs)
                cbs.on_train_batch_end(step, logs)
                if self.model.stop_training:
                    break
        if loss_sum[1] == 0:
            print(
                "fit: the data ran out (no batches this epoch); stopping training", file=sys.stderr
            )
            return None
        return reduce_logs(loss_sum, metrics, self.ctx)


def reduce_logs(loss_sum: Tensor, metrics: list, ctx: distributed.Context) -> dict[str, float]:
    """Epoch logs, summed over every process of a multi-process run."""
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
    device = model.compiled.device
    loss_sum = torch.zeros(2, dtype=torch.float64, device=device)
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
    batch_size = _check_int("batch_size", batch_size, 1, allow_none=True) or 32
    verbose = _verbosity(verbose)
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
    batch_size = _check_int("batch_size", batch_size, 1, allow_none=True) or 32
    verbose = _verbosity(verbose)
    data = adapt(x, steps=steps)
    cfg = model.compiled
    device = cfg.device if cfg is not None else model.device
    precision = cfg.precision if cfg is not None else "32"
    if not model.built:
        model.build_from_batch(_first_x(data).to(device))
    batches = data.batches(batch_size) if isinstance(data, ArrayData) else data.batches()
    outs = []
    total = _steps(data, batch_size)
    with Progress(max(total, 1), "predict", quiet=verbose != 1 or not distributed.is_main()) as bar:
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
