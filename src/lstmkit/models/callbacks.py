"""Callbacks: code that ``fit`` runs at the start and end of training, epochs and batches.

Keras's hooks and names: ``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``,
``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``. ``self.model`` is the model being
trained; setting ``self.model.stop_training = True`` ends training after the current batch.
Callbacks whose state matters for an exact resume keep it in :meth:`Callback.state_dict`,
which :class:`~lstmkit.models.checkpoints.BackupAndRestore` saves every epoch.

Example:
    >>> import numpy as np
    >>> from lstmkit.models import Sequential
    >>> from lstmkit.layers import Dense
    >>> model = Sequential([Dense(1, input_shape=(2,))])
    >>> model.compile("sgd", "mse", device="cpu")
    >>> stop = EarlyStopping(monitor="loss", patience=1)
    >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=3, callbacks=[stop], verbose=0)
    >>> sorted(history.history)
    ['loss']
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from .distributed import is_main


class Callback:
    """Base class: every hook does nothing."""

    runs_last = False  # BackupAndRestore: after the others, so it saves their final state

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """What this callback must remember across an interrupted and resumed ``fit``."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class CallbackList:
    """Calls every hook on each callback in order; ``runs_last`` callbacks come last."""

    def __init__(self, callbacks: Sequence[Callback], model: Any, params: dict[str, Any]):
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected Callback instances, got {type(cb).__name__}")
        self.callbacks = sorted(callbacks, key=lambda cb: cb.runs_last)  # stable
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook: str) -> Callable[..., None]:
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args: Any) -> None:
            for cb in self.callbacks:
                getattr(cb, hook)(*args)

        return call


class History(Callback):
    """Records the logs of every epoch: ``history.history["loss"][epoch]``."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "epoch": self.epoch}


class Monitor:
    """Whether a monitored value improved: ``mode`` "min", "max" or "auto" (max for accuracy)."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if monitor.endswith(("acc", "accuracy", "auc")) else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)

    def worst(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    def improved(self, current: float, best: float) -> bool:
        if self.mode == "min":
            return current < best - self.min_delta
        return current > best + self.min_delta

    def value(self, logs: dict | None, who: str) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{who}: monitor {self.monitor!r} is not among the logs "
                f"({', '.join(sorted(logs or {}))}); skipping",
                stacklevel=3,
            )
        return value


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: a key of the epoch logs, e.g. "val_loss" or "val_accuracy".
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        mode: "min", "max" or "auto".
        baseline: stop unless the value gets better than this.
        restore_best_weights: at the end of training, load the weights of the best epoch.
        start_from_epoch: epochs to wait before watching.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.watch = Monitor(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.on_train_begin()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = self.watch.worst()
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = self.watch.value(logs, "EarlyStopping")
        if current is None or epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self.watch.improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = {
                    k: v.detach().clone() for k, v in self.model.state_dict().items()
                }
            if self.baseline is None or self.watch.improved(current, self.baseline):
                self.wait = 0
                return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
        if self.stopped_epoch and self.verbose and is_main():
            print(
                f"epoch {self.stopped_epoch + 1}: early stopping (best epoch {self.best_epoch + 1})"
            )

    def state_dict(self) -> dict[str, Any]:
        keys = ("wait", "stopped_epoch", "best_epoch", "best", "best_weights")
        return {k: getattr(self, k) for k in keys}


def _set_lr(model: Any, lr: float) -> None:
    for group in model.optimizer.param_groups:
        group["lr"] = lr


def _get_lr(model: Any) -> float:
    return float(model.optimizer.param_groups[0]["lr"])


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    Args:
        factor: new_lr = lr * factor (< 1). patience: epochs without improvement to wait.
        min_delta: smallest change that counts. cooldown: epochs to wait after a reduction.
        min_lr: lower bound.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0 < factor < 1:
            raise ValueError(f"factor: expected a number in (0, 1), got {factor!r}")
        self.watch = Monitor(monitor, mode, min_delta)
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self.on_train_begin()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait, self.cooldown_counter, self.best = 0, 0, self.watch.worst()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _get_lr(self.model)
        current = self.watch.value(logs, "ReduceLROnPlateau")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.watch.improved(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            lr = _get_lr(self.model)
            if self.wait >= self.patience and lr > self.min_lr:
                new_lr = max(lr * self.factor, self.min_lr)
                _set_lr(self.model, new_lr)
                if self.verbose and is_main():
                    print(f"epoch {epoch + 1}: reducing the learning rate to {new_lr:.4g}")
                self.cooldown_counter, self.wait = self.cooldown, 0

    def state_dict(self) -> dict[str, Any]:
        return {"wait": self.wait, "cooldown_counter": self.cooldown_counter, "best": self.best}


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)``
    (or ``schedule(epoch)``); epochs count from 0."""

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule: expected a callable, got {type(schedule).__name__}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        lr = _get_lr(self.model)
        try:
            new_lr = self.schedule(epoch, lr)
        except TypeError:
            new_lr = self.schedule(epoch)
        if isinstance(new_lr, bool) or not isinstance(new_lr, int | float):
            raise TypeError(f"schedule: expected it to return a number, got {new_lr!r}")
        _set_lr(self.model, float(new_lr))
        if self.verbose and is_main():
            print(f"epoch {epoch + 1}: learning rate {new_lr:.4g}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = _get_lr(self.model)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if is_main():
                print(f"batch {batch}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (rank 0 only).

    Args:
        filename: the CSV file. separator: field separator.
        append: add to an existing file (e.g. when resuming) instead of overwriting it.
    """

    def __init__(self, filename: str | Path, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename, self.separator, self.append = Path(filename), separator, append
        self.keys: list[str] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.keys = None
        if is_main() and not self.append:
            self.filename.write_text("")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not is_main():
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        exists = self.filename.exists() and self.filename.stat().st_size > 0
        with self.filename.open("a", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if not exists:
                writer.writerow(["epoch", *self.keys])
            writer.writerow([epoch, *(logs.get(k, "") for k in self.keys)])
