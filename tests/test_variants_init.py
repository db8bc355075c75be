"""Initial values of the variant parameters and of the forget bias, under both schemes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstmkit import nn as lk
from variant_cases import H, I, inputs


@pytest.mark.parametrize("init", ["lstmkit", "torch"])
def test_variant_parameters_start_as_the_cell_they_modify(init):
    lstm = lk.LSTM(I, H, num_layers=2, bidirectional=True, peephole=True, layer_norm=True,
                   init=init)  # fmt: skip
    fgr = lk.LSTMCell(I, H, ablation="FGR", init=init)
    for name, p in [*lstm.named_parameters(), *fgr.named_parameters()]:
        if name.startswith("ln_") and "_weight" in name:
            assert torch.all(p == 1), name
        elif name.startswith(("ln_", "weight_c", "weight_gg")):
            assert not p.any(), name


def test_with_zero_peepholes_and_gate_recurrence_a_new_module_is_the_plain_lstm():
    torch.manual_seed(0)
    plain = lk.LSTM(I, H, num_layers=2, dtype=torch.float64)
    x = inputs()
    for options in ({"peephole": True}, {"ablation": "FGR"}):
        variant = lk.LSTM(I, H, num_layers=2, dtype=torch.float64, **options)
        variant.load_state_dict(plain.state_dict(), strict=False)  # the variant's own stay 0
        torch.testing.assert_close(variant(x)[0], plain(x)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        (nn.LSTM, {"num_layers": 2, "bidirectional": True, "proj_size": 2}),
        (nn.GRU, {"num_layers": 2}),
        (nn.LSTMCell, {}),
    ],
)
def test_torch_init_still_reproduces_torch_with_variants_present(cls, kw):
    variant = {"layer_norm": True, "zoneout": 0.1}
    if cls is not nn.GRU:
        variant |= {"peephole": True}
    torch.manual_seed(42)
    theirs = cls(I, H, **kw)
    torch.manual_seed(42)
    ours = getattr(lk, cls.__name__)(I, H, init="torch", **kw, **variant)
    ours_state = ours.state_dict()
    for name, value in theirs.state_dict().items():
        assert torch.equal(ours_state[name], value), name


def test_forget_bias_default_and_explicit():
    b_f = slice(H, 2 * H)  # gate order i, f, g, o
    lstm = lk.LSTM(I, H)
    assert torch.all(lstm.bias_ih_l0[b_f] == 1) and not lstm.bias_hh_l0[b_f].any()
    lstm = lk.LSTM(I, H, forget_bias=2.5, bidirectional=True)
    for sfx in ("_l0", "_l0_reverse"):
        assert torch.all(getattr(lstm, f"bias_ih{sfx}")[b_f] == 2.5)
        assert not getattr(lstm, f"bias_hh{sfx}")[b_f].any()
    torch.manual_seed(1)
    theirs = nn.LSTMCell(I, H)
    torch.manual_seed(1)
    ours = lk.LSTMCell(I, H, init="torch", forget_bias=-1.0)
    assert torch.all(ours.bias_ih[b_f] == -1) and not ours.bias_hh[b_f].any()
    keep = torch.ones(4 * H, dtype=torch.bool)
    keep[b_f] = False
    assert torch.equal(ours.bias_ih[keep], theirs.bias_ih[keep])  # the rest is torch's draw
    torch.manual_seed(1)
    untouched = lk.LSTMCell(I, H, init="torch")  # None under "torch": torch's draw
    assert torch.equal(untouched.bias_ih, theirs.bias_ih)


def test_forget_bias_goes_into_the_layer_norm_bias_without_biases():
    lstm = lk.LSTM(I, H, bias=False, layer_norm=True, forget_bias=3.0)
    ln_b = lstm.ln_ih_bias_l0.detach()
    assert torch.all(ln_b[H : 2 * H] == 3) and not ln_b[:H].any() and not ln_b[2 * H :].any()
    lstm.reset_parameters()
    assert torch.all(lstm.ln_ih_bias_l0[H : 2 * H] == 3)
