"""The native path (torch's fused kernels) against the reference ops, same weights."""

from __future__ import annotations

import pytest
import torch

from helpers import (
    KINDS,
    MATRIX,
    B,
    I,
    T,
    assert_parity,
    build_pair,
    make_state,
    random_lengths,
    run_ours,
)
from lstmkit.ops import native
from lstmkit.ops.spec import RNNSpec


def run_native_vs_reference(kind, case, dtype):
    layers, bidir, batch_first, bias, with_hx, with_lengths = case
    ours_ref, theirs = build_pair(kind, layers, bidir, batch_first, bias, dtype, "reference")
    ours_nat = type(ours_ref).from_torch(theirs, impl="native")
    g = torch.Generator().manual_seed(5)
    x = torch.randn((B, T, I) if batch_first else (T, B, I), generator=g, dtype=dtype)
    hx = make_state(theirs, B, dtype) if with_hx else None
    lengths = random_lengths(B, T, seed=1) if with_lengths else None
    assert_parity(ours_nat, ours_ref, x, hx, lengths, run_a=run_ours, run_b=run_ours)


@pytest.mark.parametrize("case", MATRIX, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("kind", list(KINDS))
def test_native_matches_reference_float64(kind, case):
    run_native_vs_reference(kind, case, torch.float64)


@pytest.mark.parametrize("case", MATRIX[1::7], ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("kind", list(KINDS))
def test_native_matches_reference_float32(kind, case):
    run_native_vs_reference(kind, case, torch.float32)


def test_unsupported_names_the_option():
    assert native.unsupported(RNNSpec("gru", 2, 3, reset_after=False)) == "reset_after=False"
    for spec in (RNNSpec("lstm", 2, 3, proj_size=1), RNNSpec("gru", 2, 3), RNNSpec("rnn", 2, 3)):
        assert native.unsupported(spec) is None
