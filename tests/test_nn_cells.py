"""lstmkit.nn.LSTMCell / GRUCell / RNNCell against torch.nn's cells, same weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import TOL, as_tuple
from lstmkit import nn as lk

CELLS = [
    (lk.LSTMCell, nn.LSTMCell, {}),
    (lk.GRUCell, nn.GRUCell, {}),
    (lk.RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
    (lk.RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("impl", ["reference", "native"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize(("ours_cls", "theirs_cls", "kw"), CELLS)
def test_cell_matches_torch(ours_cls, theirs_cls, kw, with_state, batched, bias, impl, dtype):
    torch.manual_seed(0)
    theirs = theirs_cls(3, 5, bias=bias, dtype=dtype, **kw)
    ours = ours_cls.from_torch(theirs, impl=impl)
    lead = (4,) if batched else ()
    x = torch.randn(*lead, 3, dtype=dtype)
    n_states = 2 if ours_cls is lk.LSTMCell else 1
    states = [torch.randn(*lead, 5, dtype=dtype) for _ in range(n_states)]
    results = []
    for module in (ours, theirs):
        xi = x.clone().requires_grad_()
        si = [s.clone().requires_grad_() for s in states]
        hx = (tuple(si) if n_states == 2 else si[0]) if with_state else None
        out = as_tuple(module(xi, hx))
        loss = sum(
            (o * torch.linspace(-1, 1, o.numel(), dtype=dtype).view_as(o)).sum() for o in out
        )
        module.zero_grad()
        loss.backward()
        grads = [xi.grad] + ([s.grad for s in si] if with_state else [])
        grads += [p.grad for p in module.parameters()]
        results.append((out, grads))
    (out_a, grads_a), (out_b, grads_b) = results
    for a, b in zip(out_a + tuple(grads_a), out_b + tuple(grads_b), strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])


def test_cell_loop_equals_sequence_layer():
    """Stepping an LSTMCell through time gives what the LSTM layer gives."""
    torch.manual_seed(0)
    layer = lk.LSTM(3, 5)
    cell = lk.LSTMCell(3, 5)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = torch.randn(6, 2, 3)
    h = c = torch.zeros(2, 5)
    outs = []
    for x_t in x:
        h, c = cell(x_t, (h, c))
        outs.append(h)
    out, (h_n, c_n) = layer(x)
    torch.testing.assert_close(torch.stack(outs), out)
    torch.testing.assert_close(h, h_n[0])
    torch.testing.assert_close(c, c_n[0])


def test_gru_cell_cho_form_runs_on_reference_and_differs():
    torch.manual_seed(0)
    cho = lk.GRUCell(3, 5, reset_after=False)
    torch_form = lk.GRUCell(3, 5)
    torch_form.load_state_dict(cho.state_dict())
    x, h = torch.randn(2, 3), torch.randn(2, 5)
    assert not torch.allclose(cho(x, h), torch_form(x, h))
    with pytest.raises(ValueError, match="reset_after=False"):
        lk.GRUCell(3, 5, reset_after=False, impl="native")
