"""Variant options as arguments: the bad-argument table, which implementation runs them,
conversion to torch.nn, JSON-friendly values, parameter names, saving and loading."""

from __future__ import annotations

import json
from unittest import mock

import pytest
import torch

from lstmkit import nn as lk
from lstmkit.ops import dispatch, fused, native, reference, rules
from lstmkit.ops.spec import RNNSpec
from variant_cases import GRU_VARIANTS, LSTM_VARIANTS, H, I, build, inputs, states

# fmt: off
BAD = [
    # (id, call, exception, message pattern)
    ("zoneout above 1", lambda: lk.LSTM(I, H, zoneout=1.5), ValueError,
     r"zoneout: expected a number in \[0, 1\] or a pair \(z_c, z_h\) of them, got 1.5"),
    ("zoneout negative in pair", lambda: lk.LSTM(I, H, zoneout=(0.1, -0.1)), ValueError,
     r"zoneout: expected .* got \(0.1, -0.1\)"),
    ("zoneout triple", lambda: lk.LSTM(I, H, zoneout=[0.1, 0.1, 0.1]), ValueError,
     r"got \[0.1, 0.1, 0.1\]"),
    ("zoneout text", lambda: lk.GRU(I, H, zoneout="0.1"), ValueError, "got '0.1'"),
    ("zoneout pair for GRU", lambda: lk.GRU(I, H, zoneout=(0.1, 0.2)), ValueError,
     r"zoneout: GRU has no cell state, expected one number z_h in \[0, 1\], got \(0.1, 0.2\)"),
    ("recurrent_dropout 1", lambda: lk.LSTM(I, H, recurrent_dropout=1.0), ValueError,
     r"recurrent_dropout: expected a number in \[0, 1\), got 1.0"),
    ("weight_drop negative", lambda: lk.GRU(I, H, weight_drop=-0.1), ValueError,
     r"weight_drop: expected a number in \[0, 1\), got -0.1"),
    ("weight_drop bool", lambda: lk.LSTM(I, H, weight_drop=True), ValueError, "got True"),
    ("peephole not bool", lambda: lk.LSTM(I, H, peephole=1), TypeError,
     "peephole: expected a bool, got 1"),
    ("layer_norm not bool", lambda: lk.GRU(I, H, layer_norm="yes"), TypeError,
     "layer_norm: expected a bool, got 'yes'"),
    ("unknown activation", lambda: lk.LSTM(I, H, activation="gelu"), ValueError,
     "activation: expected one of 'tanh', 'sigmoid', 'hard_sigmoid', 'relu', got 'gelu'"),
    ("unknown recurrent_activation", lambda: lk.GRU(I, H, recurrent_activation="softsign"),
     ValueError, "recurrent_activation: expected one of .* got 'softsign'"),
    ("unknown ablation", lambda: lk.LSTM(I, H, ablation="NXG"), ValueError,
     "ablation: expected one of 'NIG', 'NFG', 'NOG', 'NIAF', 'NOAF', 'NP', 'CIFG', 'FGR' "
     r"\(Greff et al. 2017\) or None, got 'NXG'"),
    ("lowercase ablation", lambda: lk.LSTM(I, H, ablation="cifg"), ValueError, "got 'cifg'"),
    ("coupled_gates with ablation", lambda: lk.LSTM(I, H, coupled_gates=True, ablation="NIG"),
     ValueError, "coupled_gates: cannot be combined with ablation='NIG'; ablation='CIFG' is"),
    ("peephole with NP", lambda: lk.LSTM(I, H, peephole=True, ablation="NP"), ValueError,
     r"peephole: True contradicts ablation='NP' \(no peepholes\)"),
    ("layer_norm Cho GRU", lambda: lk.GRU(I, H, reset_after=False, layer_norm=True),
     ValueError, "layer_norm: GRU supports it only with reset_after=True"),
    ("peephole on GRU", lambda: lk.GRU(I, H, peephole=True), ValueError,
     r"peephole: an option of LSTM only, not of GRU \(got peephole=True\)"),
    ("ablation on GRUCell", lambda: lk.GRUCell(I, H, ablation="NIG"), ValueError,
     "ablation: an option of LSTM only, not of GRU"),
    ("zoneout on RNN", lambda: lk.RNN(I, H, zoneout=0.1), ValueError,
     "zoneout: an option of LSTM and GRU only, not of RNN"),
    ("activation on RNN", lambda: lk.RNNCell(I, H, activation="relu"), ValueError,
     "activation: an option of LSTM and GRU only, not of RNN"),
    ("proj_size with GRU", lambda: lk.GRU(I, H, proj_size=2, layer_norm=True), ValueError,
     "proj_size: only LSTM supports a projection"),
    ("forced native", lambda: lk.LSTM(I, H, peephole=True, impl="native"), ValueError,
     r"impl='native': torch's fused LSTM kernel does not support peephole=True; "
     r"use impl='reference' or impl='auto'"),
    ("forced native zoneout", lambda: lk.GRU(I, H, zoneout=0.1, impl="native"), ValueError,
     "GRU kernel does not support zoneout=0.1"),
    ("forced native cell", lambda: lk.LSTMCell(I, H, ablation="FGR", impl="native"),
     ValueError, "does not support ablation='FGR'"),
    ("recurrent_dropout on a cell", lambda: lk.LSTMCell(I, H, recurrent_dropout=0.2),
     ValueError, "recurrent_dropout: LSTMCell sees one step at a time and cannot keep one "
     r"mask per sequence; use lstmkit.nn.LSTM \(got recurrent_dropout=0.2\)"),
    ("weight_drop on a cell", lambda: lk.GRUCell(I, H, weight_drop=0.2), ValueError,
     "weight_drop: GRUCell sees one step .* use lstmkit.nn.GRU"),
    ("forget_bias on GRU", lambda: lk.GRU(I, H, forget_bias=1.0), TypeError,
     "forget_bias: an option of LSTM only, GRU has no forget gate"),
    ("forget_bias text", lambda: lk.LSTM(I, H, forget_bias="1"), TypeError,
     "forget_bias: expected a number or None, got '1'"),
    ("forget_bias without bias", lambda: lk.LSTMCell(I, H, bias=False, forget_bias=1.0),
     ValueError, r"forget_bias: needs a bias to hold it \(bias=True or layer_norm=True\)"),
    ("unknown option", lambda: lk.LSTM(I, H, peepholes=True), TypeError, "peepholes"),
    ("to_torch with a variant",
     lambda: lk.LSTM(I, H, layer_norm=True, zoneout=0.1).to_torch(), ValueError,
     r"module: torch.nn.LSTM has no layer_norm=True, zoneout=\(0.1, 0.1\); only a module "
     "without variants converts"),
    ("to_torch cell with activation", lambda: lk.GRUCell(I, H, activation="relu").to_torch(),
     ValueError, "module: torch.nn.GRUCell has no activation='relu'"),
    ("FGR hx without gates shape", lambda: lk.LSTM(I, H, ablation="FGR")(
        torch.randn(2, 1, I), (torch.zeros(1, 1, H), torch.zeros(1, 1, H), torch.zeros(1, 1, H))),
     ValueError, r"hx\[2\] \(q_0\): expected shape \(1, 1, 12\) = \(L\*D, B, 3H\)"),
    ("FGR hx of four", lambda: lk.LSTMCell(I, H, ablation="FGR")(
        torch.randn(2, I), (torch.zeros(2, H),) * 4), TypeError,
     r"hx: expected a tuple \(h, c, q\) of three tensors, got a tuple of 4"),
]
# fmt: on


