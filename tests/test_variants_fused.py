"""The LSTM variants in the fused CPU kernels (impl="fused"), against the independent
implementation of the papers' equations (variant_oracle) in float64 and against the
reference ops in float32: outputs, final states and every gradient, with layers, both
directions, lengths and projection; training mode with the same seed as the reference;
gradcheck of the operator; the options the kernels refuse."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_parity, run_ours
from lstmkit import nn as lk
from lstmkit.ops import dispatch, fused, fused_variants
from lstmkit.ops.spec import RNNSpec
from variant_cases import F64, GRU_VARIANTS, LENGTHS, LSTM_VARIANTS, H, I, build, inputs, states
from variant_oracle import Oracle, capture_masks

pytestmark = pytest.mark.skipif(not fused.available(), reason="fused kernels could not be built")
IMPLS = ("fused", "reference")


def _served(options: dict) -> bool:
    spec_options = {k: v for k, v in options.items() if k != "bias"}
    return fused_variants.unsupported(RNNSpec("lstm", I, H, **spec_options)) is None


SERVED = {name: options for name, options in LSTM_VARIANTS.items() if _served(options)}
SERVED["NOG+relu"] = {"ablation": "NOG", "activation": "relu"}
SERVED["recurrent_dropout"] = {"recurrent_dropout": 0.3}  # evaluation: no mask
SERVED["zoneout-c+peephole"] = {"zoneout": (0.3, 0.0), "peephole": True}  # with proj_size too
SERVED["FGR+peephole+zoneout+relu"] = {
    "ablation": "FGR",
    "peephole": True,
    "zoneout": (0.3, 0.4),
    "activation": "relu",
}
SERVED["CIFG+zoneout+hard_sigmoid"] = {
    "ablation": "CIFG",
    "zoneout": (0.4, 0.2),
    "recurrent_activation": "hard_sigmoid",
}


def test_served_variants_cover_the_element_wise_options():
    names = set(SERVED)
    for name in ("peephole", "coupled", "zoneout", "NIG", "NFG", "NOG", "NIAF", "NOAF", "CIFG"):
        assert name in names
    assert "layer_norm" in names and "layer_norm+peephole-bias" in names
    assert "FGR" in names and "FGR+layer_norm+zoneout" not in names


@pytest.mark.parametrize("proj_size", [0, 2])
@pytest.mark.parametrize("options", SERVED.values(), ids=SERVED.keys())
def test_fused_variant_matches_the_equations_float64(options, proj_size):
    spec_options = {k: v for k, v in options.items() if k != "bias"}
    if fused.unsupported(RNNSpec("lstm", I, H, proj_size=proj_size, **spec_options)):
        pytest.skip("refused with a projection (fused_variants.unsupported)")
    ours = build(lk.LSTM, I, H, num_layers=2, bidirectional=True, proj_size=proj_size,
                 impl="fused", **options)  # fmt: skip
    assert dispatch.choose_impl(ours.spec, "fused", inputs()) == "fused"
    assert_parity(ours, Oracle(ours), inputs(), states(ours), LENGTHS, run_ours, run_ours)


@pytest.mark.parametrize("options", SERVED.values(), ids=SERVED.keys())
def test_fused_variant_matches_the_reference_float32(options):
    pair = [
        build(lk.LSTM, I, H, num_layers=2, bidirectional=True, impl=impl, **options).float()
        for impl in ("fused", "reference")
    ]
    hx = tuple(s.float() for s in states(pair[0]))
    assert_parity(*pair, inputs().float(), hx, LENGTHS, run_ours, run_ours)


@pytest.mark.parametrize("name", ["peephole", "CIFG", "zoneout", "NIAF", "FGR"])
def test_fused_variant_cell_matches_the_equations(name):
    ours = build(lk.LSTMCell, I, H, impl="fused", **SERVED[name])
    oracle = Oracle(ours)
    x = inputs()[0].requires_grad_()  # (B, I)
    hx = tuple(s[0] for s in states(ours))
    results = []
    for module, run in ((ours, ours), (oracle, oracle.cell)):
        out = run(x, hx)
        loss = sum((o * torch.linspace(-1, 1, o.numel(), dtype=F64).view_as(o)).sum() for o in out)
        grads = torch.autograd.grad(loss, [x, *module.parameters()])
        results.append([*out, *grads])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "options",
    [
        {"zoneout": (0.3, 0.5), "peephole": True},
        {"ablation": "NFG", "zoneout": 0.4, "weight_drop": 0.3},
        {"recurrent_dropout": 0.4},
        {"recurrent_dropout": 0.3, "zoneout": 0.2, "ablation": "CIFG"},
        {"ablation": "FGR", "zoneout": (0.2, 0.3), "weight_drop": 0.3},
    ],
    ids=[
        "zoneout+peephole",
        "NFG+zoneout+weight_drop",
        "recurrent_dropout",
        "all-noise+CIFG",
        "FGR+zoneout+weight_drop",
    ],
)
def test_training_mode_same_seed_same_result_as_the_reference(options, monkeypatch):
    """The fused path draws the masks the reference draws, in the same order, and computes
    the equations with them (the oracle is fed the masks that were drawn)."""
    ours = build(lk.LSTM, I, H, num_layers=2, bidirectional=True, impl="fused", **options).train()
    ref = build(lk.LSTM, I, H, num_layers=2, bidirectional=True, impl="reference", **options)
    ref.train()
    results = []
    for module in (ours, ref):
        torch.manual_seed(11)
        out, state = module(inputs(), lengths=LENGTHS)  # state (h, c) or FGR's (h, c, q)
        results.append((out, *state))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    captured = capture_masks(monkeypatch)
    oracle = Oracle(ours, captured)
    torch.manual_seed(0)
    assert_parity(ours, oracle, inputs(), states(ours), LENGTHS, run_ours, run_ours)


def _op_inputs(spec: RNNSpec, noise_keep: bool):
    g = torch.Generator().manual_seed(2)

    def t(*shape, grad=True):
        return (0.5 * torch.randn(*shape, generator=g, dtype=F64)).requires_grad_(grad)

    steps, batch = 3, 2
    x, h0, c0 = t(steps, batch, I), t(1, batch, H), t(1, batch, H)
    w = t(4 * H, I), t(4 * H, H), t(4 * H), t(4 * H)
    peeps = [t(H) if gate in spec.peephole_gates else x.new_empty(0) for gate in "ifo"]
    keep = torch.bernoulli(torch.full((steps, batch, H), 0.5, dtype=F64), generator=g)
    keeps = [keep, x.new_full((1,), 0.3)] if noise_keep else [x.new_empty(0)] * 2
    mask = torch.bernoulli(torch.full((batch, H), 0.7, dtype=F64), generator=g) / 0.7
    keeps.append(mask if spec.recurrent_dropout else x.new_empty(0))
    return x, h0, c0, w, peeps, keeps


@pytest.mark.parametrize(
    "options",
    [{"peephole": True}, {"ablation": "CIFG"}, {"coupled_gates": True, "peephole": True},
     {"ablation": "NIG", "activation": "sigmoid"}, {"ablation": "NOG"},
     {"ablation": "NOAF", "recurrent_activation": "tanh"}, {"zoneout": 0.3},
     {"recurrent_dropout": 0.3, "peephole": True}],
)  # fmt: skip
def test_gradcheck_of_the_variant_operator(options):
    spec = RNNSpec("lstm", I, H, **options)
    code = fused.cell_code(spec)
    x, h0, c0, (w_ih, w_hh, b_ih, b_hh), peeps, keeps = _op_inputs(spec, bool(spec.zoneout[0]))
    lens = torch.tensor([3, 2])
    used = [p for p in peeps if p.numel()]

    def fn(x, h0, c0, w_ih, w_hh, b_ih, b_hh, *ps):
        it = iter(ps)
        var = [next(it) if p.numel() else p for p in peeps] + keeps
        weights = [w_ih], [w_hh], [b_ih], [b_hh], []
        return torch.ops.lstmkit.rnn_variant(x, h0, c0, *weights, lens, code, var)

    assert torch.autograd.gradcheck(fn, (x, h0, c0, w_ih, w_hh, b_ih, b_hh, *used))


def test_gradcheck_and_opcheck_of_the_fgr_operator():
    """FGR through the operator: the recurrent input z = [h, q] (B, 4H) and the (4H, 4H)
    recurrent weight (rows of g included), with zoneout masks and lengths."""
    spec = RNNSpec("lstm", I, H, ablation="FGR", peephole=True, zoneout=0.3)
    code = fused.cell_code(spec)
    x, h0, c0, (w_ih, w_hh, b_ih, b_hh), peeps, keeps = _op_inputs(spec, True)
    g = torch.Generator().manual_seed(5)
    q0 = torch.rand(1, 2, 3 * H, generator=g, dtype=F64)
    z0 = torch.cat([h0.detach(), q0], -1).requires_grad_()  # (1, B, 4H)
    w_gg = 0.5 * torch.randn(4 * H, 3 * H, generator=g, dtype=F64)
    w_rec = torch.cat([w_hh.detach(), w_gg], 1).requires_grad_()  # (4H, 4H)
    lens = torch.tensor([3, 2])

    def fn(x, z0, c0, w_ih, w_rec, b_ih, b_hh, *ps):
        it = iter(ps)
        var = [next(it) if p.numel() else p for p in peeps] + keeps
        return torch.ops.lstmkit.rnn_variant(
            x, z0, c0, [w_ih], [w_rec], [b_ih], [b_hh], [], lens, code, var
        )

    used = [p for p in peeps if p.numel()]
    assert torch.autograd.gradcheck(fn, (x, z0, c0, w_ih, w_rec, b_ih, b_hh, *used))
    out, z_n, _ = fn(x, z0, c0, w_ih, w_rec, b_ih, b_hh, *used)
    assert out.shape == (3, 2, H) and z_n.shape == (1, 2, 4 * H)  # the output is h only
    args = (x, z0, c0, [w_ih], [w_rec], [b_ih], [b_hh], [], lens, code, peeps + keeps)
    torch.library.opcheck(torch.ops.lstmkit.rnn_variant.default, args)
    with pytest.raises(
        RuntimeError, match=r"FGR LSTM takes .* \(4H, 4H\) w_hh .* got w_hh \[16, 4\]"
    ):
        torch.ops.lstmkit.rnn_variant(x, h0, c0, [w_ih], [w_hh], [b_ih], [b_hh], [], lens, code,
                                      peeps + keeps)  # fmt: skip


@pytest.mark.parametrize(
    ("threads", "batch", "bidirectional"),
    [(2, 7, False), (2, 19, False), (4, 19, True)],
    ids=["units-split", "rows-split", "rows-split-bidirectional"],
)
def test_fgr_on_a_team_of_threads(threads, batch, bidirectional):
    """FGR's state z = [h, q] is 4H wide. With the units split over threads, the columns of
    dL/dz are shared out apart from the units (and a second barrier per step); with the rows
    split, each thread forms all 4H of its rows. H = 61 puts q's columns off the vector
    blocks; lengths mask rows of every thread."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        options = {"ablation": "FGR", "peephole": True, "bidirectional": bidirectional}
        pair = [build(lk.LSTM, 7, 61, impl=impl, **options) for impl in IMPLS]
        g = torch.Generator().manual_seed(0)
        x = torch.randn(6, batch, 7, generator=g, dtype=F64)
        lengths = torch.randint(1, 7, (batch,), generator=g)
        assert_parity(*pair, x, states(pair[0], batch), lengths, run_ours, run_ours)
    finally:
        torch.set_num_threads(saved)


