"""Variants combined with layers, directions, batch_first, lengths, initial states and
projection, in evaluation and in training (with the masks that were drawn), against the
independent implementation: outputs, final states and every gradient."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from helpers import as_tuple, assert_parity, run_ours
from lstmkit import nn as lk
from variant_cases import LENGTHS, H, I, build, inputs, states
from variant_oracle import Oracle, capture_masks

BUNDLES = [
    (lk.LSTM, {"peephole": True, "layer_norm": True, "zoneout": (0.2, 0.3),
               "recurrent_activation": "hard_sigmoid"}),
    (lk.LSTM, {"ablation": "CIFG", "recurrent_dropout": 0.3, "weight_drop": 0.2}),
    (lk.LSTM, {"ablation": "FGR", "activation": "relu", "zoneout": 0.1}),
    (lk.LSTM, {"coupled_gates": True, "recurrent_dropout": 0.2, "forget_bias": 2.0}),
    (lk.GRU, {"layer_norm": True, "zoneout": 0.3, "recurrent_dropout": 0.2}),
    (lk.GRU, {"reset_after": False, "weight_drop": 0.3, "activation": "sigmoid"}),
]  # fmt: skip
# (layers, bidirectional, batch_first, lengths, initial state)
STRUCTURES = list(itertools.product((1, 2), (False, True), (False, True), (False, True), (True,)))
STRUCTURES += [(2, True, False, True, False), (1, False, True, False, False)]
CASES = [
    (k % len(BUNDLES), structure, k % 2 == 1)  # bundle, structure, training
    for k, structure in enumerate(STRUCTURES + STRUCTURES[:4])
]


def _id(case):
    bundle, (layers, bidir, bf, lengths, hx), training = case
    flags = f"L{layers}{'-bi' if bidir else ''}{'-bf' if bf else ''}"
    flags += f"{'-len' if lengths else ''}{'-hx' if hx else ''}"
    return f"{bundle}-{flags}-{'train' if training else 'eval'}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_variants_combine_with_the_stack_options(case, monkeypatch):
    bundle, (layers, bidir, batch_first, with_lengths, with_hx), training = case
    cls, options = BUNDLES[bundle]
    proj = {"proj_size": 2} if cls is lk.LSTM and layers == 2 and bundle % 2 == 0 else {}
    ours = build(cls, I, H, num_layers=layers, bidirectional=bidir, batch_first=batch_first,
                 **options, **proj)  # fmt: skip
    ours.train(training)
    captured = capture_masks(monkeypatch)
    oracle = Oracle(ours, captured if training else None)
    hx = states(ours) if with_hx else None
    lengths = LENGTHS if with_lengths else None
    torch.manual_seed(0)
    assert_parity(ours, oracle, inputs(batch_first), hx, lengths, run_a=run_ours, run_b=run_ours)


@pytest.mark.parametrize("cls", [lk.LSTM, lk.GRU])
def test_packed_and_unbatched_inputs_run_the_variants(cls):
    """A PackedSequence gives what ``lengths=`` gives; unbatched (T, I) what a batch of one
    gives."""
    rnn = build(cls, I, H, num_layers=2, bidirectional=True, layer_norm=True, zoneout=0.2)
    x = inputs()
    out, state = rnn(x, lengths=LENGTHS)
    packed = pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
    p_out, p_state = rnn(packed)
    torch.testing.assert_close(pad_packed_sequence(p_out, total_length=x.shape[0])[0], out)
    for a, b in zip(as_tuple(p_state), as_tuple(state), strict=True):
        torch.testing.assert_close(a, b)
    u_out, u_state = rnn(x[:, 0])
    torch.testing.assert_close(u_out, rnn(x[:, :1])[0][:, 0])
    assert as_tuple(u_state)[0].shape == (4, H)
