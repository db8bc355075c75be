"""Zoneout, recurrent dropout and weight drop: evaluation is deterministic and equals the
expectation, training draws masks with the right statistics and structure (fresh per step
for zoneout, one per sequence for recurrent dropout, one per forward pass for weight
drop), the same seed gives the same result, and the training-mode outputs, final states
and gradients equal the papers' equations evaluated with the very masks that were drawn."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_parity, run_ours
from lstmkit import nn as lk
from lstmkit.ops import fused, fused_variants, variants
from variant_cases import F64, LENGTHS, H, I, T, build, inputs, states
from variant_oracle import Oracle, capture_masks

NOISY = {
    "zoneout": {"zoneout": (0.3, 0.5)},
    "recurrent_dropout": {"recurrent_dropout": 0.4},
    "weight_drop": {"weight_drop": 0.4},
    "all": {"zoneout": (0.2, 0.1), "recurrent_dropout": 0.3, "weight_drop": 0.2},
}
CLASSES = {"lstm": lk.LSTM, "gru": lk.GRU}


@pytest.fixture
def captured(monkeypatch):
    return capture_masks(monkeypatch)


def _gru_options(options):
    z = options.get("zoneout")
    return options | ({"zoneout": z[1]} if z else {})


@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("options", NOISY.values(), ids=NOISY.keys())
def test_training_mode_equals_the_equations_with_the_drawn_masks(options, mode, captured):
    opts = options if mode == "lstm" else _gru_options(options)
    extra = {"proj_size": 2} if mode == "lstm" else {}
    ours = build(CLASSES[mode], I, H, num_layers=2, bidirectional=True, **opts, **extra).train()
    oracle = Oracle(ours, captured)
    torch.manual_seed(11)
    assert_parity(ours, oracle, inputs(), states(ours), LENGTHS, run_a=run_ours, run_b=run_ours)
    # one draw per layer-direction (weight drop alone runs on torch's kernel: no step noise)
    assert len(captured.noises) == (4 if variants.changes_step(ours.spec) else 0)
    assert len(captured.w_hh_masks) == (4 if ours.spec.weight_drop else 0)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("options", NOISY.values(), ids=NOISY.keys())
def test_evaluation_is_deterministic_and_is_the_expectation(options, mode):
    opts = options if mode == "lstm" else _gru_options(options)
    ours = build(CLASSES[mode], I, H, num_layers=2, bidirectional=True, **opts)
    x, hx = inputs(), states(ours)
    out, _ = ours(x, hx, lengths=LENGTHS)
    again, _ = ours(x, hx, lengths=LENGTHS)
    torch.testing.assert_close(out, again, rtol=0, atol=0)
    # The expectation: zoneout weighs by z, recurrent dropout and weight drop vanish.
    ref_out, _ = Oracle(ours)(x, hx, LENGTHS)
    torch.testing.assert_close(out, ref_out, rtol=1e-10, atol=1e-10)
    if "zoneout" not in opts:  # and is then exactly the plain cell
        plain = CLASSES[mode](I, H, num_layers=2, bidirectional=True, dtype=F64).eval()
        plain.load_state_dict(ours.state_dict())
        torch.testing.assert_close(out, plain(x, hx, lengths=LENGTHS)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("options", NOISY.values(), ids=NOISY.keys())
def test_same_seed_same_result_new_draws_otherwise(options, mode):
    opts = options if mode == "lstm" else _gru_options(options)
    ours = build(CLASSES[mode], I, H, bidirectional=True, **opts).train()
    x = inputs()
    torch.manual_seed(5)
    a = ours(x, lengths=LENGTHS)[0]
    b = ours(x, lengths=LENGTHS)[0]
    torch.manual_seed(5)
    torch.testing.assert_close(ours(x, lengths=LENGTHS)[0], a, rtol=0, atol=0)
    assert not torch.equal(a, b), "each forward pass draws new masks"


def test_zoneout_cell_masks_have_rate_z_per_unit_and_state(captured):
    """Each unit of c and of h keeps its previous value with probability z_c, z_h,
    independently; the others take the plain LSTM update exactly."""
    torch.manual_seed(0)
    # both on the reference ops, whose plain step is bit-identical to the noisy one (the
    # fused path's masks are checked against the reference in test_variants_fused.py)
    cell = lk.LSTMCell(I, 8, zoneout=(0.3, 0.6), dtype=F64, impl="reference").train()
    plain = lk.LSTMCell(I, 8, dtype=F64, impl="reference")
    plain.load_state_dict(cell.state_dict())
    x, h, c = (torch.randn(4000, n, dtype=F64) for n in (I, 8, 8))
    h1, c1 = cell(x, (h, c))
    h_new, c_new = plain(x, (h, c))
    kept_h, kept_c = h1 == h, c1 == c
    assert torch.equal(torch.where(kept_h, h, h_new), h1)
    assert torch.equal(torch.where(kept_c, c, c_new), c1)
    assert abs(kept_c.double().mean().item() - 0.3) < 0.01
    assert abs(kept_h.double().mean().item() - 0.6) < 0.01
    assert abs((kept_c & kept_h).double().mean().item() - 0.18) < 0.01  # independent


def test_zoneout_draws_a_new_mask_at_every_step():
    """Sequence layer, z_c = 0, z_h = 0.5: each h_t unit is h_{t-1} or the plain update of
    (h_{t-1}, c_{t-1}); half are kept, and the kept sets of consecutive steps are independent."""
    torch.manual_seed(0)
    # both on the reference ops, whose plain step is bit-identical to the noisy one
    lstm = lk.LSTM(I, 16, zoneout=(0.0, 0.5), dtype=F64, impl="reference").train()
    plain = lk.LSTMCell(I, 16, dtype=F64, impl="reference")
    plain.load_state_dict({k.removesuffix("_l0"): v for k, v in lstm.state_dict().items()})
    x = torch.randn(12, 200, I, dtype=F64)
    out, _ = lstm(x)
    h, c = torch.zeros(200, 16, dtype=F64), torch.zeros(200, 16, dtype=F64)
    kept = []
    for t in range(12):
        h_new, c = plain(x[t], (h, c))  # z_c = 0: c always takes the update
        keep = (out[t] == h) & (h_new != h)
        assert torch.equal(torch.where(out[t] == h, h, h_new), out[t])
        kept.append(keep)
        h = out[t]
    kept = torch.stack(kept[1:]).double()  # step 0 starts at h = 0 where h_new may be ~0
    assert abs(kept.mean().item() - 0.5) < 0.02
    assert abs((kept[1:] * kept[:-1]).mean().item() - 0.25) < 0.02


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_recurrent_dropout_is_one_mask_per_sequence(mode, captured):
    """A unit of h dropped for a sequence contributes nothing to W_hh's gradient at any
    step: the share of all-zero columns is p (it would be p**T with a mask per step)."""
    torch.manual_seed(0)
    rnn = CLASSES[mode](I, 200, recurrent_dropout=0.3, dtype=F64).train()
    x = torch.randn(8, 1, I, dtype=F64)  # one sequence
    out, _ = rnn(x)
    out.sum().backward()
    zero_columns = (rnn.weight_hh_l0.grad == 0).all(dim=0)  # (H,)
    assert abs(zero_columns.double().mean().item() - 0.3) < 0.08
    mask = captured.noises[0].recurrent_mask  # (B, H): no time dimension
    assert mask.shape == (1, 200)
    assert torch.equal(zero_columns, mask[0] == 0)
    assert set(mask.unique().tolist()) == {0.0, 1 / 0.7}


def test_recurrent_dropout_masks_statistics_and_per_sequence(captured):
    torch.manual_seed(0)
    lstm = lk.LSTM(I, 50, num_layers=2, bidirectional=True, recurrent_dropout=0.25).train()
    lstm(torch.randn(T, 400, I))
    masks = [n.recurrent_mask for n in captured.noises]
    assert len(masks) == 4 and all(m.shape == (400, 50) for m in masks)
    for m in masks:
        assert abs((m == 0).double().mean().item() - 0.25) < 0.01
        torch.testing.assert_close(m[m != 0], torch.full_like(m[m != 0], 1 / 0.75))
    assert not torch.equal(masks[0], masks[1])  # each layer-direction has its own
    assert not torch.equal(masks[0][0], masks[0][1])  # and each sequence


@pytest.mark.parametrize("impl", ["reference", "native"])
def test_weight_drop_is_one_mask_per_forward_pass(impl, captured):
    """DropConnect on W_hh: the dropped entries get no gradient at any step, a share p of
    them; the kept ones are scaled by 1 / (1 - p). Served by torch's kernel too."""
    torch.manual_seed(0)
    lstm = lk.LSTM(I, 30, weight_drop=0.4, impl=impl, dtype=F64).train()
    x = torch.randn(10, 6, I, dtype=F64)
    lstm(x)[0].sum().backward()
    grad = lstm.weight_hh_l0.grad
    mask = captured.w_hh_masks[0]
    assert mask.shape == (120, 30)
    assert abs((mask == 0).double().mean().item() - 0.4) < 0.03
    assert torch.equal(grad == 0, mask == 0)