def test_opcheck_of_the_variant_operator():
    spec = RNNSpec("lstm", I, H, peephole=True, zoneout=0.2, recurrent_dropout=0.3)
    x, h0, c0, (w_ih, w_hh, b_ih, b_hh), peeps, keeps = _op_inputs(spec, True)
    args = (
        x,
        h0,
        c0,
        [w_ih],
        [w_hh],
        [b_ih],
        [b_hh],
        [],
        None,
        fused.cell_code(spec),
        peeps + keeps,
    )
    torch.library.opcheck(torch.ops.lstmkit.rnn_variant.default, args)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"layer_norm": True, "coupled_gates": True}, "coupled_gates=True with layer_norm=True"),
        ({"layer_norm": True, "ablation": "NIG"}, "ablation='NIG' with layer_norm=True"),
        ({"layer_norm": True, "proj_size": 2}, "proj_size=2 with layer_norm=True"),
        ({"recurrent_dropout": 0.2, "proj_size": 2}, "recurrent_dropout=0.2 with proj_size=2"),
        ({"ablation": "FGR", "proj_size": 2}, "ablation='FGR' with proj_size=2"),
        (
            {"ablation": "FGR", "recurrent_dropout": 0.1},
            "recurrent_dropout=0.1 with ablation='FGR'",
        ),
        ({"zoneout": 0.1, "proj_size": 2}, r"zoneout=\(0.1, 0.1\) with proj_size=2"),
    ],
)
def test_forced_fused_names_the_variant_it_cannot_serve(options, named):
    with pytest.raises(ValueError, match=f"impl='fused': .* do not support {named}"):
        lk.LSTM(I, H, impl="fused", **options)
    spec = RNNSpec("lstm", I, H, **options)
    assert dispatch.choose_impl(spec, "auto", inputs()) == "reference"


