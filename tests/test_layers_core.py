"""Dense, Activation, Dropout, Flatten, RepeatVector and the Layer base."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lstmkit import layers as L
from lstmkit.layers import activations
from lstmkit.layers.base import snake_case


def test_dense_equals_linear_with_the_same_weights():
    torch.manual_seed(0)
    dense = L.Dense(4, activation="tanh", input_shape=(3,))
    linear = nn.Linear(3, 4)
    linear.load_state_dict(dense.linear.state_dict())
    x = torch.randn(5, 3)
    torch.testing.assert_close(dense(x), torch.tanh(linear(x)))


def test_dense_acts_on_the_last_axis():
    torch.manual_seed(1)
    dense = L.Dense(2)
    x = torch.randn(2, 6, 3)
    y = dense(x)
    assert y.shape == (2, 6, 2)
    torch.testing.assert_close(y[1, 4], dense(x[1, 4][None])[0])
    assert dense.compute_output_shape((None, 6, 3)) == (None, 6, 2)


def test_dense_initialisation_is_keras_glorot_uniform_and_zero_bias():
    torch.manual_seed(2)
    dense = L.Dense(300, input_shape=(200,))
    limit = math.sqrt(6 / (200 + 300))
    w = dense.linear.weight
    assert w.abs().max() <= limit and w.abs().max() > 0.95 * limit
    assert torch.equal(dense.linear.bias, torch.zeros(300))
    assert L.Dense(3, use_bias=False, input_shape=(2,)).linear.bias is None


def test_dense_errors():
    with pytest.raises(ValueError, match="units: expected an integer >= 1, got 0"):
        L.Dense(0)
    with pytest.raises(ValueError, match="activation: expected one of .*relu"):
        L.Dense(2, activation="relux")
    with pytest.raises(TypeError, match="use_bias: expected a bool"):
        L.Dense(2, use_bias="yes")
    dense = L.Dense(2, input_shape=(3,))
    with pytest.raises(ValueError, match=r"expected inputs \(B, \.\.\., 3\), got shape \(4, 5\)"):
        dense(torch.randn(4, 5))


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("relu", F.relu),
        ("sigmoid", torch.sigmoid),
        ("tanh", torch.tanh),
        ("softmax", lambda x: F.softmax(x, dim=-1)),
        ("log_softmax", lambda x: F.log_softmax(x, dim=-1)),
        ("elu", F.elu),
        ("selu", F.selu),
        ("gelu", F.gelu),
        ("swish", lambda x: x * torch.sigmoid(x)),
        ("softplus", lambda x: torch.log1p(torch.exp(x))),
        ("softsign", lambda x: x / (1 + x.abs())),
        ("leaky_relu", lambda x: torch.where(x > 0, x, 0.2 * x)),
        ("exponential", torch.exp),
        ("hard_sigmoid", lambda x: torch.clamp(x / 6 + 0.5, 0, 1)),
        ("linear", lambda x: x),
    ],
)
def test_activations_match_their_definitions(name, reference):
    x = torch.linspace(-4, 4, 24).reshape(2, 12)
    torch.testing.assert_close(L.Activation(name)(x), reference(x))


def test_activation_accepts_callables_and_rejects_other_types():
    assert L.Activation(lambda x: 2 * x)(torch.ones(2)).tolist() == [2.0, 2.0]
    assert activations.get(None) is activations.linear
    with pytest.raises(TypeError, match="activation: expected a name, a callable or None"):
        L.Activation(3)


def test_dropout_matches_training_flag():
    torch.manual_seed(3)
    layer = L.Dropout(0.25)
    x = torch.ones(1000)
    assert torch.equal(layer.eval()(x), x)
    y = layer.train()(x)
    assert set(y.unique().tolist()) <= {0.0, torch.tensor(1 / 0.75).item()}
    assert 0.18 < (y == 0).float().mean().item() < 0.32
    with pytest.raises(ValueError, match=r"rate: expected a number in \[0, 1\), got 1"):
        L.Dropout(1)


def test_flatten_and_repeat_vector_against_torch():
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(L.Flatten()(x), x.reshape(2, 12))
    assert L.Flatten().compute_output_shape((None, 3, 4)) == (None, 12)
    assert L.Flatten().compute_output_shape((None, None, 4)) == (None, None)
    v = torch.randn(2, 5)
    torch.testing.assert_close(L.RepeatVector(3)(v), v[:, None, :].repeat(1, 3, 1))
    assert L.RepeatVector(3).compute_output_shape((None, 5)) == (None, 3, 5)
    with pytest.raises(ValueError, match=r"RepeatVector: expected a 2-D input \(B, F\)"):
        L.RepeatVector(3)(x)


def test_layers_that_cannot_honour_a_mask_refuse_it():
    mask = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="carries a padding mask"):
        L.Flatten()(torch.randn(2, 3, 4), mask=mask)


def test_input_shape_builds_eagerly_and_checks_values():
    assert L.Dense(2, input_shape=(3,)).built
    assert not L.Dense(2).built
    with pytest.raises(ValueError, match="input_shape: expected positive integers"):
        L.Dense(2, input_shape=(0,))
    with pytest.raises(TypeError, match="input_shape: expected a tuple of sizes"):
        L.Dense(2, input_shape="3")


def test_names_are_checked_and_snake_cased():
    assert snake_case("SimpleRNN") == "simple_rnn"
    assert snake_case("TimeDistributed") == "time_distributed"
    assert snake_case("LSTM") == "lstm"
    with pytest.raises(ValueError, match="name: expected an identifier"):
        L.Dense(2, name="a.b")


def test_lazy_build_uses_device_and_float_dtype_of_input():
    dense = L.Dense(2)
    dense(torch.randn(3, 4, dtype=torch.float64))
    assert dense.linear.weight.dtype == torch.float64
    under_autocast = L.Dense(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = under_autocast(torch.randn(3, 4).to(torch.bfloat16))
    assert under_autocast.linear.weight.dtype == torch.float32
    assert y.dtype == torch.bfloat16


def test_unbuilt_layer_called_on_a_non_tensor_raises():
    with pytest.raises(TypeError, match="Dense: expected a torch.Tensor input, got list"):
        L.Dense(2)([[1.0, 2.0]])