@pytest.mark.parametrize(("call", "exc", "pattern"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_arguments_raise_clear_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "native"),
        ({"weight_drop": 0.3}, "native"),  # DropConnect happens before the kernel
        ({"ablation": "NP"}, "native"),  # the standard LSTM
        ({"peephole": True}, "fused"),  # the variants the fused kernels serve
        ({"layer_norm": True, "bidirectional": True}, "fused"),
        ({"zoneout": 0.1}, "fused"),
        ({"recurrent_dropout": 0.1}, "fused"),
        ({"activation": "relu"}, "fused"),
        ({"ablation": "FGR"}, "fused"),
        ({"ablation": "FGR", "proj_size": 2}, "reference"),
        ({"zoneout": 0.0, "recurrent_dropout": 0}, "native"),  # values at their defaults
    ],
)
def test_auto_runs_native_unless_a_variant_needs_the_reference(kwargs, expected):
    lstm = lk.LSTM(I, H, **kwargs)
    # without an input (at construction) auto answers without the fused kernels
    static = "reference" if expected == "fused" else expected
    if expected == "fused" and not fused.available():
        expected = "reference"
    calls = []

    def spy(name, fn):
        def run(*args):
            calls.append(name)
            return fn(*args)

        return run

    with (
        mock.patch.object(native, "rnn", spy("native", native.rnn)),
        mock.patch.object(reference, "rnn", spy("reference", reference.rnn)),
        mock.patch.object(fused, "rnn", spy("fused", fused.rnn)),
        # Where the fused kernels also serve, rules.py may prefer them (test_ops_rules.py).
        mock.patch.object(rules, "prefer_fused", return_value=False),
    ):
        lstm(torch.randn(4, 2, I))
    assert calls == [expected]
    assert dispatch.choose_impl(lstm.spec, "auto") == static


