"""Keras-style LSTM / GRU / SimpleRNN against torch.nn modules holding the same weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit import layers as L
from lstmkit import nn as lnn

TOL = {"rtol": 1e-5, "atol": 1e-6}
PAIRS = [(L.LSTM, nn.LSTM), (L.GRU, nn.GRU), (L.SimpleRNN, nn.RNN)]


def twin(ours_cls, torch_cls, units=5, features=3, **kwargs):
    """A built Keras-style layer and a batch-first torch.nn module with the same weights."""
    layer = ours_cls(units, input_shape=(None, features), **kwargs)
    theirs = torch_cls(features, units, batch_first=True)
    theirs.load_state_dict(layer.rnn.state_dict())
    return layer, theirs


def last_step(out, lengths):
    return out[torch.arange(len(lengths)), lengths - 1]


@pytest.mark.parametrize(("ours_cls", "torch_cls"), PAIRS)
def test_outputs_and_states_match_torch(ours_cls, torch_cls):
    torch.manual_seed(0)
    layer, theirs = twin(ours_cls, torch_cls, return_sequences=True, return_state=True)
    x = torch.randn(4, 7, 3)
    out, *states = layer(x)
    ref_out, ref_state = theirs(x)
    ref_states = ref_state if isinstance(ref_state, tuple) else (ref_state,)
    torch.testing.assert_close(out, ref_out, **TOL)
    assert len(states) == len(ref_states)
    for s, r in zip(states, ref_states, strict=True):
        torch.testing.assert_close(s, r[0], **TOL)  # (B, H), Keras's state shape


@pytest.mark.parametrize(("ours_cls", "torch_cls"), PAIRS)
def test_last_output_is_final_hidden_state(ours_cls, torch_cls):
    torch.manual_seed(1)
    layer, theirs = twin(ours_cls, torch_cls)
    x = torch.randn(3, 6, 3)
    torch.testing.assert_close(layer(x), theirs(x)[0][:, -1], **TOL)


def test_gradients_match_torch():
    torch.manual_seed(2)
    layer, theirs = twin(L.LSTM, nn.LSTM, return_sequences=True)
    x = torch.randn(2, 5, 3)
    layer(x).square().sum().backward()
    theirs(x)[0].square().sum().backward()
    for name, p in layer.rnn.named_parameters():
        torch.testing.assert_close(p.grad, getattr(theirs, name).grad, **TOL)


def test_mask_is_passed_as_lengths_like_packed_torch():
    torch.manual_seed(3)
    layer, theirs = twin(L.LSTM, nn.LSTM, return_sequences=True, return_state=True)
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 2, 4])
    mask = torch.arange(6)[None, :] < lengths[:, None]
    out, h, c = layer(x, mask=mask)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref, (rh, rc) = theirs(packed)
    ref, _ = pad_packed_sequence(ref, batch_first=True, total_length=6)
    torch.testing.assert_close(out, ref, **TOL)
    torch.testing.assert_close(h, rh[0], **TOL)
    torch.testing.assert_close(c, rc[0], **TOL)


@pytest.mark.parametrize("cls", [L.LSTM, L.GRU, L.SimpleRNN])
def test_padding_never_changes_the_result(cls):
    torch.manual_seed(4)
    layer = cls(4, input_shape=(None, 2))
    x = torch.randn(1, 5, 2)
    padded = torch.cat([x, torch.randn(1, 3, 2)], dim=1)  # junk after the end
    mask = torch.tensor([[True] * 5 + [False] * 3])
    torch.testing.assert_close(layer(padded, mask=mask), layer(x), **TOL)


def test_sequence_of_padding_only_gives_zero_output_and_keeps_state():
    torch.manual_seed(5)
    layer = L.LSTM(3, input_shape=(None, 2), return_sequences=True, return_state=True)
    x = torch.randn(2, 4, 2)
    mask = torch.tensor([[True, True, False, False], [False] * 4])
    h0, c0 = torch.randn(2, 3), torch.randn(2, 3)
    out, h, c = layer(x, mask=mask, initial_state=[h0, c0])
    assert out[1].abs().sum() == 0
    torch.testing.assert_close(h[1], h0[1])
    torch.testing.assert_close(c[1], c0[1])
    ref, rh, rc = layer(x[:1, :2], initial_state=[h0[:1], c0[:1]])
    torch.testing.assert_close(out[0, :2], ref[0], **TOL)
    torch.testing.assert_close(h[0], rh[0], **TOL)
    torch.testing.assert_close(c[0], rc[0], **TOL)


@pytest.mark.parametrize(
    "rows",
    [
        [[False, True, True]],  # left padding
        [[True, False, True]],  # a hole
    ],
)
def test_mask_that_is_not_right_padding_raises(rows):
    layer = L.LSTM(3, input_shape=(None, 2))
    with pytest.raises(ValueError, match="expected right-padded sequences"):
        layer(torch.randn(1, 3, 2), mask=torch.tensor(rows))


def test_mask_of_wrong_shape_raises():
    layer = L.GRU(3, input_shape=(None, 2))
    with pytest.raises(ValueError, match=r"mask: expected shape \(2, 3\)"):
        layer(torch.randn(2, 3, 2), mask=torch.ones(1, 3, dtype=torch.bool))


def test_go_backwards_equals_torch_on_flipped_input():
    torch.manual_seed(6)
    layer, theirs = twin(L.GRU, nn.GRU, return_sequences=True, go_backwards=True)
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(layer(x), theirs(x.flip(1))[0], **TOL)


def test_go_backwards_with_mask_reverses_within_each_length():
    torch.manual_seed(7)
    layer, theirs = twin(L.LSTM, nn.LSTM, go_backwards=True)
    x = torch.randn(2, 5, 3)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    out = layer(x, mask=mask)
    torch.testing.assert_close(out[0], theirs(x[:1].flip(1))[0][0, -1], **TOL)
    torch.testing.assert_close(out[1], theirs(x[1:, :3].flip(1))[0][0, -1], **TOL)


def test_stateful_chunks_equal_one_unchunked_run():
    torch.manual_seed(8)
    layer = L.LSTM(4, input_shape=(None, 3), return_sequences=True, stateful=True)
    x = torch.randn(2, 9, 3)
    chunks = torch.cat([layer(x[:, :4]), layer(x[:, 4:7]), layer(x[:, 7:])], dim=1)
    whole = nn.LSTM(3, 4, batch_first=True)
    whole.load_state_dict(layer.rnn.state_dict())
    torch.testing.assert_close(chunks, whole(x)[0], **TOL)


def test_reset_states_forgets_the_carried_state():
    torch.manual_seed(9)
    layer = L.GRU(3, input_shape=(None, 2), stateful=True)
    x = torch.randn(2, 4, 2)
    first = layer(x)
    assert not torch.allclose(layer(x), first)
    layer.reset_states()
    torch.testing.assert_close(layer(x), first)


def test_reset_states_to_given_values_matches_initial_state():
    torch.manual_seed(10)
    layer = L.LSTM(3, input_shape=(None, 2), stateful=True)
    x = torch.randn(2, 4, 2)
    h0, c0 = torch.randn(2, 3), torch.randn(2, 3)
    layer.reset_states([h0, c0])
    stateful = layer(x)
    layer.reset_states()
    torch.testing.assert_close(stateful, layer(x, initial_state=[h0, c0]))


def test_stateful_batch_size_change_raises():
    with pytest.raises(ValueError, match="LSTM: build the layer before setting its states"):
        L.LSTM(3, stateful=True).reset_states([torch.zeros(1, 3), torch.zeros(1, 3)])
    layer = L.LSTM(3, input_shape=(None, 2), stateful=True)
    layer(torch.randn(4, 3, 2))
    with pytest.raises(ValueError, match="got a batch of 2 sequences after batches of 4"):
        layer(torch.randn(2, 3, 2))


def test_initial_state_matches_torch_and_is_checked():
    torch.manual_seed(11)
    layer, theirs = twin(L.LSTM, nn.LSTM)
    x, h0, c0 = torch.randn(2, 4, 3), torch.randn(2, 5), torch.randn(2, 5)
    ref = theirs(x, (h0[None], c0[None]))[0][:, -1]
    torch.testing.assert_close(layer(x, initial_state=[h0, c0]), ref, **TOL)
    with pytest.raises(ValueError, match="initial_state: expected 2 tensors, got 1"):
        layer(x, initial_state=[h0])
    with pytest.raises(ValueError, match=r"initial_state\[1\]: expected shape \(2, 5\)"):
        layer(x, initial_state=[h0, torch.randn(3, 5)])


def test_input_dropout_uses_one_mask_per_sequence_for_all_steps():
    torch.manual_seed(12)
    layer = L.LSTM(4, input_shape=(None, 50), dropout=0.5)
    seen = {}
    layer.rnn.register_forward_pre_hook(
        lambda m, args, kw: seen.update(x=args[0]), with_kwargs=True
    )
    x = torch.ones(3, 6, 50)
    layer.train()(x)
    dropped = seen["x"]
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))  # same mask at every step
    assert set(dropped.unique().tolist()) <= {0.0, 2.0}  # kept values scaled by 1/(1-p)
    assert 0.3 < (dropped == 0).float().mean().item() < 0.7
    theirs = nn.LSTM(50, 4, batch_first=True)
    theirs.load_state_dict(layer.rnn.state_dict())
    torch.testing.assert_close(layer.eval()(x), theirs(x)[0][:, -1], **TOL)  # no dropout


def test_unit_forget_bias():
    on = L.LSTM(3, input_shape=(None, 2))
    off = L.LSTM(3, input_shape=(None, 2), unit_forget_bias=False)
    assert torch.equal(on.rnn.bias_ih_l0[3:6], torch.ones(3))  # i, f, g, o: f is second
    assert torch.equal(off.rnn.bias_ih_l0, torch.zeros(12))
    assert torch.equal(off.rnn.bias_hh_l0, torch.zeros(12))
    normed = L.LSTM(3, input_shape=(None, 2), unit_forget_bias=False, layer_norm=True)
    assert normed.rnn.forget_bias == 0.0
    assert L.LSTM(3, use_bias=False, unit_forget_bias=False, input_shape=(None, 2)).built
    with pytest.raises(ValueError, match="unit_forget_bias=False asks for a forget-gate bias"):
        L.LSTM(3, unit_forget_bias=False, forget_bias=2.0)


def test_lstmkit_options_pass_through():
    layer = L.LSTM(6, input_shape=(None, 3), impl="reference", proj_size=2, init="torch")
    assert layer.rnn.impl == "reference" and layer.rnn.proj_size == 2
    assert layer(torch.randn(2, 4, 3)).shape == (2, 2)
    assert layer.compute_output_shape((None, 4, 3)) == (None, 2)
    gru = L.GRU(3, input_shape=(None, 2), reset_after=False)
    assert gru.rnn.spec.reset_after is False


def test_simple_rnn_relu_activation_is_torch_nonlinearity():
    torch.manual_seed(13)
    layer = L.SimpleRNN(4, activation="relu", input_shape=(None, 3))
    theirs = nn.RNN(3, 4, nonlinearity="relu", batch_first=True)
    theirs.load_state_dict(layer.rnn.state_dict())
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(layer(x), theirs(x)[0][:, -1], **TOL)


def recording(monkeypatch, seen):
    """Make the Keras LSTM build a lstmkit.nn.LSTM that records its keyword arguments."""

    class Recording(lnn.LSTM):
        def __init__(self, *args, **kwargs):
            seen.append(dict(kwargs))
            for key in ("activation", "recurrent_activation", "recurrent_dropout"):
                kwargs.pop(key, None)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(L.LSTM, "nn_class", Recording)


def test_non_default_activations_are_passed_to_lstmkit_nn(monkeypatch):
    seen = []
    recording(monkeypatch, seen)
    L.LSTM(
        3,
        activation="relu",
        recurrent_activation="hard_sigmoid",
        recurrent_dropout=0.25,
        input_shape=(None, 2),
    )
    assert len(seen) == 2  # the validation at construction and the build
    for kwargs in seen:
        assert kwargs["activation"] == "relu"
        assert kwargs["recurrent_activation"] == "hard_sigmoid"
        assert kwargs["recurrent_dropout"] == 0.25


def test_default_activations_are_not_passed(monkeypatch):
    seen = []
    recording(monkeypatch, seen)
    L.LSTM(3, input_shape=(None, 2))
    assert all("activation" not in k and "recurrent_dropout" not in k for k in seen)


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (L.LSTM, {"activation": "bogus"}),
        (L.GRU, {"recurrent_activation": "bogus"}),
        (L.SimpleRNN, {"activation": "sigmoid"}),
        (L.SimpleRNN, {"recurrent_dropout": 0.2}),
        (L.LSTM, {"zoneout": 2.0}),
    ],
)
def test_option_errors_are_lstmkit_nn_errors(cls, kwargs):
    try:
        cls.nn_class(1, 3, batch_first=True, **kwargs)
    except (TypeError, ValueError) as err:
        expected = err
    else:
        pytest.fail(f"lstmkit.nn accepts {kwargs}")
    with pytest.raises(type(expected)) as info:
        cls(3, **kwargs)
    assert str(info.value) == str(expected)


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (L.LSTM, {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
        (L.LSTM, {"layer_norm": True, "peephole": True, "forget_bias": 2.0}),
        (L.LSTM, {"ablation": "CIFG"}),
        (L.GRU, {"layer_norm": True, "activation": "relu"}),
    ],
)
def test_activations_and_variants_pass_through_to_lstmkit_nn(cls, options):
    torch.manual_seed(14)
    layer = cls(4, input_shape=(None, 3), return_sequences=True, **options)
    module = cls.nn_class(3, 4, batch_first=True, **options)
    module.load_state_dict(layer.rnn.state_dict())
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(layer(x), module(x)[0], **TOL)
    mask = torch.tensor([[True] * 5, [True] * 2 + [False] * 3])
    torch.testing.assert_close(
        layer(x, mask=mask), module(x, lengths=torch.tensor([5, 2]))[0], **TOL
    )


def test_recurrent_dropout_reaches_lstmkit_nn():
    torch.manual_seed(15)
    layer = L.LSTM(4, recurrent_dropout=0.3, input_shape=(None, 3))
    assert layer.rnn.spec.recurrent_dropout == 0.3
    plain = nn.LSTM(3, 4, batch_first=True)
    plain.load_state_dict(layer.rnn.state_dict())
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(layer.eval()(x), plain(x)[0][:, -1], **TOL)  # off at inference
    assert not torch.allclose(layer.train()(x), plain(x)[0][:, -1])  # on in training
    assert layer.get_config()["recurrent_dropout"] == 0.3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bidirectional": True}, "wrap the layer in Bidirectional"),
        ({"batch_first": False}, "always batch-first"),
        ({"hidden_size": 3}, "use units="),
        ({"bias": False}, "use use_bias="),
    ],
)
def test_reserved_options_raise(kwargs, match):
    with pytest.raises(TypeError, match=match):
        L.LSTM(3, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"units": 0}, ValueError, "units: expected an integer >= 1, got 0"),
        ({"units": 3, "dropout": 1.0}, ValueError, r"dropout: expected a number in \[0, 1\)"),
        ({"units": 3, "return_sequences": 1}, TypeError, "return_sequences: expected a bool"),
        ({"units": 3, "input_shape": (5,)}, ValueError, r"expected inputs \(B, T, F\)"),
        ({"units": 3, "impl": "fast"}, ValueError, "impl: expected one of"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        L.LSTM(**kwargs)


def test_bad_inputs_raise():
    layer = L.LSTM(3, input_shape=(None, 2))
    with pytest.raises(ValueError, match=r"expected inputs \(B, T, 2\)"):
        layer(torch.randn(2, 5, 4))
    with pytest.raises(TypeError, match="expected a float input"):
        layer(torch.ones(2, 5, 2, dtype=torch.int64))


def test_lazy_build_infers_the_input_size():
    layer = L.LSTM(3)
    assert not layer.built and not list(layer.parameters())
    layer(torch.randn(2, 4, 7))
    assert layer.built and layer.rnn.input_size == 7
    assert layer.build_input_shape == (None, 4, 7)


def test_config_round_trip_keeps_options():
    layer = L.LSTM(4, return_sequences=True, go_backwards=True, impl="reference", name="enc")
    again = L.LSTM.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
