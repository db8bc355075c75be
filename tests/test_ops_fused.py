"""The fused CPU kernels against the reference ops: outputs, states and every gradient."""

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
from lstmkit.ops import fused

pytestmark = pytest.mark.skipif(not fused.available(), reason="fused kernels could not be built")


def run_fused_vs_reference(kind, case, dtype):
    layers, bidir, batch_first, bias, with_hx, with_lengths = case
    ours_ref, theirs = build_pair(kind, layers, bidir, batch_first, bias, dtype, "reference")
    ours_fused = type(ours_ref).from_torch(theirs, impl="fused")
    g = torch.Generator().manual_seed(5)
    x = torch.randn((B, T, I) if batch_first else (T, B, I), generator=g, dtype=dtype)
    hx = make_state(theirs, B, dtype) if with_hx else None
    lengths = random_lengths(B, T, seed=1) if with_lengths else None
    assert_parity(ours_fused, ours_ref, x, hx, lengths, run_a=run_ours, run_b=run_ours)


@pytest.mark.parametrize("case", MATRIX, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("kind", list(KINDS))
def test_fused_matches_reference_float64(kind, case):
    run_fused_vs_reference(kind, case, torch.float64)


@pytest.mark.parametrize("case", MATRIX, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("kind", list(KINDS))
def test_fused_matches_reference_float32(kind, case):
    run_fused_vs_reference(kind, case, torch.float32)
