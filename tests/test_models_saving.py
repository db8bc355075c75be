"""Model files: identical predictions after loading, optimizer state, atomic writes, bad files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from lstmkit import layers as L
from lstmkit.layers import Layer, register
from lstmkit.models import Model, Sequential, load_model, saving
from lstmkit.models.encoding import decode, encode


def trained():
    torch.manual_seed(0)
    model = Sequential(
        [
            L.Embedding(12, 4, mask_zero=True, input_shape=(6,)),
            L.Bidirectional(L.LSTM(5, return_sequences=True, impl="native"), merge_mode="ave"),
            L.TimeDistributed(L.Dense(3)),
            L.GRU(4, go_backwards=True),
            L.Dropout(0.1),
            L.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        "adam", "sparse_categorical_crossentropy", metrics=["accuracy"], clipnorm=1.0, device="cpu"
    )
    x = torch.randint(1, 12, (16, 6))
    x[:4, 4:] = 0
    y = torch.randint(0, 2, (16,))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    return model, x, y


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One trained model, saved once, shared by the tests that only read it."""
    model, x, _ = trained()
    path = tmp_path_factory.mktemp("saved") / "model.lstmkit"
    model.save(path)
    return model, x, path


@pytest.fixture
def copy(saved, tmp_path):
    path = tmp_path / "m.lstmkit"
    path.write_bytes(saved[2].read_bytes())
    return path


def test_save_load_predicts_identically_and_keeps_training_state(tmp_path):
    model, x, y = trained()
    path = tmp_path / "model.lstmkit"
    model.save(path)
    assert zipfile.is_zipfile(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [type(m).__name__ for m in loaded.layers] == [type(m).__name__ for m in model.layers]
    assert loaded.compiled.clipnorm == 1.0 and loaded.compiled.metric_specs == ["accuracy"]
    opt, ref = loaded.optimizer.state_dict(), model.optimizer.state_dict()
    assert opt["param_groups"] == ref["param_groups"]
    for k, state in ref["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(opt["state"][k][name], value)
    # Both continue training the same way.
    torch.manual_seed(5)
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    torch.manual_seed(5)
    loaded.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_uncompiled_and_include_optimizer_false(saved, tmp_path):
    model, x, _ = saved
    model.save(tmp_path / "bare.lstmkit", include_optimizer=False)
    loaded = load_model(tmp_path / "bare.lstmkit")
    assert loaded.compiled is None and loaded.optimizer is None
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with zipfile.ZipFile(tmp_path / "bare.lstmkit") as zf:
        assert sorted(zf.namelist()) == ["model.json", "weights.safetensors"]
        meta = json.loads(zf.read("model.json"))
    assert meta["format"] == "lstmkit.model" and meta["version"] == 1


def test_files_hold_no_pickle(saved):
    with zipfile.ZipFile(saved[2]) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            assert not data.startswith(b"\x80"), name  # the pickle protocol marker
            if name.endswith(".json"):
                json.loads(data)


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    model, _, _ = trained()
    path = tmp_path / "m.lstmkit"
    model.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(saving.os, "replace", crash)
    with torch.no_grad():
        model.dense.linear.weight.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before  # the old model is intact
    assert [p.name for p in tmp_path.iterdir()] == ["m.lstmkit"]


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (b"not a zip", ValueError, "not an lstmkit file"),
        (None, FileNotFoundError, "no file at"),
    ],
)
def test_bad_files_raise_clearly(tmp_path, content, error, match):
    path = tmp_path / "bad.lstmkit"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=match):
        load_model(path)


def rewrite(path, name, data):
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    if data is None:
        entries.pop(name)
    else:
        entries[name] = data
    saving.write_archive(path, entries)


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("model.json", None, "the file has no 'model.json'"),
        ("model.json", b"{", "not valid JSON"),
        ("model.json", b'{"format": "other"}', "expected format 'lstmkit.model', got 'other'"),
        ("model.json", b'{"format": "lstmkit.model", "version": 9}', "format version 9"),
        ("model.json", b'{"x": NaN}', "not strict JSON"),
        ("weights.safetensors", b"garbage", "the tensors are corrupt"),
    ],
)
def test_damaged_entries_raise_clearly(copy, name, data, match):
    rewrite(copy, name, data)
    with pytest.raises(ValueError, match=match):
        load_model(copy)


