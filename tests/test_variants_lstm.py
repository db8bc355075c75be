"""LSTM variants against an independent float64 implementation of the papers' equations:
outputs, final states and every gradient, through layers, directions, lengths, projection
and initial states. (Random training-mode parts are in test_variants_noise.py.)"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import assert_parity, run_ours
from lstmkit import nn as lk
from lstmkit.ops import reference, variants
from lstmkit.ops.spec import RNNSpec
from lstmkit.ops.weights import LayerWeights
from variant_cases import F64, LENGTHS, LSTM_VARIANTS, H, I, build, inputs, states
from variant_oracle import Oracle


@pytest.mark.parametrize("proj_size", [0, 2])
@pytest.mark.parametrize("options", LSTM_VARIANTS.values(), ids=LSTM_VARIANTS.keys())
def test_lstm_variant_matches_the_equations(options, proj_size):
    ours = build(lk.LSTM, I, H, num_layers=2, bidirectional=True, proj_size=proj_size, **options)
    assert ours.spec.variant_options(), "a variant must be switched on"
    oracle = Oracle(ours)
    assert_parity(ours, oracle, inputs(), states(ours), LENGTHS, run_a=run_ours, run_b=run_ours)


@pytest.mark.parametrize("options", LSTM_VARIANTS.values(), ids=LSTM_VARIANTS.keys())
def test_lstm_cell_variant_matches_the_equations(options):
    ours = build(lk.LSTMCell, I, H, **options)
    oracle = Oracle(ours)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, I, generator=g, dtype=F64)
    hx = tuple(s[0] for s in states(ours))  # (B, S) each
    results = []
    for module, run in ((ours, ours), (oracle, oracle.cell)):
        xi = x.clone().requires_grad_()
        hi = tuple(s.clone().requires_grad_() for s in hx)
        out = run(xi, hi)
        loss = sum((o * torch.linspace(-1, 1, o.numel(), dtype=F64).view_as(o)).sum() for o in out)
        module.zero_grad()
        loss.backward()
        grads = [xi.grad, *(h.grad for h in hi), *(p.grad for p in module.parameters())]
        results.append((out, grads))
    (out_a, grads_a), (out_b, grads_b) = results
    for a, b in zip([*out_a, *grads_a], [*out_b, *grads_b], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_variant_step_with_every_option_off_is_torch_lstm_cell():
    """The step the variants build on is the standard cell (torch.nn.LSTMCell)."""
    torch.manual_seed(0)
    theirs = nn.LSTMCell(I, H, dtype=F64)
    spec = RNNSpec("lstm", I, H)
    w = LayerWeights(theirs.weight_ih, theirs.weight_hh, theirs.bias_ih, theirs.bias_hh)
    x, h, c = (torch.randn(2, n, dtype=F64) for n in (I, H, H))
    _, ours = variants.lstm_step(spec, variants.input_projection(spec, x, w), (h, c), w)
    for a, b in zip(ours, theirs(x, (h, c)), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", ["auto", "reference"])
def test_np_ablation_is_the_standard_lstm(impl):
    """NP removes the peepholes from Greff et al.'s base: torch.nn.LSTM exactly."""
    torch.manual_seed(0)
    theirs = nn.LSTM(I, H, num_layers=2, dtype=F64)
    ours = lk.LSTM.from_torch(theirs, ablation="NP", impl=impl)
    assert ours.spec.variant_options() == {"ablation": "NP"}
    assert_parity(ours, theirs, inputs(), None, None, run_b=lambda m, x, hx, n: m(x, hx))


def test_fgr_state_carries_the_gates_across_calls():
    """Running 5 steps at once equals 2 then 3 with the (h, c, q) state handed over."""
    lstm = build(lk.LSTM, I, H, num_layers=2, bidirectional=False, ablation="FGR")
    x = inputs()
    out, (h, c, q) = lstm(x)
    assert q.shape == (2, 3, 3 * H) and bool(((q > 0) & (q < 1)).all())
    out_a, state = lstm(x[:2])
    out_b, state = lstm(x[2:], state)
    torch.testing.assert_close(torch.cat([out_a, out_b]), out)
    for a, b in zip(state, (h, c, q), strict=True):
        torch.testing.assert_close(a, b)
    # (h_0, c_0) alone: the gates of the step before the first are zero
    hx = states(lstm)
    torch.testing.assert_close(lstm(x, hx[:2])[0], lstm(x, (*hx[:2], torch.zeros_like(hx[2])))[0])


def test_fgr_cell_loop_equals_the_sequence_layer():
    layer = build(lk.LSTM, I, H, ablation="FGR", peephole=True)
    cell = lk.LSTMCell(I, H, ablation="FGR", peephole=True, dtype=F64)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = inputs()
    state = None
    outs = []
    for x_t in x:
        state = cell(x_t, state)
        outs.append(state[0])
    out, final = layer(x)
    torch.testing.assert_close(torch.stack(outs), out)
    for a, b in zip(state, final, strict=True):
        torch.testing.assert_close(a, b[0])


def test_reference_cell_function_takes_the_spec():
    """ops.reference.cell runs a variant spec (the nn cells call it through dispatch)."""
    spec = RNNSpec("lstm", I, H, ablation="NOG", bias=False)
    g = torch.Generator().manual_seed(0)
    w = LayerWeights(torch.randn(4 * H, I, generator=g), torch.randn(4 * H, H, generator=g))
    w = w._replace(w_ci=torch.randn(H, generator=g), w_cf=torch.randn(H, generator=g))
    x, h, c = torch.randn(2, I), torch.randn(2, H), torch.randn(2, H)
    h1, c1 = reference.cell(spec, x, (h, c), w)
    a = x @ w.w_ih.T + h @ w.w_hh.T  # (B, 4H)
    i = torch.sigmoid(a[:, :H] + w.w_ci * c)
    f = torch.sigmoid(a[:, H : 2 * H] + w.w_cf * c)
    c_ref = f * c + i * torch.tanh(a[:, 2 * H : 3 * H])
    torch.testing.assert_close(c1, c_ref)
    torch.testing.assert_close(h1, torch.tanh(c_ref))  # no output gate
