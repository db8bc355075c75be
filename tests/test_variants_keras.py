"""Variants through the Keras face: every option reaches lstmkit.nn through the layer, and a
model with it trains, saves and loads to identical predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit import layers as L
from lstmkit import nn as lk
from lstmkit.models import Sequential, load_model
from variant_cases import GRU_VARIANTS, LSTM_VARIANTS

NOISY = {"recurrent_dropout": 0.2, "weight_drop": 0.3}  # training-only noise, saved as config
CASES = [("LSTM", n, kw) for n, kw in {**LSTM_VARIANTS, **{"noise": NOISY}}.items()]
CASES += [("GRU", n, kw) for n, kw in {**GRU_VARIANTS, **{"noise": NOISY}}.items()]


@pytest.mark.parametrize(("layer", "name", "options"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_variant_layer_trains_saves_and_loads(layer, name, options, tmp_path):
    torch.manual_seed(0)
    keras = {("use_bias" if k == "bias" else k): v for k, v in options.items()}  # Keras's name
    model = Sequential([getattr(L, layer)(6, input_shape=(5, 3), **keras), L.Dense(1)])
    model.compile("adam", "mse", device="cpu")
    x = torch.randn(16, 5, 3)
    y = x.sum(dim=(1, 2)).unsqueeze(1)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    rnn = model.layers[0]
    module = next(m for m in rnn.modules() if isinstance(m, lk.LSTM | lk.GRU))
    spec = module.spec
    for key, value in options.items():  # the option reached the nn module unchanged
        expected = tuple(value) if isinstance(value, list) else value
        got = getattr(spec, key)
        if key == "zoneout" and not isinstance(value, tuple):
            got = got[-1]  # a single number is stored as (z_c, z_h)
        assert got == expected, key
    path = tmp_path / "m.lstmkit"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    loaded_module = next(m for m in loaded.layers[0].modules() if isinstance(m, lk.LSTM | lk.GRU))
    assert loaded_module.spec == spec