def test_weight_drop_native_and_reference_draw_the_same_mask():
    ours = build(lk.LSTM, I, H, num_layers=2, bidirectional=True, weight_drop=0.5).train()
    native = lk.LSTM(I, H, num_layers=2, bidirectional=True, weight_drop=0.5, impl="native")
    native = native.double().train()
    native.load_state_dict(ours.state_dict())
    ours.impl = "reference"

    def seeded(module, x, hx, lengths):
        torch.manual_seed(2)
        return module(x, hx, lengths=lengths)

    assert_parity(native, ours, inputs(), states(ours), LENGTHS, run_a=seeded, run_b=seeded)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_padded_steps_do_not_move_the_state_in_training(mode):
    """With noise on, a sequence's final state is still its state at its last valid step:
    forward h_n = the output at length - 1, reverse h_n = the output at step 0."""
    opts = {"zoneout": (0.3, 0.3) if mode == "lstm" else 0.3, "recurrent_dropout": 0.3}
    rnn = build(CLASSES[mode], I, H, bidirectional=True, **opts).train()
    torch.manual_seed(0)
    out, state = rnn(inputs(), lengths=LENGTHS)
    h_n = state[0] if mode == "lstm" else state
    for b, n in enumerate(LENGTHS.tolist()):
        torch.testing.assert_close(h_n[0, b], out[n - 1, b, :H], rtol=0, atol=0)
        torch.testing.assert_close(h_n[1, b], out[0, b, H:], rtol=0, atol=0)
        assert not out[n:, b].any()


