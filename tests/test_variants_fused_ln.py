"""The layer-normalised LSTM and GRU in the fused CPU kernels (ops/fused_ln.py,
cpu/ln_loop.cpp), against the independent implementation of the equations (variant_oracle)
in float64 and against the reference ops in float32: outputs, final states and every
gradient (the LN gains and biases included), with layers, both directions and lengths;
combined with peepholes, activations, zoneout and recurrent dropout (training mode: the
reference's masks for the same seed); gradcheck and opcheck of the operator; sizes that
split the units of a direction over threads."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_parity, run_ours
from lstmkit import nn as lk
from lstmkit.ops import dispatch, fused, fused_ln
from lstmkit.ops.spec import RNNSpec
from variant_cases import F64, LENGTHS, H, I, build, inputs, states
from variant_oracle import Oracle, capture_masks

pytestmark = pytest.mark.skipif(not fused.available(), reason="fused kernels could not be built")
IMPLS = ("fused", "reference")

LSTM_LN = {
    "peephole+relu+hard_sigmoid": {
        "peephole": True,
        "activation": "relu",
        "recurrent_activation": "hard_sigmoid",
    },
    "zoneout+recurrent_dropout": {"zoneout": (0.3, 0.5), "recurrent_dropout": 0.2},
    "sigmoid+tanh-no-bias": {
        "activation": "sigmoid",
        "recurrent_activation": "tanh",
        "bias": False,
    },
}
GRU_LN = {
    "recurrent_dropout+zoneout": {"recurrent_dropout": 0.3, "zoneout": 0.2},
    "relu": {"activation": "relu"},
}


def _pair(cls, dtype=F64, **options):
    return [
        build(
            cls, I, H, num_layers=2, bidirectional=True, impl=impl, layer_norm=True, **options
        ).to(dtype)
        for impl in IMPLS
    ]


@pytest.mark.parametrize("options", LSTM_LN.values(), ids=LSTM_LN.keys())
def test_fused_ln_lstm_matches_the_equations_and_the_reference(options):
    ours, ref = _pair(lk.LSTM, **options)
    assert dispatch.choose_impl(ours.spec, "fused", inputs()) == "fused"
    assert_parity(ours, Oracle(ours), inputs(), states(ours), LENGTHS, run_ours, run_ours)
    if not options.get("bias", True):
        return  # float32: the other cases (here both sides' rounding reaches 2e-5 on a few)
    pair = [m.float() for m in (ours, ref)]
    hx = tuple(s.float() for s in states(ours))
    assert_parity(*pair, inputs().float(), hx, LENGTHS, run_ours, run_ours)


@pytest.mark.parametrize("options", GRU_LN.values(), ids=GRU_LN.keys())
def test_fused_ln_gru_matches_the_equations_and_the_reference(options):
    ours, ref = _pair(lk.GRU, **options)
    assert_parity(ours, Oracle(ours), inputs(), states(ours), LENGTHS, run_ours, run_ours)
    pair = [m.float() for m in (ours, ref)]
    assert_parity(*pair, inputs().float(), states(ours).float(), LENGTHS, run_ours, run_ours)


@pytest.mark.parametrize("cls", [lk.LSTM, lk.GRU], ids=["lstm", "gru"])
def test_training_mode_same_seed_same_result_as_the_reference(cls, monkeypatch):
    """The fused path draws the reference's masks in the same order and computes the
    equations with them (the oracle is fed the masks that were drawn)."""
    options = {"zoneout": 0.3 if cls is lk.GRU else (0.3, 0.4), "recurrent_dropout": 0.3}
    if cls is lk.LSTM:
        options["peephole"] = True
    ours, ref = (m.train() for m in _pair(cls, **options))
    results = []
    for module in (ours, ref):
        torch.manual_seed(11)
        out, state = module(inputs(), states(module), lengths=LENGTHS)
        state = state if isinstance(state, tuple) else (state,)
        loss = out.square().sum() + sum(s.sum() for s in state)
        results.append([out, *state, *torch.autograd.grad(loss, list(module.parameters()))])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    captured = capture_masks(monkeypatch)
    torch.manual_seed(0)
    assert_parity(ours, Oracle(ours, captured), inputs(), states(ours), LENGTHS, run_ours, run_ours)


@pytest.mark.parametrize("cls", [lk.LSTMCell, lk.GRUCell], ids=["lstm", "gru"])
def test_fused_ln_cell_matches_the_equations(cls):
    ours = build(cls, I, H, impl="fused", layer_norm=True)
    oracle = Oracle(ours)
    x = inputs()[0].requires_grad_()  # (B, I)
    hx = states(ours)
    hx = tuple(s[0] for s in hx) if isinstance(hx, tuple) else hx[0]
    results = []
    for module, run in ((ours, ours), (oracle, oracle.cell)):
        out = run(x, hx)
        out = out if isinstance(out, tuple) else (out,)
        loss = sum((o * torch.linspace(-1, 1, o.numel(), dtype=F64).view_as(o)).sum() for o in out)
        results.append([*out, *torch.autograd.grad(loss, [x, *module.parameters()])])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def _assert_wide_layer_matches_reference(cls, x, lengths, hidden=101, **kw):
    """A layer-normalised layer with zoneout and recurrent dropout, H = 101 (several unit
    blocks and a tail), trained one step: outputs, states and gradients as the reference's."""
    options = {"zoneout": 0.2, "recurrent_dropout": 0.25, "layer_norm": True, **kw}
    pair = [cls(7, hidden, impl=impl, dtype=F64, **options).train() for impl in IMPLS]
    pair[1].load_state_dict(pair[0].state_dict())
    results = []
    for module in pair:
        torch.manual_seed(3)
        out, state = module(x, lengths=lengths)
        state = state if isinstance(state, tuple) else (state,)
        (out.square().sum() + sum(s.sum() for s in state)).backward()
        results.append([out, *state, *(p.grad for p in module.parameters())])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cls", [lk.LSTM, lk.GRU], ids=["lstm", "gru"])
