"""impl selection: auto takes native where it serves, forced choices fail loudly."""

from __future__ import annotations

from unittest import mock

import pytest
import torch

from lstmkit import nn as lk
from lstmkit.ops import dispatch, native, reference, rules
from lstmkit.ops.spec import RNNSpec


@pytest.fixture
def native_over_fused():
    """The rules' choice between fused and native is tested in test_ops_rules.py."""
    with mock.patch.object(rules, "prefer_fused", return_value=False):
        yield


def test_choose_impl_rules():
    lstm = RNNSpec("lstm", 3, 4, proj_size=2, bidirectional=True)
    cho = RNNSpec("gru", 3, 4, reset_after=False)
    assert dispatch.choose_impl(lstm, "auto") == "native"
    assert dispatch.choose_impl(lstm, "reference") == "reference"
    assert dispatch.choose_impl(cho, "auto") == "reference"
    with pytest.raises(ValueError, match="does not support reset_after=False"):
        dispatch.choose_impl(cho, "native")


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (lk.LSTM(3, 4), "native"),
        (lk.GRU(3, 4, reset_after=False), "reference"),
        (lk.LSTM(3, 4, impl="reference"), "reference"),
    ],
)
def test_modules_run_the_chosen_implementation(module, expected, native_over_fused):
    calls = []
    with (
        mock.patch.object(
            native, "rnn", side_effect=lambda *a: calls.append("native") or _zeros(*a)
        ),
        mock.patch.object(
            reference, "rnn", side_effect=lambda *a: calls.append("reference") or _zeros(*a)
        ),
    ):
        module(torch.randn(5, 2, 3))
    assert calls == [expected]


def _zeros(spec, x, hx, weights, *rest):
    return x.new_zeros(x.shape[0], x.shape[1], spec.hidden_size), hx


def test_full_lengths_skip_masking_and_packing(native_over_fused):
    seen = {}

    def spy(spec, x, hx, weights, lengths, training):
        seen["lengths"] = lengths
        return _zeros(spec, x, hx, weights)

    with mock.patch.object(native, "rnn", side_effect=spy):
        lstm = lk.LSTM(3, 4)
        lstm(torch.randn(5, 2, 3), lengths=[5, 5])
    assert seen["lengths"] is None
