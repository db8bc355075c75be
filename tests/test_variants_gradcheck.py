"""torch.autograd.gradcheck on every variant's step and sequence (float64, small sizes),
including the training-mode noise with the generator re-seeded on every evaluation.

The fast mode compares the analytical and numerical Jacobians along random directions (the
full Jacobians are compared against an independent implementation in the other tests)."""

from __future__ import annotations

import pytest
import torch

from lstmkit.ops import dispatch, reference
from lstmkit.ops.spec import RNNSpec
from lstmkit.ops.weights import PARAM_STEMS, LayerWeights
from variant_cases import GRU_VARIANTS, LSTM_VARIANTS

I, H, T, B = 2, 3, 3, 2
FIELD = dict(zip(PARAM_STEMS, LayerWeights._fields, strict=True))  # stem -> field name
NOISY = {"zoneout": (0.3, 0.4), "recurrent_dropout": 0.3, "weight_drop": 0.3}

CASES = [("lstm", k, v) for k, v in LSTM_VARIANTS.items()]
CASES += [("gru", k, v) for k, v in GRU_VARIANTS.items()]
CASES += [("lstm", "noise+peephole+proj", NOISY | {"peephole": True, "proj_size": 2})]
CASES += [("gru", "noise+layer_norm", NOISY | {"zoneout": 0.4, "layer_norm": True})]


def weights(spec: RNNSpec, layer: int, seed: int) -> LayerWeights:
    g = torch.Generator().manual_seed(seed)
    return LayerWeights(
        **{
            FIELD[stem]: (0.5 * torch.randn(shape, generator=g, dtype=torch.float64))
            .add_(1.0 if stem.startswith("ln_") and stem.endswith("weight") else 0.0)
            .requires_grad_()
            for stem, shape in spec.param_shapes(layer).items()
        }
    )


def initial_state(spec: RNNSpec, lead: tuple[int, ...], seed: int):
    g = torch.Generator().manual_seed(seed)
    return tuple(
        torch.rand(*lead, n, generator=g, dtype=torch.float64).requires_grad_()
        for n in spec.state_sizes()
    )


def noisy(spec: RNNSpec) -> bool:
    return bool(spec.zoneout[0] or spec.zoneout[1] or spec.recurrent_dropout or spec.weight_drop)


@pytest.mark.parametrize(("mode", "name", "options"), CASES, ids=[c[1] + "-" + c[0] for c in CASES])
def test_gradcheck_step(mode, name, options):
    spec = RNNSpec(mode, I, H, **{k: v for k, v in options.items() if k != "weight_drop"})
    w = weights(spec, 0, seed=0)
    present = [f for f in LayerWeights._fields if getattr(w, f) is not None]
    x = torch.randn(B, I, dtype=torch.float64, requires_grad=True)
    state = initial_state(spec, (B,), seed=1)
    n = len(state)

    def f(x, *rest):
        torch.manual_seed(0)  # the same zoneout masks at every evaluation
        ws = LayerWeights(**dict(zip(present, rest[n:], strict=True)))
        return reference.cell(spec, x, rest[:n], ws, training=noisy(spec))

    inputs = (x, *state, *(getattr(w, p) for p in present))
    assert torch.autograd.gradcheck(f, inputs, fast_mode=True)


@pytest.mark.parametrize(("mode", "name", "options"), CASES, ids=[c[1] + "-" + c[0] for c in CASES])
def test_gradcheck_sequence_bidirectional_with_lengths(mode, name, options):
    spec = RNNSpec(mode, I, H, bidirectional=True, **options)
    ws = [weights(spec, 0, seed=k) for k in range(2)]
    present = [f for f in LayerWeights._fields if getattr(ws[0], f) is not None]
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    hx = initial_state(spec, (2, B), seed=2)
    n, per = len(hx), len(present)
    lengths = torch.tensor([T, 1])

    def f(x, *rest):
        torch.manual_seed(0)  # the same masks at every evaluation
        layers = [
            LayerWeights(**dict(zip(present, rest[n + k * per : n + (k + 1) * per], strict=True)))
            for k in range(2)
        ]
        out, state = dispatch.rnn(spec, x, rest[:n], layers, lengths, noisy(spec), "reference")
        return (out, *state)

    flat = [getattr(w, p) for w in ws for p in present]
    assert torch.autograd.gradcheck(f, (x, *hx, *flat), fast_mode=True)
