"""torch.export and torch.compile trace models that use the fused kernels as single ops."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstmkit import nn as lk
from lstmkit.ops import fused

pytestmark = pytest.mark.skipif(not fused.available(), reason="fused kernels could not be built")


class Tagger(nn.Module):
    def __init__(self, cls=lk.LSTM, **kw):
        super().__init__()
        self.rnn = cls(3, 8, num_layers=2, bidirectional=True, impl="fused", **kw)
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


def op_nodes(graph: torch.fx.Graph) -> list[str]:
    return [str(n.target) for n in graph.nodes if "lstmkit" in str(n.target)]


@pytest.mark.parametrize("cls", [lk.LSTM, lk.GRU])
def test_export_keeps_one_op_per_layer(cls):
    torch.manual_seed(0)
    model = Tagger(cls).eval()
    x = torch.randn(5, 2, 3)
    program = torch.export.export(model, (x,))
    assert len(op_nodes(program.graph)) == 2  # two layers, both directions in each call
    torch.testing.assert_close(program.module()(x), model(x))


def assert_compiled_matches_eager(model, x):
    """torch.compile without graph breaks: the same outputs and gradients as eager."""
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    out = compiled(x)
    torch.testing.assert_close(out, model(x))
    out.sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model(x).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(grads[n], p.grad, msg=n)


def test_compile_forward_and_backward_without_graph_breaks():
    torch.manual_seed(0)
    model = Tagger(proj_size=4)
    model.head = nn.Linear(8, 2)
    x = torch.randn(5, 2, 3)
    assert_compiled_matches_eager(model, x)


def test_fgr_traces_one_op_per_layer_forward_and_backward():
    """FGR's widened state and weights ([h, q], [W_hh | W_gg]) are torch ops around the one
    rnn_variant op per layer; the fake gives its output the width H, not 4H."""
    torch.manual_seed(0)
    model = Tagger(ablation="FGR", zoneout=0.1).eval()
    x = torch.randn(5, 2, 3)
    program = torch.export.export(model, (x,))
    assert op_nodes(program.graph) == ["lstmkit.rnn_variant.default"] * 2
    torch.testing.assert_close(program.module()(x), model(x))
    assert_compiled_matches_eager(model, x)


@pytest.mark.parametrize("cls", [lk.LSTM, lk.GRU])
def test_layer_norm_traces_as_its_ops_forward_and_backward(cls):
    """The layer-normalised kernels (lstmkit::linear, ln_fwd, ln_bwd) under export and
    torch.compile: one ln_fwd per layer, the same outputs and gradients as eager."""
    torch.manual_seed(0)
    model = Tagger(cls, layer_norm=True, zoneout=0.1).eval()
    x = torch.randn(5, 2, 3)
    program = torch.export.export(model, (x,))
    assert sum("ln_fwd" in n for n in op_nodes(program.graph)) == 2
    torch.testing.assert_close(program.module()(x), model(x))
    assert_compiled_matches_eager(model, x)


class Decoder(nn.Module):
    """A loop over a fused cell, as a greedy decoder runs one: each step feeds the next."""

    def __init__(self, cls, **kw):
        super().__init__()
        self.cell = cls(4, 4, impl="fused", **kw)

    def forward(self, x):
        state = None
        for _ in range(3):
            state = self.cell(x, state)
            x = state[0] if isinstance(state, tuple) else state
        return x


@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        (lk.LSTMCell, {}),
        (lk.GRUCell, {}),
        (lk.LSTMCell, {"peephole": True}),
        (lk.LSTMCell, {"ablation": "FGR"}),
    ],
)
def test_cell_loop_traces_one_op_per_step(cls, kw):
    """A cell step is the composite lstmkit::cell, which export records as the rnn op it
    calls (rnn_variant for a variant cell); compile gives eager's outputs and gradients."""
    torch.manual_seed(0)
    model = Decoder(cls, **kw)
    x = torch.randn(2, 4)
    program = torch.export.export(model.eval(), (x,))
    assert len(op_nodes(program.graph)) == 3
    torch.testing.assert_close(program.module()(x), model(x))
    assert_compiled_matches_eager(model.train(), x)


@pytest.mark.parametrize("cls", [lk.LSTMCell, lk.GRUCell])
def test_cell_loop_under_no_grad_traces_the_operator(cls):
    """Under no_grad, eager cell calls go straight to the one-step kernel's binding;
    torch.compile (one graph) and export trace the operator instead, with eager's outputs."""
    torch.manual_seed(0)
    model = Decoder(cls).eval()
    x = torch.randn(2, 4)
    with torch.no_grad():
        expected = model(x)
        compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(compiled(x), expected)
        program = torch.export.export(model, (x,))
        assert len(op_nodes(program.graph)) == 3
        torch.testing.assert_close(program.module()(x), expected)
