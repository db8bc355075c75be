"""Model: wrapping torch modules, building, weights as arrays, summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lstmkit import layers as L
from lstmkit.models import Model, Sequential


class Tagger(nn.Module):
    """A torch module holding lazily sized Keras-style layers."""

    def __init__(self):
        super().__init__()
        self.encoder = L.LSTM(4, return_sequences=True, num_layers=2)
        self.head = L.TimeDistributed(L.Dense(3))

    def forward(self, x):
        return self.head(self.encoder(x))


def test_build_runs_zeros_through_lazy_layers():
    model = Model(Tagger())
    assert not model.built
    model.build((None, 5, 2))
    assert model.built and model.module.encoder.rnn.input_size == 2
    assert model.module.encoder.rnn.num_layers == 2  # an lstmkit.nn option, passed through
    ids = Sequential([L.Embedding(10, 3), L.LSTM(2)])
    ids.build((None, 4))
    assert ids.built


def test_predict_builds_float32_weights_from_float64_data():
    model = Model(Tagger())
    out = model.predict(np.zeros((2, 5, 2)))
    assert out.shape == (2, 5, 3) and out.dtype == np.float32
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_get_and_set_weights():
    torch.manual_seed(0)
    a = Sequential([L.LSTM(3, input_shape=(4, 2)), L.Dense(1)])
    b = Sequential([L.LSTM(3, input_shape=(4, 2)), L.Dense(1)])
    weights = a.get_weights()
    assert [w.shape for w in weights] == [(12, 2), (12, 3), (12,), (12,), (1, 3), (1,)]
    b.set_weights(weights)
    x = torch.randn(2, 4, 2)
    torch.testing.assert_close(a(x), b(x))
    with pytest.raises(ValueError, match="weights: expected 6 arrays, got 1"):
        b.set_weights(weights[:1])
    with pytest.raises(ValueError, match="the weights do not fit this model"):
        b.set_weights([np.zeros((1, 1))] * 6)


def test_summary_of_a_wrapped_module(capsys):
    model = Model(Tagger(), name="tagger")
    model.build((None, 5, 2))
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "tagger"' in out and "encoder (LSTM)" in out and "(None, 5, 4)" in out
    assert f"Total params: {sum(p.numel() for p in model.parameters()):,}" in out


def test_model_errors():
    with pytest.raises(TypeError, match=r"module: expected a torch.nn.Module, got str"):
        Model("net")
    with pytest.raises(NotImplementedError, match="pass a module to Model"):
        Model()(torch.zeros(1))
