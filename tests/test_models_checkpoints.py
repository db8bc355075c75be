"""BackupAndRestore: an interrupted fit, resumed, ends exactly where an uninterrupted one does."""

from __future__ import annotations

import pytest
import torch

from lstmkit import layers as L
from lstmkit.models import (
    BackupAndRestore,
    Callback,
    EarlyStopping,
    ReduceLROnPlateau,
    Sequential,
)


class Crash(Callback):
    """Raises at the start of epoch ``at``, like a process killed mid-run."""

    def __init__(self, at=None):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt(f"crash at epoch {epoch}")


def run(backup_dir, crash_at=None, seed=0):
    """A small fit that uses every source of state: shuffling, dropout (RNG), Adam's moments,
    ReduceLROnPlateau and EarlyStopping counters, history."""
    torch.manual_seed(seed)
    model = Sequential([L.LSTM(6, input_shape=(5, 3), dropout=0.2), L.Dropout(0.3), L.Dense(1)])
    model.compile("adam", "mse", device="cpu")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(24, 5, 3, generator=g)
    y = x.sum((1, 2))[:, None]
    callbacks = [
        Crash(crash_at),
        ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=10.0),
        EarlyStopping(monitor="val_loss", patience=50),
        BackupAndRestore(backup_dir),
    ]
    history = model.fit(
        x, y, epochs=5, batch_size=8, validation_split=0.25, callbacks=callbacks, verbose=0
    )
    return model, history


def test_resumed_fit_equals_uninterrupted_fit(tmp_path):
    reference, ref_history = run(tmp_path / "a")
    assert not (tmp_path / "a" / "backup.lstmkit").exists()  # deleted after a clean finish
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", crash_at=3)
    assert (tmp_path / "b" / "backup.lstmkit").exists()
    # A new process would start with another random state: the backup must restore it.
    resumed, history = run(tmp_path / "b", seed=123)
    for (name, a), b in zip(
        reference.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert history.history == ref_history.history
    assert resumed.optimizer.param_groups[0]["lr"] == reference.optimizer.param_groups[0]["lr"]
    assert reference.optimizer.param_groups[0]["lr"] < 1e-3  # the plateau callback did act


def test_backup_resumes_at_the_next_epoch(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, crash_at=2)
    epochs = []

    class Record(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epochs.append(epoch)

        def state_dict(self):
            return {"seen": len(epochs)}

    torch.manual_seed(0)
    model = Sequential([L.LSTM(6, input_shape=(5, 3), dropout=0.2), L.Dropout(0.3), L.Dense(1)])
    model.compile("adam", "mse", device="cpu")
    x = torch.randn(24, 5, 3)
    callbacks = [Record(), BackupAndRestore(tmp_path)]
    with pytest.warns(UserWarning, match="holds no state for Record"):
        model.fit(x, x.sum((1, 2))[:, None], epochs=4, callbacks=callbacks, verbose=0)
    assert epochs == [2, 3]


def test_corrupt_backup_raises_clearly(tmp_path):
    (tmp_path / "backup.lstmkit").write_bytes(b"junk")
    model = Sequential([L.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse", device="cpu")
    with pytest.raises(ValueError, match="backup file: .* is not an lstmkit file"):
        model.fit(
            torch.zeros(4, 2), torch.zeros(4, 1), callbacks=[BackupAndRestore(tmp_path)], verbose=0
        )
    with pytest.raises(ValueError, match="save_freq: only 'epoch' is supported"):
        BackupAndRestore(tmp_path, save_freq=10)
