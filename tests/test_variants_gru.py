"""GRU variants (layer norm, zoneout, activations, with either reset placement) against an
independent float64 implementation of the equations: outputs, final states, gradients."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_parity, run_ours
from lstmkit import nn as lk
from variant_cases import F64, GRU_VARIANTS, LENGTHS, H, I, build, inputs, states
from variant_oracle import Oracle


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("options", GRU_VARIANTS.values(), ids=GRU_VARIANTS.keys())
def test_gru_variant_matches_the_equations(options, batch_first):
    ours = build(lk.GRU, I, H, num_layers=2, bidirectional=True, batch_first=batch_first, **options)
    oracle = Oracle(ours)
    x = inputs(batch_first)
    assert_parity(ours, oracle, x, states(ours), LENGTHS, run_a=run_ours, run_b=run_ours)


@pytest.mark.parametrize("options", GRU_VARIANTS.values(), ids=GRU_VARIANTS.keys())
def test_gru_cell_variant_matches_the_equations(options):
    ours = build(lk.GRUCell, I, H, **options)
    oracle = Oracle(ours)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, I, generator=g, dtype=F64, requires_grad=True)
    h = torch.randn(3, H, generator=g, dtype=F64, requires_grad=True)
    out = ours(x, h)
    ref = oracle.cell(x, h)[0]
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    w = torch.linspace(-1, 1, out.numel(), dtype=F64).view_as(out)
    params = [*ours.parameters()]
    grads = torch.autograd.grad((out * w).sum(), [x, h, *params])
    ref_grads = torch.autograd.grad((ref * w).sum(), [x, h, *oracle.parameters()])
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_gru_zoneout_keeps_previous_state_in_expectation():
    """z_h = 1 in evaluation: h never moves from h_0, whatever the input."""
    gru = build(lk.GRU, I, H, zoneout=1.0)
    h0 = states(gru)
    out, h_n = gru(inputs(), h0)
    torch.testing.assert_close(h_n, h0)
    torch.testing.assert_close(out, h0.expand(out.shape[0], -1, -1))