@pytest.mark.skipif(not fused.available(), reason="fused kernels could not be built")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    ("mode", "options"),
    [("lstm", {"zoneout": (0.3, 0.6)}), ("gru", {"zoneout": 0.4}),
     ("lstm", {"zoneout": (0.2, 0.5), "layer_norm": True, "peephole": True})],
)  # fmt: skip
def test_kernels_form_the_hashed_zoneout_masks_they_are_given(mode, options, dtype, monkeypatch):
    """The fused kernels form zoneout's masks from (seed, thr) in place; given the same masks
    as (T, B, H) tensors (HashedKeep.tensor, the torch ops' version of the hash) instead,
    they compute bit for bit the same outputs and gradients."""
    model = build(CLASSES[mode], I, H, bidirectional=True, impl="fused", **options)
    model = model.to(dtype).train()
    x = torch.randn(T, 3, I, dtype=dtype)
    keep = fused_variants._keep

    def as_masks(k, like):  # what the kernels get: (T, B, H) masks instead of the code
        return keep(k.tensor() if isinstance(k, variants.HashedKeep) else k, like)

    results = []
    for materialise in (False, True):
        if materialise:
            monkeypatch.setattr(fused_variants, "_keep", as_masks)
        torch.manual_seed(5)
        out, _ = model(x, lengths=[T, T - 2, 1])
        grads = torch.autograd.grad(out.square().sum(), list(model.parameters()))
        results.append([out, *grads])
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


@pytest.mark.skipif(not fused.available(), reason="fused kernels could not be built")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("count", [1, 15, 16, 17, 250_003])
def test_keep_mask_operator_is_the_torch_ops_hash(count, dtype):
    """lstmkit::keep_mask (the kernels' hash, threads over blocks, partial last block) gives
    the masks the torch ops give, value for value; the rate is the keep probability."""
    torch.manual_seed(count)
    keep = variants.HashedKeep.draw(0.3, (1, 1, count), dtype)
    ours = torch.ops.lstmkit.keep_mask(keep.code, count, dtype)
    assert torch.equal(ours, variants.hashed_keep_values(keep.code, count, dtype))
    if count > 1000:
        assert abs(ours.mean().item() - 0.3) < 0.005
    if count == 17:
        torch.library.opcheck(torch.ops.lstmkit.keep_mask.default, (keep.code, count, dtype))
