"""The kernels' large tensors come from kept blocks (ops/cpu/memory.cpp): a freed block is
handed out again, and a block still in use never is."""

from __future__ import annotations

import pytest
import torch

from lstmkit import nn as lk
from lstmkit.ops import cpu, fused

pytestmark = pytest.mark.skipif(not fused.available(), reason="fused kernels could not be built")

# In float64, large enough that the output (4 MB), the saved activations and dL/dG pass the
# 1 MB floor.
T, B, H = 128, 16, 256


def pair(kind):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(H, H).double()
    return getattr(lk, kind).from_torch(theirs, impl="fused"), theirs


def repeated_steps_match(ours, theirs):
    """Three training steps of both models on new data; the outputs of every step, kept
    alive to the end, are not written over by the later steps."""
    kept = []
    for step in range(3):
        g = torch.Generator().manual_seed(step)
        x = torch.randn(T, B, H, generator=g, dtype=torch.float64)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, _ = ours(xa)
        yb, _ = theirs(xb)
        kept.append((ya.detach(), yb.detach()))
        (ya * yb.detach().cos()).sum().backward()
        (yb * yb.detach().cos()).sum().backward()
        torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-7, atol=1e-8)
        for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-7, atol=1e-8)
        ours.zero_grad(), theirs.zero_grad()
    for ya, yb in kept:
        torch.testing.assert_close(ya, yb, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_repeated_training_steps_match_torch(kind):
    repeated_steps_match(*pair(kind))


def test_repeated_layer_norm_steps_match_the_reference():
    # The input projection (lstmkit::linear) comes from a kept block too.
    torch.manual_seed(0)
    ours = lk.LSTM(H, H, layer_norm=True, impl="fused").double()
    reference = lk.LSTM(H, H, layer_norm=True, impl="reference").double()
    reference.load_state_dict(ours.state_dict())
    repeated_steps_match(ours, reference)


def test_a_freed_output_block_is_handed_out_again():
    ours, _ = pair("LSTM")
    x = torch.randn(T, B, H, dtype=torch.float64)
    with torch.no_grad():
        y, _ = ours(x)
        first = y.data_ptr()
        expected = y.clone()
        del y
        again, _ = ours(x)
        assert again.data_ptr() == first
        torch.testing.assert_close(again, expected, rtol=0, atol=0)
        held, _ = ours(x)  # ``again`` still holds the block: a new one
        assert held.data_ptr() != first


def test_an_output_from_a_kept_block_can_grow():
    ours, _ = pair("LSTM")
    with torch.no_grad():
        y, _ = ours(torch.randn(T, B, H, dtype=torch.float64))
    before = y.clone()
    y.resize_(2 * T, B, H)
    torch.testing.assert_close(y[:T], before, rtol=0, atol=0)


def test_empty_cache_hands_the_waiting_blocks_back():
    ours, _ = pair("LSTM")
    x = torch.randn(T, B, H, dtype=torch.float64)
    with torch.no_grad():
        y, _ = ours(x)
    assert cpu.memory_kept() > 0  # at least the call's scratch waits
    cpu.empty_cache()
    assert cpu.memory_kept() == 0
    size, expected = y.untyped_storage().nbytes(), y.clone()
    del y  # its block waits now
    assert cpu.memory_kept() >= size
    cpu.empty_cache()
    assert cpu.memory_kept() == 0
    with torch.no_grad():  # the kernels go on, on fresh blocks
        again, _ = ours(x)
    torch.testing.assert_close(again, expected, rtol=0, atol=0)
