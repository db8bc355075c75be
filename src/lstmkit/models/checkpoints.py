"""Callbacks that write files: ModelCheckpoint and BackupAndRestore.

Both write atomically (a temporary file renamed into place) and only on rank 0.

:class:`BackupAndRestore` makes an interrupted ``fit`` resumable exactly: after every
epoch it saves the weights, the optimizer's state, every callback's state, the history,
the random state of torch (CPU and CUDA) and of the shuffling generator, and the epoch.
Run the same ``fit`` again after a crash and it continues from the next epoch; on the CPU
the final weights are the same as those of a run that was never interrupted.

Example:
    >>> import tempfile, numpy as np
    >>> from lstmkit.models import Sequential
    >>> from lstmkit.layers import Dense
    >>> model = Sequential([Dense(1, input_shape=(2,))])
    >>> model.compile("sgd", "mse", device="cpu")
    >>> backup = BackupAndRestore(tempfile.mkdtemp())
    >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, callbacks=[backup], verbose=0)
    >>> backup.path.exists()        # deleted once training finished normally
    False
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from . import encoding, saving
from .callbacks import Callback, Monitor
from .distributed import is_main

BACKUP_FORMAT = "lstmkit.backup"


def restore_callbacks(callbacks: list[Callback], saved: list[list[Any]]) -> None:
    """Give the k-th callback of each class the k-th saved state of that class."""
    by_class: dict[str, list[dict]] = {}
    for name, state in saved:
        by_class.setdefault(name, []).append(state)
    for cb in callbacks:
        states = by_class.get(type(cb).__name__)
        if states:
            cb.load_state_dict(states.pop(0))
        elif cb.state_dict():
            warnings.warn(
                f"BackupAndRestore: the backup holds no state for {type(cb).__name__}; "
                "it starts afresh",
                stacklevel=3,
            )


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after every epoch, or only when ``monitor`` improves.

    Args:
        filepath: where to save; may hold ``{epoch}`` and log keys, e.g.
            ``"ckpt-{epoch:02d}-{val_loss:.3f}.lstmkit"`` (epochs counted from 1).
        monitor, mode: the value watched by ``save_best_only``.
        save_best_only: save only when ``monitor`` improves on the best so far.
        save_weights_only: save a safetensors file of the weights instead of the model.
        save_freq: "epoch", or save every that many batches.
    """

    def __init__(
        self,
        filepath: str | Path,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(f"save_freq: expected 'epoch' or an integer >= 1, got {save_freq!r}")
        self.filepath, self.verbose = str(filepath), verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.save_freq = save_freq
        self.watch = Monitor(monitor, mode, 0.0)
        self.initial = initial_value_threshold
        self.best = (
            self.watch.worst() if initial_value_threshold is None else initial_value_threshold
        )
        self.batches, self.epoch = 0, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.batches += 1
        if self.save_freq != "epoch" and self.batches % self.save_freq == 0:
            self._save(self.epoch, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, logs or {})

    def _save(self, epoch: int, logs: dict) -> None:
        if self.save_best_only:
            current = self.watch.value(logs, "ModelCheckpoint")
            if current is None or not self.watch.improved(current, self.best):
                return
            self.best = current
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"filepath: cannot fill {self.filepath!r} from epoch and {sorted(logs)} ({err})"
            ) from err
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose and is_main():
            print(f"epoch {epoch + 1}: saved {path}")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "batches": self.batches}


class BackupAndRestore(Callback):
    """Back up the whole training state after every epoch; resume from it in the next ``fit``.

    Args:
        backup_dir: directory of the backup file (created if missing).
        save_freq: "epoch" (the only choice: a resume starts at an epoch boundary).
        delete_checkpoint: delete the backup when training finishes without interruption.
    """

    runs_last = True  # save after the other callbacks changed their state for the epoch

    def __init__(
        self, backup_dir: str | Path, save_freq: str = "epoch", delete_checkpoint: bool = True
    ) -> None:
        super().__init__()
        if save_freq != "epoch":
            raise ValueError(f"save_freq: only 'epoch' is supported, got {save_freq!r}")
        self.dir = Path(backup_dir)
        self.path = self.dir / "backup.lstmkit"
        self.delete_checkpoint = delete_checkpoint

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.path.exists():
            self._restore()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not is_main():
            return
        state = self.model.fit_state
        tree, tensors = encoding.encode(
            {
                "epoch": epoch,
                "rng": encoding.rng_state(),
                "shuffle": state.shuffle.get_state(),
                "optimizer": self.model.optimizer.state_dict(),
                "callbacks": [[type(cb).__name__, cb.state_dict()] for cb in state.callbacks],
                "weights": self.model.state_dict(),
            }
        )
        meta = {"format": BACKUP_FORMAT, "version": saving.VERSION, "state": tree}
        self.dir.mkdir(parents=True, exist_ok=True)
        saving.write_archive(
            self.path,
            {
                "backup.json": encoding.dumps(meta),
                "backup.safetensors": saving.tensors_to_bytes(tensors),
            },
        )

    def _restore(self) -> None:
        what = "backup file"
        entries = saving.read_archive(self.path, what)
        meta = saving.header(saving.entry(entries, "backup.json", what), BACKUP_FORMAT, what)
        tensors = saving.tensors_from_bytes(saving.entry(entries, "backup.safetensors", what), what)
        data = encoding.decode(meta["state"], tensors)
        model, state = self.model, self.model.fit_state
        saving.load_state(model, data["weights"], what)
        model.optimizer.load_state_dict(data["optimizer"])
        restore_callbacks(state.callbacks, data["callbacks"])
        encoding.set_rng_state(data["rng"])
        state.shuffle.set_state(data["shuffle"])
        state.initial_epoch = data["epoch"] + 1

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.delete_checkpoint and is_main():
            self.path.unlink(missing_ok=True)