GRU_SERVED = {
    name: options
    for name, options in GRU_VARIANTS.items()
    if fused.unsupported(RNNSpec("gru", I, H, **options)) is None
}
GRU_SERVED["recurrent_dropout+zoneout"] = {"recurrent_dropout": 0.3, "zoneout": 0.2}


def test_gru_variants_served_and_refused():
    assert {"zoneout", "relu+hard_sigmoid"} <= set(GRU_SERVED)
    assert {"layer_norm", "layer_norm-bias", "layer_norm+zoneout+hard_sigmoid"} <= set(GRU_SERVED)
    assert fused.unsupported(RNNSpec("gru", I, H, reset_after=False)) == "reset_after=False"


@pytest.mark.parametrize("options", GRU_SERVED.values(), ids=GRU_SERVED.keys())
def test_fused_gru_variant_matches_the_equations_and_the_reference(options):
    ours = build(lk.GRU, I, H, num_layers=2, bidirectional=True, impl="fused", **options)
    assert_parity(ours, Oracle(ours), inputs(), states(ours), LENGTHS, run_ours, run_ours)
    pair = [
        build(lk.GRU, I, H, num_layers=2, bidirectional=True, impl=impl, **options).float()
        for impl in IMPLS
    ]
    assert_parity(*pair, inputs().float(), states(ours).float(), LENGTHS, run_ours, run_ours)


