"""fit / evaluate / predict: data sources, updates against hand-written torch loops, TBPTT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lstmkit import layers as L
from lstmkit.models import Model, Sequential


def small_model(lr_optimizer="sgd", loss="mse", **compile_kwargs):
    torch.manual_seed(0)
    model = Sequential([L.LSTM(5, input_shape=(4, 3)), L.Dense(2)])
    model.compile(lr_optimizer, loss, device="cpu", **compile_kwargs)
    return model


def torch_twin(model):
    """torch.nn.LSTM + Linear holding a copy of the model's weights."""
    lstm, lin = nn.LSTM(3, 5, batch_first=True), nn.Linear(5, 2)
    lstm.load_state_dict(model.lstm.rnn.state_dict())
    lin.load_state_dict(model.dense.linear.state_dict())
    return lstm, lin


def data(n=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 3, generator=g)
    return x, torch.randn(n, 2, generator=g)


def assert_same_weights(model, lstm, lin, **tol):
    for name, p in lstm.named_parameters():
        torch.testing.assert_close(getattr(model.lstm.rnn, name), p, **tol)
    torch.testing.assert_close(model.dense.linear.weight, lin.weight, **tol)


def test_one_epoch_equals_a_hand_written_torch_loop():
    model = small_model()
    lstm, lin = torch_twin(model)
    x, y = data()
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    opt = torch.optim.SGD([*lstm.parameters(), *lin.parameters()], lr=0.01)
    losses = []
    for i in range(0, 12, 4):
        loss = F.mse_loss(lin(lstm(x[i : i + 4])[0][:, -1]), y[i : i + 4])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert_same_weights(model, lstm, lin)
    assert history.history["loss"] == [pytest.approx(np.mean(losses), rel=1e-5)]


def test_class_weight_and_sample_weight_scale_each_sample_loss():
    torch.manual_seed(0)
    model = Sequential([L.Dense(3, input_shape=(2,))])
    model.compile("sgd", "sparse_categorical_crossentropy", device="cpu")
    model.compiled.loss.from_logits = True
    lin = nn.Linear(2, 3)
    lin.load_state_dict(model.dense.linear.state_dict())
    x, y = torch.randn(6, 2), torch.tensor([0, 1, 2, 1, 0, 2])
    sw = torch.tensor([1.0, 2.0, 1.0, 1.0, 0.5, 1.0])
    model.fit(
        x,
        y,
        batch_size=6,
        class_weight={0: 1.0, 1: 3.0, 2: 0.5},
        sample_weight=sw,
        shuffle=False,
        verbose=0,
    )
    w = torch.tensor([1.0, 3.0, 0.5])[y] * sw
    loss = (F.cross_entropy(lin(x), y, reduction="none") * w).mean()
    loss.backward()
    with torch.no_grad():
        lin.weight -= 0.01 * lin.weight.grad
    torch.testing.assert_close(model.dense.linear.weight, lin.weight)


def test_class_weight_must_cover_every_class():
    model = small_model(loss="sparse_categorical_crossentropy")
    x, _ = data()
    with pytest.raises(ValueError, match=r"class_weight: .*missing classes \[1\]"):
        model.fit(
            x,
            torch.zeros(12, dtype=torch.long).index_fill(0, torch.tensor([3]), 1),
            class_weight={0: 1.0},
            verbose=0,
        )


def test_clipnorm_is_applied_per_parameter():
    model = small_model(clipnorm=1e-3)
    lstm, lin = torch_twin(model)
    x, y = data(4)
    model.fit(x, y, batch_size=4, verbose=0)
    params = [*lstm.parameters(), *lin.parameters()]
    F.mse_loss(lin(lstm(x)[0][:, -1]), y).backward()
    with torch.no_grad():
        for p in params:
            p -= 0.01 * p.grad * min(1.0, 1e-3 / (p.grad.norm().item() + 1e-6))
    assert_same_weights(model, lstm, lin, rtol=1e-4, atol=1e-7)


def fit_loss(model, *args, **kwargs):
    return model.fit(*args, epochs=1, shuffle=False, verbose=0, **kwargs).history["loss"][0]