def test_unsupported_names_the_first_variant_in_the_way():
    assert native.unsupported(RNNSpec("lstm", I, H, coupled_gates=True)) == "coupled_gates=True"
    assert native.unsupported(RNNSpec("gru", I, H, zoneout=0.2)) == "zoneout=0.2"
    assert native.unsupported(RNNSpec("lstm", I, H, weight_drop=0.5)) is None


def test_options_are_plain_json_values():
    """What a Keras-style layer stores in a JSON config rebuilds the same module (lists
    stand for tuples)."""
    options = {"zoneout": [0.1, 0.2], "recurrent_dropout": 0.25, "weight_drop": 0.1,
               "layer_norm": True, "peephole": True, "activation": "hard_sigmoid",
               "recurrent_activation": "tanh", "forget_bias": 2.0}  # fmt: skip
    restored = json.loads(json.dumps(options))
    lstm = lk.LSTM(I, H, **restored)
    assert lstm.spec.zoneout == (0.1, 0.2)
    assert json.loads(json.dumps(lstm.spec.variant_options())) == {
        k: v for k, v in options.items() if k != "forget_bias"
    }
    ablation = json.loads(json.dumps({"ablation": "CIFG"}))
    assert lk.LSTMCell(I, H, **ablation).spec.ablation == "CIFG"


def test_repr_names_the_variants():
    assert repr(lk.LSTM(I, H, peephole=True, zoneout=0.1, forget_bias=2.0)) == (
        "LSTM(3, 4, peephole=True, zoneout=(0.1, 0.1), forget_bias=2.0)"
    )
    assert repr(lk.GRUCell(I, H, layer_norm=True, zoneout=0.3)) == (
        "GRUCell(3, 4, layer_norm=True, zoneout=0.3)"
    )


def test_parameter_names_and_shapes():
    lstm = lk.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=2, peephole=True,
                   layer_norm=True)  # fmt: skip
    shapes = {n: tuple(p.shape) for n, p in lstm.named_parameters()}
    for sfx in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
        assert shapes[f"weight_ci{sfx}"] == shapes[f"weight_cf{sfx}"] == (H,)
        assert shapes[f"weight_co{sfx}"] == (H,)
        assert shapes[f"ln_ih_weight{sfx}"] == shapes[f"ln_hh_bias{sfx}"] == (4 * H,)
        assert shapes[f"ln_c_weight{sfx}"] == shapes[f"ln_c_bias{sfx}"] == (H,)
        assert shapes[f"weight_hr{sfx}"] == (2, H)
    assert shapes["weight_ih_l1"] == (4 * H, 4)  # D * P inputs
    fgr = {n: tuple(p.shape) for n, p in lk.LSTMCell(I, H, ablation="FGR").named_parameters()}
    assert fgr["weight_gg"] == (3 * H, 3 * H) and "weight_ci" in fgr
    cifg = dict(lk.LSTM(I, H, ablation="CIFG").named_parameters())
    assert "weight_cf_l0" not in cifg and "weight_ci_l0" in cifg  # f = 1 - i has no peephole
    gru = dict(lk.GRU(I, H, layer_norm=True).named_parameters())
    assert gru["ln_hh_weight_l0"].shape == (3 * H,) and "ln_c_weight_l0" not in gru


ALL = [(lk.LSTM, o) for o in LSTM_VARIANTS.values()] + [(lk.GRU, o) for o in GRU_VARIANTS.values()]
ALL += [(lk.LSTM, {"recurrent_dropout": 0.2, "weight_drop": 0.3})]


@pytest.mark.parametrize(("cls", "options"), ALL, ids=lambda v: getattr(v, "__name__", str(v)))
def test_every_variant_saves_and_loads(cls, options):
    """A state_dict restores a fresh module with the same options exactly."""
    ours = build(cls, I, H, num_layers=2, bidirectional=True, **options)
    state = {k: v.clone() for k, v in ours.state_dict().items()}
    fresh = cls(I, H, num_layers=2, bidirectional=True, dtype=torch.float64, **options).eval()
    fresh.load_state_dict(state)
    x, hx = inputs(), states(ours)
    a, b = ours(x, hx, lengths=[5, 2, 4]), fresh(x, hx, lengths=[5, 2, 4])
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
    for u, v in zip(a[1], b[1], strict=True):
        torch.testing.assert_close(u, v, rtol=0, atol=0)