def test_fused_gru_training_mode_same_seed_same_result_as_the_reference():
    options = {"recurrent_dropout": 0.3, "zoneout": 0.4, "recurrent_activation": "hard_sigmoid"}
    pair = [
        build(lk.GRU, I, H, num_layers=2, bidirectional=True, impl=impl, **options).train()
        for impl in IMPLS
    ]
    results = []
    for module in pair:
        torch.manual_seed(4)
        out, h = module(inputs(), states(module), lengths=LENGTHS)
        grads = torch.autograd.grad(out.square().sum() + h.sum(), list(module.parameters()))
        results.append([out, h, *grads])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_auto_takes_fused_for_a_served_variant():
    spec = RNNSpec("lstm", I, H, peephole=True, zoneout=0.1)
    for dtype in (torch.float32, F64):
        assert dispatch.choose_impl(spec, "auto", inputs().to(dtype), grad=True) == "fused"


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_wide_variant_splits_units_over_threads_like_the_reference(training):
    """Sizes with several unit blocks, a tail block and enough work per step for the time
    loop to split the units of the (one) direction over two threads (layer.cpp: loop_threads)."""
    options = {"peephole": True, "zoneout": (0.2, 0.3), "recurrent_dropout": 0.25}
    pair = [
        lk.LSTM(7, 101, impl=impl, dtype=F64, **options).train(training)
        for impl in ("fused", "reference")
    ]
    pair[1].load_state_dict(pair[0].state_dict())
    x = torch.randn(6, 9, 7, dtype=F64)
    lengths = torch.tensor([6, 2, 5, 6, 1, 3, 6, 4, 6])
    results = []
    for module in pair:
        torch.manual_seed(3)
        out, (h, c) = module(x, lengths=lengths)
        (out.square().sum() + h.sum() + c.sum()).backward()
        results.append([out, h, c, *(p.grad for p in module.parameters())])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_one_step_in_training_draws_and_uses_the_reference_masks():
    """A sequence of one step (the kernel folds W_hh h into the input product there):
    recurrent dropout and zoneout masks as the reference draws them, outputs and gradients
    equal; and the cell (zoneout only: recurrent dropout needs a sequence)."""
    options = {"peephole": True, "zoneout": (0.3, 0.4)}
    for cls, extra, x in ((lk.LSTM, {"recurrent_dropout": 0.5}, inputs()[:1]),
                          (lk.LSTMCell, {}, inputs()[0])):  # fmt: skip
        pair = [build(cls, I, H, impl=impl, **options, **extra).train() for impl in IMPLS]
        hx = states(pair[0]) if cls is lk.LSTM else tuple(s[0] for s in states(pair[0]))
        results = []
        for module in pair:
            torch.manual_seed(9)
            h, c = module(x, hx)[-1] if cls is lk.LSTM else module(x, hx)
            grads = torch.autograd.grad((h * 2 + c).sum(), list(module.parameters()))
            results.append([h, c, *grads])
        for a, b in zip(*results, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