def test_numpy_torch_pandas_dataloader_and_generator_train_alike():
    x, y = data()
    x2d = x[:, :, 0]  # pandas holds 2-D tables

    def fresh():
        torch.manual_seed(0)
        m = Sequential([L.Dense(2, input_shape=(4,))])
        m.compile("sgd", "mse", device="cpu")
        return m

    reference = fit_loss(fresh(), x2d, y, batch_size=4)
    assert fit_loss(fresh(), x2d.numpy().astype("float64"), y.numpy(), batch_size=4) == (
        pytest.approx(reference)
    )
    frame, targets = pd.DataFrame(x2d.numpy()), pd.DataFrame(y.numpy())
    assert fit_loss(fresh(), frame, targets, batch_size=4) == pytest.approx(reference)
    loader = DataLoader(TensorDataset(x2d, y), batch_size=4)
    assert fit_loss(fresh(), loader) == pytest.approx(reference)
    generator = ((x2d[i : i + 4], y[i : i + 4]) for i in range(0, 12, 4))
    assert fit_loss(fresh(), generator) == pytest.approx(reference)


def test_generator_with_steps_per_epoch_and_exhaustion(capsys):
    model = small_model()
    x, y = data(8)

    def forever():
        while True:
            yield x[:4], y[:4]

    history = model.fit(forever(), steps_per_epoch=2, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    once = iter([(x[:4], y[:4])])
    history = model.fit(once, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1
    assert "the data ran out" in capsys.readouterr().err


def test_validation_split_takes_the_last_samples_and_validation_data():
    model = small_model(metrics=["mae"])
    x, y = data(10)
    history = model.fit(x, y, validation_split=0.2, epochs=1, verbose=0)
    expected = model.evaluate(x[8:], y[8:], return_dict=True, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(expected["loss"], rel=1e-5)
    history = model.fit(
        x, y, validation_data=(x[:3], y[:3]), epochs=2, validation_freq=2, verbose=0
    )
    assert len(history.history["val_loss"]) == 1 and sorted(history.history) == [
        "loss",
        "mae",
        "val_loss",
        "val_mae",
    ]


def test_initial_epoch_counts_epochs_like_keras():
    model = small_model()
    x, y = data()
    seen = []
    from lstmkit.models import Callback

    class Epochs(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    history = model.fit(x, y, epochs=5, initial_epoch=3, callbacks=[Epochs()], verbose=0)
    assert seen == [3, 4] and history.epoch == [3, 4]


def test_evaluate_and_predict_against_the_model_itself():
    model = small_model(metrics=["mae", "mse"])
    x, y = data(10)
    out = model(x).detach()
    loss, mae, mse = model.evaluate(x, y, batch_size=3, verbose=0)
    assert loss == pytest.approx(F.mse_loss(out, y).item(), rel=1e-5)
    assert mae == pytest.approx(F.l1_loss(out, y).item(), rel=1e-5)
    assert mse == pytest.approx(loss, rel=1e-6)
    pred = model.predict(x, batch_size=3)
    assert isinstance(pred, np.ndarray)
    np.testing.assert_allclose(pred, out.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict_on_batch(x), out.numpy(), rtol=1e-6, atol=1e-7)
    assert model.test_on_batch(x, y) == pytest.approx(loss, rel=1e-5)


def test_verbose_output(capsys):
    model = small_model(metrics=["mae"])
    x, y = data(8)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=2, batch_size=4, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2 - ") and "mae" in lines[0]
    model.fit(x, y, epochs=1, batch_size=4, verbose=1)  # not a terminal: plain progress lines
    out = capsys.readouterr().out
    assert "epoch 1/1: 1/2" in out and "epoch 1/1: 2/2" in out and "loss" in out


def test_tbptt_equals_a_hand_written_truncated_loop():
    torch.manual_seed(2)
    model = Sequential([L.LSTM(4, return_sequences=True, input_shape=(None, 2)), L.Dense(1)])
    model.compile("sgd", "mse", device="cpu")
    lstm, lin = nn.LSTM(2, 4, batch_first=True), nn.Linear(4, 1)
    lstm.load_state_dict(model.lstm.rnn.state_dict())
    lin.load_state_dict(model.dense.linear.state_dict())
    x, y = torch.randn(3, 7, 2), torch.randn(3, 7, 1)
    model.fit(x, y, batch_size=3, tbptt=3, shuffle=False, verbose=0)
    opt = torch.optim.SGD([*lstm.parameters(), *lin.parameters()], lr=0.01)
    state = None
    for s in range(0, 7, 3):
        out, state = lstm(x[:, s : s + 3], state)
        loss = F.mse_loss(lin(out), y[:, s : s + 3])
        opt.zero_grad()
        loss.backward()
        opt.step()
        state = tuple(t.detach() for t in state)
    for name, p in lstm.named_parameters():
        torch.testing.assert_close(getattr(model.lstm.rnn, name), p)
    assert model.lstm.states is None  # a non-stateful layer forgets the state afterwards


def test_tbptt_errors():
    model = small_model()
    x, y = data()
    with pytest.raises(ValueError, match="tbptt: expected targets with a time axis of 4 steps"):
        model.fit(x, y, tbptt=2, verbose=0)
    bi = Sequential([L.Bidirectional(L.LSTM(2, return_sequences=True), input_shape=(4, 3))])
    bi.compile("sgd", "mse", device="cpu")
    with pytest.raises(ValueError, match="tbptt: Bidirectional layers"):
        bi.fit(x, torch.zeros(12, 4, 4), tbptt=2, verbose=0)


def test_stateful_fit_carries_state_between_batches():
    torch.manual_seed(3)
    model = Sequential([L.LSTM(3, stateful=True, input_shape=(4, 2)), L.Dense(1)])
    model.compile("sgd", "mse", device="cpu")
    x, y = torch.randn(4, 4, 2), torch.randn(4, 1)
    model.fit(x, y, batch_size=2, shuffle=False, verbose=0)
    assert model.lstm.states is not None and model.lstm.states[0].shape == (1, 2, 3)
    model.reset_states()
    assert model.lstm.states is None


def test_model_wraps_any_torch_module():
    torch.manual_seed(4)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 4, batch_first=True)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    net = Net()
    twin = Net()
    twin.load_state_dict(net.state_dict())
    model = Model(net)
    model.compile(torch.optim.SGD(net.parameters(), lr=0.1), nn.MSELoss(), device="cpu")
    x, y = data(4)
    model.fit(x, y, batch_size=4, verbose=0)
    F.mse_loss(twin(x), y).backward()
    with torch.no_grad():
        for p in twin.parameters():
            p -= 0.1 * p.grad
    torch.testing.assert_close(net.head.weight, twin.head.weight)


def test_argument_errors():
    model = small_model()
    x, y = data()
    with pytest.raises(RuntimeError, match=r"call compile\(optimizer, loss\)"):
        Sequential([L.Dense(1)]).fit(x, y)
    with pytest.raises(ValueError, match="batch_size: expected an integer >= 1, got 0"):
        model.fit(x, y, batch_size=0)
    with pytest.raises(ValueError, match="y: expected 12 samples"):
        model.fit(x, y[:5])
    with pytest.raises(ValueError, match="y: expected targets for training"):
        model.fit(x)
    with pytest.raises(TypeError, match="x: expected numeric data"):
        model.fit(np.array(["a", "b"]), np.zeros(2))
    with pytest.raises(ValueError, match=r"validation_split: expected a number in \(0, 1\)"):
        model.fit(x, y, validation_split=1.5)
    with pytest.raises(ValueError, match="validation_split: only for array data"):
        model.fit(DataLoader(TensorDataset(x, y)), validation_split=0.5)
    with pytest.raises(ValueError, match="verbose: expected 'auto', 0, 1 or 2"):
        model.fit(x, y, verbose=3)
    with pytest.raises(TypeError, match="model output: expected one tensor"):
        bad = Model(L.LSTM(2, return_state=True, input_shape=(4, 3)))
        bad.compile("sgd", "mse", device="cpu")
        bad.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="loss: expected a loss name"):
        model.compile("sgd")
    with pytest.raises(ValueError, match="metrics: expected names among"):
        model.compile("sgd", "mse", metrics=["f1"])
    with pytest.raises(ValueError, match="a torch.optim.Optimizer needs the model's parameters"):
        Sequential([L.Dense(1)]).compile(torch.optim.SGD([nn.Parameter(torch.zeros(1))]), "mse")
    with pytest.raises(
        ValueError, match="optimizer: it holds parameters that are not this model's"
    ):
        model.compile(torch.optim.SGD([nn.Parameter(torch.zeros(1))]), "mse")