def test_wide_layer_splits_units_over_threads_like_the_reference(cls):
    """Enough work per step (H = 181) for the loop to split the units of the direction over
    two threads, whose row statistics and gain and bias gradients must agree. B = 5: too few
    rows to split them (team.h)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(2)  # 2 B 4H H = 1.3 MFLOP a step: 5x ln_threads' share per thread
    try:
        assert torch.ops.lstmkit.team_size(2) == 2
        x = torch.randn(6, 5, 7, dtype=F64)
        _assert_wide_layer_matches_reference(cls, x, torch.tensor([6, 2, 5, 1, 3]), hidden=181)
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize("cls", [lk.LSTM, lk.GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize("threads,bidir", [(2, False), (4, True)])
def test_threads_split_the_batch_rows_like_the_reference(cls, threads, bidir):
    """B = 19, a row tile per thread or more: each thread normalises and steps its own rows,
    forward and backward, with no barrier per step (team.h, split_rows)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.randn(5, 19, 7, dtype=F64)
        lengths = torch.tensor([5, 2, 5, 4, 1, 3, 5, 4, 5, 5, 2, 5, 3, 5, 1, 5, 4, 5, 5])
        _assert_wide_layer_matches_reference(cls, x, lengths, bidirectional=bidir)
    finally:
        torch.set_num_threads(saved)


def _op_args(mode: str, peephole: bool):
    """Tiny inputs of lstmkit::ln_fwd: one direction, masks for zoneout and dropout."""
    g = torch.Generator().manual_seed(2)

    def t(*shape):
        return (0.5 * torch.randn(*shape, generator=g, dtype=F64)).requires_grad_()

    spec = RNNSpec(mode, I, H, layer_norm=True, peephole=peephole, zoneout=0.3)
    rows, steps, batch = spec.gate_count * H, 3, 2
    lstm = mode == "lstm"
    gx, h0 = t(steps, batch, rows), t(1, batch, H)
    g_ih, b_ih = t(1, rows), t(1, rows)
    c0 = t(1, batch, H) if lstm else None
    w_hh, g_hh, b_hh = t(1, rows, H), t(1, rows), t(1, rows)
    g_c, b_c = (t(1, H), t(1, H)) if lstm else (gx.new_empty(0, H), gx.new_empty(0, H))
    peeps = [t(H) if peephole else gx.new_empty(0) for _ in range(3)]
    keep = torch.bernoulli(torch.full((steps, batch, H), 0.5, dtype=F64), generator=g)
    mask = torch.bernoulli(torch.full((batch, H), 0.7, dtype=F64), generator=g) / 0.7
    keep_c = keep if lstm else gx.new_empty(0)
    var = [*peeps, keep_c, gx.new_full((1,), 0.3), mask]
    lengths = torch.tensor([3, 2])
    code = fused.cell_code(spec)
    return gx, g_ih, b_ih, h0, c0, w_hh, g_hh, b_hh, g_c, b_c, lengths, code, var, True


