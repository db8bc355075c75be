"""Sequential: the Keras snippet, building, masks end to end, summary, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lstmkit import layers as L
from lstmkit.models import Sequential


def channel_task(n, timesteps, input_dim, n_outputs, seed=0):
    """Class k: channel k of the sequence carries an offset of +1.5 (learnable, not trivial)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_outputs, n)
    X = rng.normal(0, 1, (n, timesteps, input_dim)).astype("float32")
    X[np.arange(n), :, labels] += 1.5
    return X, np.eye(n_outputs, dtype="float32")[labels]


def test_keras_snippet_runs_unchanged_and_learns():
    from lstmkit.layers import LSTM, Dense
    from lstmkit.models import Sequential

    torch.manual_seed(0)
    timesteps, input_dim, n_outputs = 8, 3, 3
    X, Y = channel_task(256, timesteps, input_dim, n_outputs)
    # --- the snippet, as people meet it ---
    model = Sequential()
    model.add(LSTM(100, input_shape=(timesteps, input_dim)))
    model.add(Dense(n_outputs, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(X, Y, epochs=3, batch_size=32, verbose=0)
    # ---
    assert history.history["accuracy"][-1] > 0.95
    X_test, Y_test = channel_task(200, timesteps, input_dim, n_outputs, seed=1)
    _, accuracy = model.evaluate(X_test, Y_test, verbose=0)
    assert accuracy > 0.95


def test_list_and_add_build_the_same_model():
    torch.manual_seed(1)
    a = Sequential([L.LSTM(4, input_shape=(5, 3)), L.Dense(2)])
    b = Sequential()
    b.add(L.LSTM(4, input_shape=(5, 3)))
    b.add(L.Dense(2))
    assert (
        list(a.state_dict())
        == list(b.state_dict())
        == [
            "lstm.rnn.weight_ih_l0",
            "lstm.rnn.weight_hh_l0",
            "lstm.rnn.bias_ih_l0",
            "lstm.rnn.bias_hh_l0",
            "dense.linear.weight",
            "dense.linear.bias",
        ]
    )
    assert a.built and b.built


def test_sequential_equals_hand_built_torch_model():
    torch.manual_seed(2)
    model = Sequential([L.LSTM(6, return_sequences=True), L.GRU(4), L.Dense(2, activation="relu")])
    x = torch.randn(3, 5, 3)
    ours = model(x)
    lstm, gru, lin = (
        nn.LSTM(3, 6, batch_first=True),
        nn.GRU(6, 4, batch_first=True),
        nn.Linear(4, 2),
    )
    lstm.load_state_dict(model.lstm.rnn.state_dict())
    gru.load_state_dict(model.gru.rnn.state_dict())
    lin.load_state_dict(model.dense.linear.state_dict())
    ref = F.relu(lin(gru(lstm(x)[0])[0][:, -1]))
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_lazy_model_builds_on_the_first_batch():
    model = Sequential([L.LSTM(4), L.Dense(1)])
    assert not model.built and model.count_params() == 0
    model.compile("adam", "mse", device="cpu")
    model.fit(np.zeros((4, 3, 2)), np.zeros((4, 1)), verbose=0)
    assert model.built and model.lstm.rnn.input_size == 2


@pytest.mark.parametrize("front", ["embedding", "masking"])
def test_padding_never_changes_a_prediction(front):
    torch.manual_seed(3)
    if front == "embedding":
        first = [L.Embedding(20, 4, mask_zero=True)]
        seq = torch.tensor([[4, 9, 2, 7]])
        pad = lambda n: torch.cat([seq, torch.zeros(1, n, dtype=torch.long)], 1)  # noqa: E731
    else:
        first = [L.Masking(0.0)]
        seq = torch.randn(1, 4, 4)
        pad = lambda n: torch.cat([seq, torch.zeros(1, n, 4)], 1)  # noqa: E731
    model = Sequential(
        [*first, L.Bidirectional(L.LSTM(5, return_sequences=True)), L.GRU(3), L.Dense(2)]
    )
    expected = model.predict(seq)
    for n in (1, 3, 8):
        np.testing.assert_allclose(model.predict(pad(n)), expected, rtol=1e-5, atol=1e-6)
    batch = torch.cat([pad(4), torch.cat([pad(0), torch.zeros_like(pad(4)[:, :4])], 1)])
    np.testing.assert_allclose(
        model.predict(batch), np.repeat(expected, 2, 0), rtol=1e-5, atol=1e-6
    )


def test_masked_sequence_loss_counts_valid_steps_only():
    torch.manual_seed(4)
    model = Sequential(
        [L.Embedding(10, 4, mask_zero=True), L.LSTM(5, return_sequences=True), L.Dense(3)]
    )
    model.compile("sgd", "sparse_categorical_crossentropy", device="cpu")
    model.compiled.loss.from_logits = True
    x = torch.tensor([[3, 4, 5, 0], [6, 7, 0, 0]])
    y = torch.tensor([[0, 1, 2, 0], [2, 1, 0, 0]])
    logits = model(x)
    mask = x != 0
    expected = F.cross_entropy(logits[mask], y[mask]).item()
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_summary_lists_layers_shapes_and_counts(capsys):
    model = Sequential([L.LSTM(8, input_shape=(10, 3), return_sequences=True), L.Dense(2)])
    model.summary()
    out = capsys.readouterr().out
    lstm_params = 4 * 8 * (3 + 8) + 2 * 4 * 8  # torch.nn.LSTM: W_ih, W_hh, b_ih, b_hh
    assert f"{lstm_params:,}" in out and "(None, 10, 8)" in out and "(None, 10, 2)" in out
    assert f"Total params: {lstm_params + 8 * 2 + 2:,}" in out
    lines = []
    Sequential([L.Dense(2)]).summary(print_fn=lines.append)
    assert any("dense (Dense)" in line and "?" in line for line in lines)


def test_plain_torch_modules_work_but_refuse_masks():
    model = Sequential([L.LSTM(4, input_shape=(5, 3)), nn.Linear(4, 2)])
    assert model(torch.randn(2, 5, 3)).shape == (2, 2)
    assert [type(m).__name__ for m in model.layers] == ["LSTM", "Linear"]
    masked = Sequential([L.Embedding(10, 3, mask_zero=True), nn.Linear(3, 2)])
    with pytest.raises(ValueError, match="a plain torch module cannot take the padding mask"):
        masked(torch.tensor([[1, 2, 0]]))


def test_errors():
    with pytest.raises(TypeError, match=r"layer: expected a layer \(torch.nn.Module\)"):
        Sequential(["dense"])
    with pytest.raises(ValueError, match="the name 'x' is already used"):
        Sequential([L.Dense(2, name="x"), L.Dense(2, name="x")])
    dense = L.Dense(2)
    with pytest.raises(ValueError, match="this layer is already in the model"):
        Sequential([dense, dense])
    with pytest.raises(ValueError, match="return_state=True or merge_mode=None"):
        Sequential([L.LSTM(3, return_state=True)])(torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match="the model has no layers"):
        Sequential()(torch.randn(2, 3))
    model = Sequential([L.Dense(2), L.Dense(1)])
    assert isinstance(model.pop(), L.Dense) and len(model.layers) == 1
