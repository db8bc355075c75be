"""The loop behind ``fit``: epochs of batches, validation, callbacks, progress.

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
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..progress import Progress
from . import distributed
from . import steps as batch_steps
from .callbacks import Callback, CallbackList, History
from .compiling import CompileConfig
from .data import ArrayData, IterData, adapt
from .evaluation import evaluate_data, reduce_logs
from .preparation import check_class_weight, check_int, setup, steps_of, validation_sets, verbosity


@dataclass
class FitState:
    """What a running ``fit`` keeps beside the model; BackupAndRestore saves and restores it."""

    shuffle: torch.Generator
    initial_epoch: int
    epochs: int
    callbacks: list[Callback] = field(default_factory=list)


@dataclass
class FitOptions:
    """fit's arguments about the loop itself, checked."""

    batch_size: int
    epochs: int
    shuffle: bool
    verbose: int
    table: dict[int, float] | None
    tbptt: int | None
    validation_batch_size: int
    validation_freq: int

    @classmethod
    def check(cls, **kw: Any) -> FitOptions:
        batch_size = check_int("batch_size", kw["batch_size"], 1, allow_none=True) or 32
        check_int("initial_epoch", kw["initial_epoch"], 0)
        check_int("steps_per_epoch", kw["steps_per_epoch"], 1, allow_none=True)
        if not isinstance(kw["shuffle"], bool):
            raise TypeError(f"shuffle: expected a bool, got {kw['shuffle']!r}")
        val_batch = check_int("validation_batch_size", kw["validation_batch_size"], 1, True)
        return cls(
            batch_size=batch_size,
            epochs=check_int("epochs", kw["epochs"], 0),  # type: ignore[arg-type]
            shuffle=kw["shuffle"],
            verbose=verbosity(kw["verbose"]),
            table=check_class_weight(kw["class_weight"]),
            tbptt=check_int("tbptt", kw["tbptt"], 1, allow_none=True),
            validation_batch_size=val_batch or batch_size,
            validation_freq=check_int("validation_freq", kw["validation_freq"], 1),  # type: ignore[arg-type]
        )


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
    opts = FitOptions.check(
        batch_size=batch_size, epochs=epochs, verbose=verbose, shuffle=shuffle,
        class_weight=class_weight, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
        validation_batch_size=validation_batch_size, validation_freq=validation_freq, tbptt=tbptt,
    )  # fmt: skip
    train = adapt(x, y, sample_weight, steps=steps_per_epoch)
    train, val = validation_sets(train, validation_split, validation_data, validation_steps)
    cfg, ctx = setup(model, train)
    if opts.batch_size % ctx.world:
        raise ValueError(
            f"batch_size: expected a multiple of the {ctx.world} processes "
            f"(it is the global batch, split between them), got {opts.batch_size}"
        )
    state = start(model, list(callbacks or []), initial_epoch, epochs, ctx, cfg)
    params = {"epochs": epochs, "verbose": opts.verbose, "steps": steps_of(train, opts.batch_size)}
    cbs = CallbackList(state.callbacks, model, params)
    loop = EpochLoop(model, distributed.wrap(model, ctx, cfg.device), cfg, ctx, opts, cbs)
    cbs.on_train_begin({})
    for epoch in range(state.initial_epoch, epochs):
        if not loop.run(epoch, train, val, state.shuffle):
            break
    cbs.on_train_end({})
    model.history = state.callbacks[-1]
    return model.history


def start(
    model: Any,
    callbacks: list[Callback],
    initial_epoch: int,
    epochs: int,
    ctx: distributed.Context,
    cfg: CompileConfig,
) -> FitState:
    """The state of a new fit; History is the last of the callbacks."""
    # The shuffling generator is seeded from torch's global RNG, so torch.manual_seed makes
    # a run repeatable; rank 0's seed is shared so every rank shuffles the same way.
    seed = distributed.broadcast_int(int(torch.randint(2**62, (1,))), ctx, cfg.device)
    state = FitState(torch.Generator().manual_seed(seed), initial_epoch, epochs)
    state.callbacks = [*callbacks, History()]
    model.fit_state, model.stop_training = state, False
    return state


def print_epoch(title: str, seconds: float, logs: dict[str, float]) -> None:
    parts = [f"{k} {v:.4g}" for k, v in logs.items()]
    print(f"{title} - {seconds:.1f}s - " + " - ".join(parts), file=sys.stdout, flush=True)


@dataclass
class EpochLoop:
    """Epochs of training: batches, progress, validation, callbacks, epoch logs."""

    model: Any
    net: nn.Module  # the model, or its DistributedDataParallel wrapper
    cfg: CompileConfig
    ctx: distributed.Context
    opts: FitOptions
    cbs: CallbackList

    def run(
        self,
        epoch: int,
        train: ArrayData | IterData,
        val: ArrayData | IterData | None,
        shuffle: torch.Generator,
    ) -> bool:
        """One epoch; False when training should stop."""
        opts, started = self.opts, time.perf_counter()
        title = f"epoch {epoch + 1}/{opts.epochs}"
        self.cbs.on_epoch_begin(epoch, {})
        order = None
        if opts.shuffle and isinstance(train, ArrayData):
            order = torch.randperm(len(train), generator=shuffle)
        sampler = getattr(getattr(train, "source", None), "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)  # a DistributedSampler reshuffles per epoch
        logs = self.train_epoch(train, order, title)
        if logs is None:
            return False  # the generator ran out of data
        if val is not None and (epoch + 1) % opts.validation_freq == 0:
            vals = evaluate_data(self.model, val, opts.validation_batch_size, self.ctx, opts.table)
            logs.update({f"val_{k}": v for k, v in vals.items()})
        if opts.verbose and self.ctx.is_main:
            print_epoch(title, time.perf_counter() - started, logs)
        self.cbs.on_epoch_end(epoch, logs)
        return not self.model.stop_training

    def train_epoch(
        self, data: ArrayData | IterData, order: torch.Tensor | None, title: str
    ) -> dict[str, float] | None:
        """Every batch of one epoch; the epoch's logs, or None if there was no batch."""
        metrics = self.cfg.make_metrics()
        bs = self.opts.batch_size
        if isinstance(data, ArrayData):
            batches = data.batches(bs, order, self.ctx.rank, self.ctx.world)
        else:
            batches = data.batches()
        loss_sum = torch.zeros(2, dtype=torch.float64, device=self.cfg.device)  # (sum, count)
        total = steps_of(data, bs)
        quiet = self.opts.verbose != 1 or total == 0 or not self.ctx.is_main
        with Progress(max(total, 1), title, quiet=quiet) as bar:
            for step, batch in enumerate(batches):
                self.cbs.on_train_batch_begin(step, {})
                loss = batch_steps.train_batch(
                    self.model, self.net, batch, metrics, self.opts.table, self.opts.tbptt
                )
                n = len(batch[0])
                loss_sum += torch.stack([loss.double() * n, loss.new_tensor(n).double()])
                logs = {"loss": float(loss_sum[0] / loss_sum[1])}
                logs.update({m.name: m.result() for m in metrics})
                bar.update(**logs)
                self.cbs.on_train_batch_end(step, logs)
                if self.model.stop_training:
                    break
        if loss_sum[1] == 0:
            print(
                "fit: the data ran out (no batches this epoch); stopping training", file=sys.stderr
            )
            return None
        return reduce_logs(loss_sum, metrics, self.ctx)
