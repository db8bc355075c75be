"""lstmkit.nn.LSTM / GRU / RNN as modules: packed input, lengths, empty batches, dropout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pack_sequence

from helpers import as_tuple, assert_parity
from lstmkit import nn as lk

IMPLS = ["reference", "native"]
PAIRS = [(lk.LSTM, nn.LSTM), (lk.GRU, nn.GRU), (lk.RNN, nn.RNN)]


def pair(ours_cls, theirs_cls, impl, **kw):
    torch.manual_seed(0)
    theirs = theirs_cls(3, 4, dtype=torch.float64, **kw)
    return ours_cls.from_torch(theirs, impl=impl), theirs


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("ours_cls", "theirs_cls"), PAIRS)
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequence_in_and_out(ours_cls, theirs_cls, impl, enforce_sorted):
    ours, theirs = pair(ours_cls, theirs_cls, impl, num_layers=2, bidirectional=True)
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randn(n, 3, generator=g, dtype=torch.float64) for n in (6, 4, 4, 1)]
    if not enforce_sorted:
        seqs = [seqs[2], seqs[3], seqs[0], seqs[1]]
    packed = pack_sequence(seqs, enforce_sorted=enforce_sorted)
    out, state = ours(packed)
    ref_out, ref_state = theirs(packed)
    assert isinstance(out, nn.utils.rnn.PackedSequence)
    assert torch.equal(out.batch_sizes, ref_out.batch_sizes)
    for a, b in (
        (out.sorted_indices, ref_out.sorted_indices),
        (out.unsorted_indices, ref_out.unsorted_indices),
    ):
        assert (a is None and b is None) or torch.equal(a, b)
    torch.testing.assert_close(out.data, ref_out.data, rtol=1e-10, atol=1e-10)
    for a, b in zip(as_tuple(state), as_tuple(ref_state), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("impl", IMPLS)
def test_packed_sequence_with_initial_state_and_gradients(impl):
    ours, theirs = pair(lk.LSTM, nn.LSTM, impl, bidirectional=True)
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    lengths = torch.tensor([2, 5, 3])
    hx = (torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 3, 4, dtype=torch.float64))

    def run_packed(module, xi, hi, lengths):
        packed = pack_padded_sequence(xi, lengths, enforce_sorted=False)
        out, state = module(packed, hi)
        return out.data, state

    assert_parity(ours, theirs, x, hx, lengths, run_a=run_packed, run_b=run_packed)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("ours_cls", "theirs_cls"), PAIRS)
def test_each_sequence_alone_equals_its_row_in_a_padded_batch(ours_cls, theirs_cls, impl):
    """Independent of packing: run every sequence alone at its own length with torch.nn."""
    ours, theirs = pair(ours_cls, theirs_cls, impl, num_layers=2, bidirectional=True)
    x = torch.randn(4, 6, 3, dtype=torch.float64)  # (B, T, I) as batch_first below
    ours.batch_first = True
    lengths = [3, 6, 1, 4]
    out, state = ours(x, lengths=torch.tensor(lengths, dtype=torch.int32))
    for b, n in enumerate(lengths):
        ref_out, ref_state = theirs(x[b, :n].unsqueeze(1))  # (n, 1, I), time-major
        torch.testing.assert_close(out[b, :n], ref_out[:, 0], rtol=1e-10, atol=1e-10)
        assert not out[b, n:].any(), "steps past the length must be zero"
        for s, r in zip(as_tuple(state), as_tuple(ref_state), strict=True):
            torch.testing.assert_close(s[:, b], r[:, 0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "lengths",
    [[2, 5, 3], (2, 5, 3), np.array([2, 5, 3]), torch.tensor([2, 5, 3], dtype=torch.int32)],
    ids=["list", "tuple", "numpy", "int32"],
)
def test_lengths_accepts_common_containers(lengths):
    lstm = lk.LSTM(3, 4)
    x = torch.randn(5, 3, 3)
    expected, _ = lstm(x, lengths=torch.tensor([2, 5, 3]))
    out, _ = lstm(x, lengths=lengths)
    torch.testing.assert_close(out, expected)


def test_full_lengths_equal_no_lengths():
    lstm = lk.LSTM(3, 4, impl="reference")
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(lstm(x, lengths=[5, 5])[0], lstm(x)[0])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("cls", [lk.LSTM, lk.GRU, lk.RNN])
@pytest.mark.parametrize("batch_first", [False, True])
def test_empty_batch_returns_empty_outputs(cls, impl, batch_first):
    rnn = cls(3, 4, num_layers=2, bidirectional=True, batch_first=batch_first, impl=impl)
    x = torch.zeros((0, 5, 3) if batch_first else (5, 0, 3))
    out, state = rnn(x, lengths=torch.zeros(0, dtype=torch.long))
    assert out.shape == ((0, 5, 8) if batch_first else (5, 0, 8))
    for s in as_tuple(state):
        assert s.shape == (4, 0, 4)
    out.sum().backward()  # an empty batch must not break a training step


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("ours_cls", "theirs_cls"), PAIRS)
def test_unbatched_input_matches_torch(ours_cls, theirs_cls, impl):
    ours, theirs = pair(ours_cls, theirs_cls, impl, num_layers=2)
    x = torch.randn(5, 3, dtype=torch.float64)
    hx = tuple(torch.randn(2, 4, dtype=torch.float64) for _ in as_tuple(theirs(x)[1]))
    hx = hx if len(hx) == 2 else hx[0]
    for args in ((x,), (x, hx)):
        out, state = ours(*args)
        ref_out, ref_state = theirs(*args)
        torch.testing.assert_close(out, ref_out, rtol=1e-10, atol=1e-10)
        for s, r in zip(as_tuple(state), as_tuple(ref_state), strict=True):
            assert s.shape == r.shape
            torch.testing.assert_close(s, r, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("impl", IMPLS)
def test_dropout_between_layers_only_in_training(impl):
    torch.manual_seed(0)
    lstm = lk.LSTM(3, 64, num_layers=2, dropout=0.5, impl=impl)
    plain = lk.LSTM(3, 64, num_layers=2, impl=impl)
    plain.load_state_dict(lstm.state_dict())
    x = torch.randn(4, 8, 3)
    lstm.eval()
    torch.testing.assert_close(lstm(x)[0], plain(x)[0])  # eval: no dropout at all
    lstm.train()
    a, b = lstm(x)[0], lstm(x)[0]
    assert not torch.allclose(a, b), "training-mode dropout must draw new masks each call"
    torch.manual_seed(3)
    c = lstm(x)[0]
    torch.manual_seed(3)
    torch.testing.assert_close(lstm(x)[0], c)  # same seed, same masks


def test_reference_dropout_statistics():
    """Inverted dropout: a fraction p of layer-1 outputs is zeroed, the rest scaled by 1/(1-p)."""
    from lstmkit.ops.spec import RNNSpec
    from lstmkit.ops.stack import stack_layers

    spec = RNNSpec("rnn", 1, 1, num_layers=2, dropout=0.3)
    seen = {}

    def layer_fn(spec, x, state, w, valid, reverse):
        seen.setdefault(len(seen), x)
        return torch.ones(x.shape[0], x.shape[1], 1), state

    torch.manual_seed(0)
    hx = (torch.zeros(2, 20000, 1),)
    stack_layers(layer_fn, spec, torch.ones(10, 20000, 1), hx, [None, None], training=True)
    second = seen[1]
    zero_fraction = (second == 0).float().mean().item()
    assert abs(zero_fraction - 0.3) < 0.01
    torch.testing.assert_close(second[second != 0], torch.full_like(second[second != 0], 1 / 0.7))


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="dropout=0.2 has no effect with num_layers=1"):
        lk.LSTM(3, 4, dropout=0.2)


@pytest.mark.parametrize("cls", [lk.LSTM, lk.GRU, lk.RNN])
def test_double_and_half_conversion_follow_the_module(cls):
    rnn = cls(3, 4).double()
    out, _ = rnn(torch.randn(5, 2, 3, dtype=torch.float64))
    assert out.dtype == torch.float64


def test_repr_names_non_default_options():
    assert repr(lk.LSTM(3, 4)) == "LSTM(3, 4)"
    text = repr(lk.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, batch_first=True))
    assert text == "LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, batch_first=True)"
    assert repr(lk.GRU(3, 4, reset_after=False)) == "GRU(3, 4, reset_after=False)"
    assert repr(lk.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity='relu')"


def test_torch_style_attributes():
    lstm = lk.LSTM(3, 4, num_layers=2, bias=False, bidirectional=True, proj_size=2)
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers) == (3, 4, 2)
    assert (lstm.bias, lstm.bidirectional, lstm.proj_size) == (False, True, 2)
    assert len(lstm.all_weights) == 4 and len(lstm.all_weights[0]) == 3  # w_ih, w_hh, w_hr
    lstm.flatten_parameters()  # accepted, as torch users call it


def test_works_inside_a_torch_model_and_trains():
    torch.manual_seed(0)
    lstm = lk.LSTM(1, 16, batch_first=True)
    head = nn.Linear(16, 1)
    opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.02)
    x = torch.rand(64, 10, 1)
    y = x.sum(dim=1) - 5  # (B, 1): the centred sum of the inputs, a memory task
    losses = []
    for _ in range(100):
        _, (h, _) = lstm(x)
        loss = nn.functional.mse_loss(head(h[-1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.01 * y.var().item()  # far better than predicting the mean
