"""Devices and precision: "auto", CUDA requests without CUDA, bf16 autocast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit import layers as L
from lstmkit.models import Sequential
from lstmkit.models.devices import check_precision, resolve_device


def test_auto_picks_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_without_cuda_raises():
    with pytest.raises(ValueError, match="device: 'cuda' requested, but CUDA is not available"):
        resolve_device("cuda")


def test_bad_device_and_precision():
    with pytest.raises(ValueError, match="device: expected 'auto', 'cpu' or 'cuda"):
        resolve_device("tpu9")
    with pytest.raises(TypeError, match="device: expected a string or torch.device"):
        resolve_device(0)
    with pytest.raises(ValueError, match="precision: expected one of '32', 'bf16-mixed'"):
        check_precision("fp16")
    assert check_precision(32) == "32"


def test_compile_moves_the_model_to_the_device():
    model = Sequential([L.Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse", device="auto")
    assert model.device == resolve_device("auto")


def test_bf16_mixed_trains_and_predicts_close_to_float32():
    torch.manual_seed(0)
    model = Sequential([L.Embedding(10, 8), L.LSTM(8, return_sequences=True), L.GRU(6), L.Dense(2)])
    model.compile("adam", "mse", device="cpu", precision="bf16-mixed")
    x = torch.randint(0, 10, (16, 5))
    y = torch.randn(16, 2)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay float32
    mixed = model.predict(x)
    assert mixed.dtype == np.float32
    model.compile("adam", "mse", device="cpu")
    np.testing.assert_allclose(mixed, model.predict(x), atol=0.05)
