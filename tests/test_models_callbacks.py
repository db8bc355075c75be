"""The behaviour of each callback."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from lstmkit import layers as L
from lstmkit.models import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    Sequential,
    TerminateOnNaN,
    load_model,
)


def model_and_data(lr_name="sgd"):
    torch.manual_seed(0)
    model = Sequential([L.Dense(1, input_shape=(3,))])
    model.compile(lr_name, "mse", device="cpu")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, generator=g)
    return model, x, x.sum(1, keepdim=True)


class Scripted(Callback):
    """Feeds a scripted sequence of values into the logs under ``key``."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class Snapshots(Callback):
    def __init__(self):
        super().__init__()
        self.weights, self.lrs = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.dense.linear.weight.detach().clone())
        self.lrs.append(self.model.optimizer.param_groups[0]["lr"])


def test_early_stopping_stops_after_patience_and_restores_best_weights():
    model, x, y = model_and_data()
    snaps = Snapshots()
    script = Scripted("score", [5.0, 3.0, 4.0, 4.0, 4.0, 1.0])
    stop = EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=6, callbacks=[script, snaps, stop], verbose=0)
    assert history.epoch == [0, 1, 2, 3]  # best at epoch 1, two epochs without improvement
    assert stop.stopped_epoch == 3 and stop.best == 3.0
    torch.testing.assert_close(model.dense.linear.weight, snaps.weights[1])


def test_early_stopping_min_delta_mode_and_baseline():
    model, x, y = model_and_data()
    script = Scripted("val_accuracy", [0.5, 0.505, 0.508, 0.509])
    stop = EarlyStopping(monitor="val_accuracy", min_delta=0.01, patience=1)  # mode auto: max
    history = model.fit(x, y, epochs=4, callbacks=[script, stop], verbose=0)
    assert history.epoch == [0, 1]
    baseline = EarlyStopping(monitor="score", baseline=0.0, patience=2)
    script = Scripted("score", [1.0, 0.9, 0.8, 0.7])
    history = model.fit(x, y, epochs=4, callbacks=[script, baseline], verbose=0)
    assert history.epoch == [0, 1]  # never better than the baseline


def test_missing_monitor_warns():
    model, x, y = model_and_data()
    with pytest.warns(UserWarning, match="monitor 'val_loss' is not among the logs"):
        model.fit(x, y, epochs=1, callbacks=[EarlyStopping()], verbose=0)


def test_reduce_lr_on_plateau_follows_keras_rules():
    model, x, y = model_and_data()
    snaps = Snapshots()
    script = Scripted("score", [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5])
    reduce = ReduceLROnPlateau(monitor="score", factor=0.5, patience=2, cooldown=1, min_lr=0.003)
    history = model.fit(x, y, epochs=7, callbacks=[script, reduce, snaps], verbose=0)
    # epoch 2: second epoch without improvement -> 0.005 and one epoch of cooldown, spent
    # at epoch 3 (which improves); epochs 4, 5 without improvement -> max(0.0025, min_lr);
    # epoch 6 is cooldown again.
    assert snaps.lrs == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.005, 0.003, 0.003])
    assert history.history["learning_rate"][2] == pytest.approx(0.01)  # logged before the cut


def test_learning_rate_scheduler_sets_the_rate_each_epoch():
    model, x, y = model_and_data()
    snaps = Snapshots()
    sched = LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(x, y, epochs=3, callbacks=[sched, snaps], verbose=0)
    assert snaps.lrs == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert history.history["learning_rate"] == pytest.approx(snaps.lrs)
    one_arg = LearningRateScheduler(lambda epoch: 0.5)
    model.fit(x, y, epochs=1, callbacks=[one_arg], verbose=0)
    assert model.optimizer.param_groups[0]["lr"] == 0.5
    with pytest.raises(TypeError, match="schedule: expected it to return a number"):
        model.fit(x, y, epochs=1, callbacks=[LearningRateScheduler(lambda e, lr: "x")], verbose=0)


def test_terminate_on_nan_stops_at_the_batch():
    model, x, y = model_and_data()
    y = y.clone()
    y[5] = math.nan
    batches = []

    class Count(Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)

    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=4,
        shuffle=False,
        callbacks=[Count(), TerminateOnNaN()],
        verbose=0,
    )
    assert batches == [0, 1] and len(history.epoch) == 1


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    model, x, y = model_and_data()
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=3, callbacks=[CSVLogger(path)], verbose=0)
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["epoch", "loss"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    assert [float(r[1]) for r in rows[1:]] == pytest.approx(history.history["loss"])
    model.fit(x, y, epochs=1, callbacks=[CSVLogger(path, append=True)], verbose=0)
    assert len(list(csv.reader(path.open()))) == 5


def test_model_checkpoint_save_best_only(tmp_path):
    model, x, y = model_and_data()
    snaps = Snapshots()
    script = Scripted("score", [3.0, 1.0, 2.0])
    ckpt = ModelCheckpoint(tmp_path / "best.lstmkit", monitor="score", save_best_only=True)
    model.fit(x, y, epochs=3, callbacks=[script, snaps, ckpt], verbose=0)
    best = load_model(tmp_path / "best.lstmkit")
    torch.testing.assert_close(best.dense.linear.weight, snaps.weights[1])


def test_model_checkpoint_every_epoch_with_a_pattern(tmp_path):
    model, x, y = model_and_data()
    pattern = str(tmp_path / "w-{epoch:02d}-{loss:.2f}.safetensors")
    model.fit(
        x, y, epochs=2, callbacks=[ModelCheckpoint(pattern, save_weights_only=True)], verbose=0
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[0].startswith("w-01-") and names[1].startswith("w-02-")
    with pytest.raises(ValueError, match="filepath: cannot fill"):
        model.fit(x, y, epochs=1, callbacks=[ModelCheckpoint(str(tmp_path / "{nope}"))], verbose=0)


def test_callbacks_must_be_callbacks():
    model, x, y = model_and_data()
    with pytest.raises(TypeError, match="callbacks: expected Callback instances, got function"):
        model.fit(x, y, callbacks=[lambda: None], verbose=0)
    with pytest.raises(ValueError, match=r"factor: expected a number in \(0, 1\)"):
        ReduceLROnPlateau(factor=2)
    with pytest.raises(ValueError, match="mode: expected 'auto', 'min' or 'max'"):
        EarlyStopping(mode="up")
