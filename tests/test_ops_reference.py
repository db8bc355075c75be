"""The reference ops against torch.nn.LSTM / GRU / RNN with identical weights."""

from __future__ import annotations

import pytest
import torch

from helpers import KINDS, MATRIX, B, H, I, T, assert_parity, build_pair, make_state, random_lengths
from lstmkit import nn as lk
from lstmkit.ops import reference
from lstmkit.ops.spec import RNNSpec
from lstmkit.ops.weights import LayerWeights


def run_case(kind, case, dtype, impl="reference"):
    layers, bidir, batch_first, bias, with_hx, with_lengths = case
    ours, theirs = build_pair(kind, layers, bidir, batch_first, bias, dtype, impl)
    g = torch.Generator().manual_seed(3)
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(shape, generator=g, dtype=dtype)
    hx = make_state(theirs, B, dtype) if with_hx else None
    lengths = random_lengths(B, T) if with_lengths else None
    assert_parity(ours, theirs, x, hx, lengths)


@pytest.mark.parametrize("case", MATRIX, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("kind", list(KINDS))
def test_reference_matches_torch_float64(kind, case):
    run_case(kind, case, torch.float64)


@pytest.mark.parametrize("case", MATRIX[::5], ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("kind", list(KINDS))
def test_reference_matches_torch_float32(kind, case):
    run_case(kind, case, torch.float32)


def test_long_sequence_float32_stays_close():
    """A few hundred steps in float32: errors must not accumulate past tolerance."""
    ours, theirs = build_pair("lstm", 2, True, False, True, torch.float32)
    x = torch.randn(300, 4, I, generator=torch.Generator().manual_seed(0))
    assert_parity(ours, theirs, x, None, random_lengths(4, 300))


# --------------------------------------------------------------------------- gradcheck


def _weights(spec: RNNSpec, layer: int = 0, seed: int = 0) -> LayerWeights:
    g = torch.Generator().manual_seed(seed)
    shapes = spec.param_shapes(layer).values()
    tensors = [
        (0.5 * torch.randn(s, generator=g, dtype=torch.float64)).requires_grad_() for s in shapes
    ]
    names = list(spec.param_shapes(layer))
    kw = dict(zip(names, tensors, strict=True))
    return LayerWeights(
        kw["weight_ih"], kw["weight_hh"], kw.get("bias_ih"), kw.get("bias_hh"), kw.get("weight_hr")
    )


@pytest.mark.parametrize(
    "spec",
    [
        RNNSpec("lstm", 3, 4),
        RNNSpec("lstm", 3, 4, proj_size=2, bias=False),
        RNNSpec("gru", 3, 4),
        RNNSpec("gru", 3, 4, reset_after=False),
        RNNSpec("rnn", 3, 4),
        RNNSpec("rnn", 3, 4, nonlinearity="relu"),
    ],
    ids=lambda s: f"{s.mode}-{s.proj_size}-{s.reset_after}-{s.nonlinearity}",
)
def test_gradcheck_cell(spec):
    w = _weights(spec)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    state = tuple(
        torch.randn(2, s, generator=g, dtype=torch.float64, requires_grad=True)
        for s in spec.state_sizes()
    )
    n = len(state)

    def f(x, *rest):
        return reference.cell(spec, x, rest[:n], LayerWeights(*rest[n:]))

    assert torch.autograd.gradcheck(f, (x, *state, *w))


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn"])
def test_gradcheck_sequence_with_lengths(mode):
    spec = RNNSpec(mode, 3, 4, num_layers=2, bidirectional=True)
    weights = [_weights(spec, layer, seed=k) for k, layer in enumerate([0, 0, 1, 1])]
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    hx = tuple(
        torch.randn(4, 3, s, generator=g, dtype=torch.float64, requires_grad=True)
        for s in spec.state_sizes()
    )
    valid = (torch.arange(4)[:, None] < torch.tensor([4, 1, 2])[None, :]).unsqueeze(-1)
    flat = [t for w in weights for t in w]
    n = len(hx)

    def f(x, *rest):
        per = len(LayerWeights._fields)  # torch's five, then the variants' (all None here)
        ws = [LayerWeights(*rest[n + per * k : n + per * (k + 1)]) for k in range(4)]
        return reference.rnn(spec, x, rest[:n], ws, valid)

    inputs = (x, *hx, *flat)
    assert torch.autograd.gradcheck(lambda *a: _flatten(f(*a)), inputs)


def _flatten(result):
    out, states = result
    return (out, *states)


# --------------------------------------------------------------------------- Cho GRU


def cho_gru_loop(x, h, w_ih, w_hh, b_ih, b_hh):
    """GRU of Cho et al. (2014) written out per gate: reset applied to h before W_hn."""
    H = h.shape[-1]
    W_ir, W_iz, W_in = w_ih[:H], w_ih[H : 2 * H], w_ih[2 * H :]
    W_hr, W_hz, W_hn = w_hh[:H], w_hh[H : 2 * H], w_hh[2 * H :]
    b_r = b_ih[:H] + b_hh[:H]
    b_z = b_ih[H : 2 * H] + b_hh[H : 2 * H]
    outs = []
    for x_t in x:
        r = torch.sigmoid(x_t @ W_ir.T + h @ W_hr.T + b_r)
        z = torch.sigmoid(x_t @ W_iz.T + h @ W_hz.T + b_z)
        n = torch.tanh(x_t @ W_in.T + b_ih[2 * H :] + (r * h) @ W_hn.T + b_hh[2 * H :])
        h = z * h + (1 - z) * n
        outs.append(h)
    return torch.stack(outs), h


def test_cho_gru_matches_equation():
    torch.manual_seed(0)
    gru = lk.GRU(I, H, reset_after=False, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    h0 = torch.randn(1, B, H, dtype=torch.float64)
    out, h_n = gru(x, h0)
    w = [gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0]
    ref_out, ref_h = cho_gru_loop(x, h0[0], *w)
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h_n[0], ref_h, rtol=1e-12, atol=1e-12)


def test_cho_gru_differs_from_torch_form():
    torch.manual_seed(0)
    a = lk.GRU(I, H, reset_after=False)
    b = lk.GRU(I, H)
    b.load_state_dict(a.state_dict())
    x = torch.randn(T, B, I)
    assert not torch.allclose(a(x)[0], b(x)[0])
