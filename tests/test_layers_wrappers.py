"""Bidirectional and TimeDistributed against hand-built torch equivalents."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit import layers as L

TOL = {"rtol": 1e-5, "atol": 1e-6}


def bidirectional_twin(merge_mode="concat", return_sequences=True, cls=L.LSTM, tcls=nn.LSTM):
    """Our Bidirectional layer and a bidirectional torch module with the same weights."""
    layer = L.Bidirectional(cls(4, return_sequences=return_sequences), merge_mode=merge_mode)
    layer.build((None, None, 3))
    theirs = tcls(3, 4, batch_first=True, bidirectional=True)
    state = {k: v for k, v in layer.forward_layer.rnn.state_dict().items()}
    state.update({f"{k}_reverse": v for k, v in layer.backward_layer.rnn.state_dict().items()})
    theirs.load_state_dict(state)
    return layer, theirs


MERGES = {
    "concat": lambda f, b: torch.cat([f, b], -1),
    "sum": lambda f, b: f + b,
    "mul": lambda f, b: f * b,
    "ave": lambda f, b: (f + b) / 2,
}


@pytest.mark.parametrize("mode", list(MERGES))
def test_merge_modes_match_torch_bidirectional(mode):
    torch.manual_seed(0)
    layer, theirs = bidirectional_twin(mode)
    x = torch.randn(2, 6, 3)
    ref = theirs(x)[0]  # (B, T, 2H): forward features then backward features
    torch.testing.assert_close(layer(x), MERGES[mode](ref[..., :4], ref[..., 4:]), **TOL)


def test_merge_mode_none_returns_both_directions():
    torch.manual_seed(1)
    layer, theirs = bidirectional_twin(None)
    x = torch.randn(2, 5, 3)
    fwd, bwd = layer(x)
    ref = theirs(x)[0]
    torch.testing.assert_close(fwd, ref[..., :4], **TOL)
    torch.testing.assert_close(bwd, ref[..., 4:], **TOL)


def test_last_output_and_states_match_torch_final_states():
    torch.manual_seed(2)
    layer = L.Bidirectional(L.GRU(4, return_state=True))
    layer.build((None, None, 3))
    theirs = nn.GRU(3, 4, batch_first=True, bidirectional=True)
    state = dict(layer.forward_layer.rnn.state_dict())
    state.update({f"{k}_reverse": v for k, v in layer.backward_layer.rnn.state_dict().items()})
    theirs.load_state_dict(state)
    x = torch.randn(2, 5, 3)
    out, h_fwd, h_bwd = layer(x)
    _, h = theirs(x)  # (2, B, H)
    torch.testing.assert_close(out, torch.cat([h[0], h[1]], -1), **TOL)
    torch.testing.assert_close(h_fwd, h[0], **TOL)
    torch.testing.assert_close(h_bwd, h[1], **TOL)


def test_masked_bidirectional_matches_packed_torch():
    torch.manual_seed(3)
    layer, theirs = bidirectional_twin()
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 3, 1])
    mask = torch.arange(6)[None, :] < lengths[:, None]
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref, _ = pad_packed_sequence(theirs(packed)[0], batch_first=True, total_length=6)
    torch.testing.assert_close(layer(x, mask=mask), ref, **TOL)
    assert torch.equal(layer.compute_mask(x, mask), mask)


def test_bidirectional_shapes_config_and_errors():
    layer = L.Bidirectional(L.LSTM(4, return_sequences=True, input_shape=(7, 3)))
    assert layer.built and layer.compute_output_shape((None, 7, 3)) == (None, 7, 8)
    again = L.Bidirectional.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    assert again.backward_layer.go_backwards
    with pytest.raises(TypeError, match="layer: expected an LSTM, GRU or SimpleRNN layer"):
        L.Bidirectional(L.Dense(3))
    with pytest.raises(ValueError, match="merge_mode: expected one of"):
        L.Bidirectional(L.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="does not support stateful=True"):
        L.Bidirectional(L.LSTM(3, stateful=True))


def test_time_distributed_equals_reshape_then_linear():
    torch.manual_seed(4)
    td = L.TimeDistributed(L.Dense(2), input_shape=(5, 3))
    linear = nn.Linear(3, 2)
    linear.load_state_dict(td.layer.linear.state_dict())
    x = torch.randn(4, 5, 3)
    torch.testing.assert_close(td(x), linear(x.reshape(20, 3)).reshape(4, 5, 2))
    assert td.compute_output_shape((None, 5, 3)) == (None, 5, 2)
    with pytest.raises(ValueError, match=r"expected \(B, T, \.\.\.\) input"):
        td(torch.randn(4, 3))


def test_time_distributed_wraps_plain_torch_modules_and_passes_masks():
    td = L.TimeDistributed(nn.Linear(3, 2))
    x = torch.randn(2, 4, 3)
    assert td(x).shape == (2, 4, 2)
    mask = torch.tensor([[True, True, False, False]] * 2)
    assert torch.equal(td.compute_mask(x, mask), mask)
    with pytest.raises(TypeError, match=r"layer: expected a layer \(torch.nn.Module\)"):
        L.TimeDistributed("dense")