@pytest.mark.parametrize(("mode", "peephole"), [("lstm", True), ("gru", False)])
def test_gradcheck_of_the_ln_operator(mode, peephole):
    """Every input with a gradient, the input side's normalisation (in the loop forward,
    torch's layer-norm backward from the kept statistics) included."""
    gx, g_ih, b_ih, h0, c0, w_hh, g_hh, b_hh, g_c, b_c, lengths, code, var, _ = _op_args(
        mode, peephole
    )
    peeps = [p for p in var[:3] if p.numel()]
    lstm_only = [c0, g_c, b_c] if mode == "lstm" else []
    var_empty = (g_c, b_c)

    def fn(gx, g_ih, b_ih, h0, w_hh, g_hh, b_hh, *rest):
        c0, g_c, b_c = rest[:3] if mode == "lstm" else (None, *var_empty)
        ps = iter(rest[3:] if mode == "lstm" else rest)
        v = [next(ps) if p.numel() else p for p in var[:3]] + var[3:]
        args = (gx, g_ih, b_ih, h0, c0, w_hh, g_hh, b_hh, g_c, b_c, lengths, code, v, True)
        return torch.ops.lstmkit.ln_fwd(*args)[:3]

    inputs = (gx, g_ih, b_ih, h0, w_hh, g_hh, b_hh, *lstm_only, *peeps)
    assert torch.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_opcheck_of_the_ln_operator(mode):
    args = _op_args(mode, mode == "lstm")
    torch.library.opcheck(torch.ops.lstmkit.ln_fwd.default, args)


def test_ln_operator_names_a_gain_of_the_wrong_size():
    gx, g_ih, *rest = _op_args("lstm", False)
    rows = 4 * H
    with pytest.raises(
        RuntimeError,
        match=rf"gains and biases must be \(D, G\*H\) = \(1, {rows}\), got \[1, {rows - 1}\]",
    ):
        torch.ops.lstmkit.ln_fwd(gx, g_ih[:, 1:], *rest)  # fmt: skip


def test_without_saving_the_kernel_keeps_one_step_and_gives_the_same_result():
    for lstm, mode in ((True, "lstm"), (False, "gru")):
        *args, _ = _op_args(mode, lstm)
        with torch.no_grad():
            saved = torch.ops.lstmkit.ln_fwd(*args, True)
            kept = torch.ops.lstmkit.ln_fwd(*args, False)
        assert saved[3].shape == (1, fused_ln.workspace_size(lstm, 3, 2, H))
        assert kept[3].shape == (1, fused_ln.workspace_size(lstm, 1, 2, H))
        for a, b in zip(saved[:3], kept[:3], strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_auto_takes_fused_for_layer_norm_on_the_cpu():
    for mode in ("lstm", "gru"):
        spec = RNNSpec(mode, I, H, layer_norm=True, zoneout=0.1)
        for dtype in (torch.float32, F64):
            assert dispatch.choose_impl(spec, "auto", inputs().to(dtype), grad=True) == "fused"
    refused = RNNSpec("lstm", I, H, layer_norm=True, ablation="FGR")
    assert dispatch.choose_impl(refused, "auto", inputs()) == "reference"


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_linear_operator_matches_torch_with_gradients(dtype):
    """The input projection's operator (oneDNN for a large float32 product, else at::mm)."""
    x = torch.randn(40, 8, 256, dtype=dtype, requires_grad=True)  # 320 * 256 * 1024 >= 2^24
    w = torch.randn(1024, 256, dtype=dtype, requires_grad=True)
    ours = torch.ops.lstmkit.linear(x, w)
    theirs = torch.nn.functional.linear(x, w)
    cot = torch.randn_like(theirs)
    grads = [torch.autograd.grad((y * cot).sum(), [x, w]) for y in (ours, theirs)]
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == torch.float32 else {}
    torch.testing.assert_close(ours, theirs, **tol)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, **tol)
    torch.library.opcheck(torch.ops.lstmkit.linear.default, (x[:2], w))


@pytest.mark.parametrize("cls", [lk.LSTM, lk.GRU])
@pytest.mark.parametrize("used", ["output", "final h", "final c"])
def test_gradients_when_only_some_outputs_are_used(cls, used):
    """The autograd formula gets None for outputs the loss does not use (the workspace is
    never filled with zeros): the gradients still match the reference's."""
    if used == "final c" and cls is lk.GRU:
        pytest.skip("the GRU has no cell state")
    grads = []
    for impl in IMPLS:
        module = build(cls, I, H, layer_norm=True, bidirectional=True, impl=impl)
        x = inputs().requires_grad_()
        out, state = module(x, lengths=LENGTHS)
        picked = {"output": out, "final h": state[0], "final c": state[-1]}[used]
        (picked * torch.linspace(-1, 1, picked.numel(), dtype=F64).view_as(picked)).sum().backward()
        grads.append([x.grad, *(p.grad for p in module.parameters())])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