def test_weights_that_do_not_fit_raise(copy):
    other = Sequential([L.Dense(2, input_shape=(3,))])
    rewrite(copy, "weights.safetensors", saving.tensors_to_bytes(other.state_dict()))
    with pytest.raises(ValueError, match="the weights do not fit this model: missing"):
        load_model(copy)


def test_save_weights_and_load_weights(saved, tmp_path):
    model, x, path = saved
    model.save_weights(tmp_path / "w.safetensors")
    fresh = load_model(path)
    with torch.no_grad():
        for p in fresh.parameters():
            p.add_(1.0)
    fresh.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))
    with pytest.raises(ValueError, match="the weights do not fit this model"):
        Sequential([L.Dense(2, input_shape=(3,))]).load_weights(tmp_path / "w.safetensors")


class Scale(Layer):
    """A custom layer with a configuration."""

    supports_masking = True

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.build_if_shaped()

    def forward(self, x, mask=None):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class NoConfig(Layer):
    def forward(self, x, mask=None):
        return x


def test_custom_layers(tmp_path):
    model = Sequential([L.Dense(2, input_shape=(3,)), Scale(3.0)])
    model.save(tmp_path / "c.lstmkit")
    with pytest.raises(ValueError, match="layer class 'Scale' is unknown.*custom_objects"):
        load_model(tmp_path / "c.lstmkit")
    loaded = load_model(tmp_path / "c.lstmkit", custom_objects={"Scale": Scale})
    x = torch.randn(4, 3)
    torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(ValueError, match="a custom layer must define get_config"):
        Sequential([L.Dense(2, input_shape=(3,)), NoConfig()]).save(tmp_path / "n.lstmkit")
    registered = register(type("Registered", (Scale,), {}))
    model = Sequential([registered(2.0, input_shape=(3,))])
    model.save(tmp_path / "r.lstmkit")
    torch.testing.assert_close(load_model(tmp_path / "r.lstmkit")(x), 2 * x)


def test_what_cannot_be_stored_raises_at_save_time(tmp_path):
    path = tmp_path / "x.lstmkit"
    with pytest.raises(ValueError, match="a plain torch module cannot be stored"):
        Sequential([nn.Linear(3, 2)]).save(path)
    with pytest.raises(ValueError, match="activation=custom <lambda> is a custom function"):
        Sequential([L.Dense(2, activation=lambda t: t, input_shape=(3,))]).save(path)
    model = Sequential([L.Dense(2, input_shape=(3,))])
    model.compile("sgd", lambda t, p: (t - p).abs(), device="cpu")
    with pytest.raises(ValueError, match="loss: a custom loss .* include_optimizer=False"):
        model.save(path)
    model.save(path, include_optimizer=False)  # fine without the compile settings
    wrapped = Model(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="cannot be stored without pickle; use save_weights"):
        wrapped.save(path)
    with pytest.raises(ValueError, match="not built yet"):
        Sequential([L.Dense(2)]).save(path)
    assert not path.exists() or load_model(path).layers


def test_encoding_round_trips_what_json_cannot_hold():
    value = {
        "t": torch.arange(3),
        1: (0.5, float("inf")),
        "nested": [{"__tensor__": "looks like a tag"}, None, True],
        "nan": float("nan"),
        "np": np.float32(1.5),
    }
    tree, tensors = encode(value)
    json.dumps(tree, allow_nan=False)  # strict JSON
    back = decode(tree, tensors)
    assert torch.equal(back["t"], value["t"]) and back[1] == (0.5, float("inf"))
    assert back["nested"] == value["nested"] and math_isnan(back["nan"]) and back["np"] == 1.5
    with pytest.raises(TypeError, match=r"state\.f: cannot store a function"):
        encode({"f": lambda: 0})


def math_isnan(x):
    return x != x
