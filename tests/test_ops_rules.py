"""impl="auto" and the fused kernels: the rules read off the benchmark, applied per call."""

from __future__ import annotations

from unittest import mock

import pytest
import torch

from lstmkit import nn as lk
from lstmkit.ops import dispatch, fused, rules
from lstmkit.ops.spec import RNNSpec


def test_float64_always_prefers_fused():
    for mode in ("lstm", "gru", "rnn"):
        for b, h in ((1, 64), (128, 512)):
            assert rules.prefer_fused(mode, b, h, 100, torch.float64, grad=True)


def test_other_dtypes_never_prefer_fused():
    for dtype in (torch.float16, torch.bfloat16):
        assert not rules.prefer_fused("lstm", 1, 64, 100, dtype, grad=False)


@pytest.mark.parametrize(("mode", "grad"), list(rules.FLOAT32_LIMITS))
def test_float32_limit_on_batch_times_hidden(mode, grad):
    limit = rules.FLOAT32_LIMITS[(mode, grad)]
    assert rules.prefer_fused(mode, 1, limit, 100, torch.float32, grad)
    assert not rules.prefer_fused(mode, 1, limit + 1, 100, torch.float32, grad)


@pytest.mark.parametrize("mode", list(rules.ONE_STEP_MIN_HIDDEN))
def test_one_step_rule_on_hidden_and_rows(mode):
    """A cell call (T = 1): fused from the measured hidden size on, with at most
    ONE_STEP_MAX_BATCH rows and no backward pass; torch.nn's cell otherwise, whatever the
    grid's limits say."""
    least = rules.ONE_STEP_MIN_HIDDEN[mode]
    rows = rules.ONE_STEP_MAX_BATCH
    for hidden in (16, 64, 256, 1024):
        expected = least is not None and hidden >= least
        assert rules.prefer_fused(mode, rows, hidden, 1, torch.float32, False) == expected
        assert not rules.prefer_fused(mode, rows, hidden, 1, torch.float32, True)
        assert not rules.prefer_fused(mode, rows + 1, hidden, 1, torch.float32, False)
    assert rules.prefer_fused(mode, rows + 1, 64, 1, torch.float64, False)


def test_auto_without_input_never_builds_or_takes_fused():
    with mock.patch.object(fused, "available", side_effect=AssertionError("no build")):
        assert dispatch.choose_impl(RNNSpec("lstm", 3, 4), "auto") == "native"


@pytest.mark.skipif(not fused.available(), reason="fused kernels could not be built")
def test_auto_takes_fused_where_the_rules_say_so():
    spec = RNNSpec("lstm", 3, 4)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    assert dispatch.choose_impl(spec, "auto", x) == "fused"
    with mock.patch.object(rules, "prefer_fused", return_value=False):
        assert dispatch.choose_impl(spec, "auto", x) == "native"
    # Not servable by the kernels: a GPU-less device stand-in, or half precision.
    assert dispatch.choose_impl(spec, "auto", x.half()) == "native"
    cho = RNNSpec("gru", 3, 4, reset_after=False)
    assert dispatch.choose_impl(cho, "auto", x) == "reference"


@pytest.mark.skipif(not fused.available(), reason="fused kernels could not be built")
def test_auto_module_call_runs_fused_and_passes_grad_mode():
    seen = []
    real = rules.prefer_fused

    def spy(mode, batch, hidden, steps, dtype, grad):
        seen.append((mode, batch, hidden, steps, dtype, grad))
        return real(mode, batch, hidden, steps, dtype, grad)

    gru = lk.GRU(3, 4, batch_first=True).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    with mock.patch.object(rules, "prefer_fused", side_effect=spy):
        with mock.patch.object(fused, "rnn", wraps=fused.rnn) as ran, torch.no_grad():
            gru(x)
        gru(x)
    assert ran.call_count == 1
    assert seen == [("gru", 2, 4, 5, torch.float64, False), ("gru", 2, 4, 5, torch.float64, True)]
