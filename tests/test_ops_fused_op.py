"""The operator torch.ops.lstmkit.rnn itself: gradcheck, opcheck, NaN, input errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lstmkit import nn as lk
from lstmkit.ops import dispatch, fused
from lstmkit.ops.spec import RNNSpec

pytestmark = pytest.mark.skipif(not fused.available(), reason="fused kernels could not be built")

CASES = {  # cell code, gates, proj, bias
    "lstm": (0, 4, 0, True),
    "lstm_proj": (0, 4, 2, True),
    "gru": (1, 3, 0, True),
    "gru_nobias": (1, 3, 0, False),
    "rnn_tanh": (2, 1, 0, True),
    "rnn_relu": (3, 1, 0, False),
}


def op_args(name, dirs=2, lengths=True, dtype=torch.float64, grad=True):
    code, gates, proj, bias = CASES[name]
    steps, batch, inp, hidden = 4, 3, 2, 3
    out = proj or hidden
    g = torch.Generator().manual_seed(0)

    def t(*shape):
        return (torch.randn(*shape, generator=g, dtype=dtype) * 0.5).requires_grad_(grad)

    x = t(steps, batch, inp)
    h0 = t(dirs, batch, out)
    c0 = t(dirs, batch, hidden) if code == 0 else None
    w_ih = [t(gates * hidden, inp) for _ in range(dirs)]
    w_hh = [t(gates * hidden, out) for _ in range(dirs)]
    b_ih = [t(gates * hidden) for _ in range(dirs)] if bias else []
    b_hh = [t(gates * hidden) for _ in range(dirs)] if bias else []
    w_hr = [t(proj, hidden) for _ in range(dirs)] if proj else []
    lens = torch.tensor([4, 1, 3]) if lengths else None
    return (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lens, code)


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    args = op_args(name)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lens, code = args
    flat = [x, h0, *([c0] if c0 is not None else []), *w_ih, *w_hh, *b_ih, *b_hh, *w_hr]
    sizes = [len(w_ih), len(w_hh), len(b_ih), len(b_hh), len(w_hr)]

    def fn(*tensors):
        x, h0, *rest = tensors
        c = rest.pop(0) if c0 is not None else None
        lists, at = [], 0
        for n in sizes:
            lists.append(list(rest[at : at + n]))
            at += n
        out = torch.ops.lstmkit.rnn(x, h0, c, *lists, lens, code)
        return out if code == 0 else out[:2]

    assert torch.autograd.gradcheck(fn, flat)


@pytest.mark.parametrize("name", ["lstm_proj", "gru", "rnn_relu"])
def test_opcheck(name):
    """Schema, fake (meta) kernels and autograd registration agree with the real kernels."""
    torch.library.opcheck(torch.ops.lstmkit.rnn.default, op_args(name, dtype=torch.float32))


def test_nan_propagates_like_the_reference():
    torch.manual_seed(0)
    ours, ref = lk.LSTM(3, 4, impl="fused"), lk.LSTM(3, 4, impl="reference")
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(5, 2, 3)
    x[2, 0, 1] = float("nan")
    a, b = ours(x)[0], ref(x)[0]
    assert torch.equal(a.isnan(), b.isnan()) and a.isnan().any()
    torch.testing.assert_close(a.nan_to_num(), b.nan_to_num())


def test_forced_fused_names_what_it_cannot_serve():
    with pytest.raises(ValueError, match="impl='fused': .* do not support reset_after=False"):
        lk.GRU(3, 4, reset_after=False, impl="fused")
    lstm = lk.LSTM(3, 4, impl="fused").half()
    with pytest.raises(ValueError, match=r"do not support dtype=torch.float16"):
        lstm(torch.randn(5, 2, 3, dtype=torch.float16))
    spec = RNNSpec("lstm", 3, 4)
    with pytest.raises(ValueError, match="do not support device=meta"):
        dispatch.choose_impl(spec, "fused", torch.empty(5, 2, 3, device="meta"))


def test_unsupported_names_the_option():
    assert fused.unsupported(RNNSpec("gru", 2, 3, reset_after=False)) == "reset_after=False"
    assert fused.unsupported(RNNSpec("lstm", 2, 3, layer_norm=True)) is None
    assert fused.unsupported(RNNSpec("lstm", 2, 3, peephole=True)) is None
    assert fused.unsupported(RNNSpec("gru", 2, 3, layer_norm=True)) is None
    assert fused.unsupported(RNNSpec("lstm", 2, 3, ablation="FGR")) is None
    fgr_proj = RNNSpec("lstm", 2, 3, ablation="FGR", proj_size=2)
    assert fused.unsupported(fgr_proj) == "ablation='FGR' with proj_size=2"
    assert fused.unsupported(RNNSpec("lstm", 2, 3, weight_drop=0.5)) is None
    assert fused.unsupported(RNNSpec("lstm", 2, 3, ablation="NP")) is None
    for spec in (RNNSpec("lstm", 2, 3, proj_size=1), RNNSpec("gru", 2, 3), RNNSpec("rnn", 2, 3)):
        assert fused.unsupported(spec) is None


def test_options_added_to_the_spec_later_are_refused_until_served():
    @dataclasses.dataclass(frozen=True)
    class VariantSpec(RNNSpec):
        skip_connection: bool = False

    assert fused.unsupported(VariantSpec("lstm", 2, 3)) is None
    spec = VariantSpec("lstm", 2, 3, skip_connection=True)
    assert fused.unsupported(spec) == "skip_connection=True"
    with pytest.raises(ValueError, match="do not support skip_connection=True"):
        dispatch.choose_impl(spec, "fused")


def test_kernel_rejects_inconsistent_arguments():
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lens, code = op_args("lstm", grad=False)
    with pytest.raises(RuntimeError, match="an LSTM needs c0"):
        torch.ops.lstmkit.rnn(x, h0, None, w_ih, w_hh, b_ih, b_hh, w_hr, lens, code)
    with pytest.raises(RuntimeError, match=r"h0 must be \(D, B, P\)"):
        torch.ops.lstmkit.rnn(x, h0[:1], c0, w_ih, w_hh, b_ih, b_hh, w_hr, lens, code)
    with pytest.raises(RuntimeError, match="float32 or float64"):
        torch.ops.lstmkit.rnn(x.half(), h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lens, code)


def test_cell_and_keep_mask_operators_reject_bad_arguments():
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, *_ = op_args("lstm", dirs=1, grad=False)
    with pytest.raises(RuntimeError, match=r"x and h must be \(B, I\) and \(B, P\)"):
        torch.ops.lstmkit.cell(x, h0[0], c0[0], w_ih[0], w_hh[0], b_ih[0], b_hh[0], 0, [])
    code = torch.tensor([7, 2**23])
    with pytest.raises(RuntimeError, match=r"float32 or float64, got Half"):
        torch.ops.lstmkit.keep_mask(code, 5, torch.float16)
    for bad in (code.double(), torch.tensor([7, 2**23, 1])):
        with pytest.raises(RuntimeError, match=r"hashed masks take their code as the int64"):
            torch.ops.lstmkit.keep_mask(bad, 5, torch.float32)
    # A variant's zoneout keep value given as an int64 code of the wrong size.
    spec = RNNSpec("lstm", 2, 3, zoneout=0.2)
    keeps = [x.new_empty(0)] * 3 + [torch.tensor([7, 2**23, 1]), x.new_empty(0), x.new_empty(0)]
    with pytest.raises(RuntimeError, match=r"hashed masks take their code as the int64"):
        torch.ops.lstmkit.rnn_variant(
            x, h0, c0, w_ih, w_hh, b_ih, b_hh, [], None, fused.cell_code(spec), keeps
        )


def test_backward_skips_unneeded_gradients():
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lens, code = op_args("lstm", dirs=1)
    x.requires_grad_(False)
    out = torch.ops.lstmkit.rnn(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lens, code)
    out[0].sum().backward()
    assert x.grad is None and w_ih[0].grad is not None and h0.grad is not None


def test_double_backward_is_refused_with_a_clear_error():
    lstm = lk.LSTM(3, 4, impl="fused")
    out = lstm(torch.randn(5, 2, 3))[0]
    with pytest.raises(RuntimeError, match=r"do not support double backward \(create_graph=True\)"):
        torch.autograd.grad(out.sum(), list(lstm.parameters()), create_graph=True)
