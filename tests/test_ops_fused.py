"""The fused CPU kernels against the reference ops: outputs, states and every gradient."""

from __future__ import annotations

import copy
import sys

import pytest
import torch

from helpers import (
    KINDS,
    MATRIX,
    B,
    I,
    T,
    assert_parity,
    build_pair,
    make_state,
    random_lengths,
    run_ours,
)
from lstmkit import nn as lk
from lstmkit.ops import fused

pytestmark = pytest.mark.skipif(not fused.available(), reason="fused kernels could not be built")


def parity(kind, case, dtype, sizes=(T, B, I)):
    layers, bidir, batch_first, bias, with_hx, with_lengths = case
    steps, batch, _ = sizes
    ours_ref, theirs = build_pair(kind, layers, bidir, batch_first, bias, dtype, "reference")
    ours_fused = type(ours_ref).from_torch(theirs, impl="fused")
    g = torch.Generator().manual_seed(5)
    shape = (batch, steps, I) if batch_first else (steps, batch, I)
    x = torch.randn(shape, generator=g, dtype=dtype)
    hx = make_state(theirs, batch, dtype) if with_hx else None
    lengths = random_lengths(batch, steps, seed=1) if with_lengths else None
    assert_parity(ours_fused, ours_ref, x, hx, lengths, run_a=run_ours, run_b=run_ours)


@pytest.mark.parametrize("case", MATRIX[::3], ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("kind", list(KINDS))
def test_fused_matches_reference_float64(kind, case):
    parity(kind, case, torch.float64)


@pytest.mark.parametrize("case", MATRIX[1::7], ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("kind", list(KINDS))
def test_fused_matches_reference_float32(kind, case):
    parity(kind, case, torch.float32)


def wide_pair(kind, dtype, hidden, **kw):
    """Sizes that exercise several unit blocks with a tail, several row tiles and threads."""
    theirs_cls, ours_cls, extra = KINDS[kind]
    extra = {**extra, "proj_size": 23} if "proj_size" in extra else extra
    torch.manual_seed(0)
    theirs = theirs_cls(7, hidden, dtype=dtype, **extra, **kw)
    return ours_cls.from_torch(theirs, impl="fused"), ours_cls.from_torch(theirs, impl="reference")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("bidir", [False, True])
def test_wide_layers_with_lengths_match_reference(kind, dtype, bidir):
    # H = 100: 7 (float32) or 13 (float64) vector blocks, the last one partial; B = 11: three
    # row tiles, the last partial; per-step work large enough to split a direction.
    ours, ref = wide_pair(kind, dtype, 100, num_layers=2, bidirectional=bidir)
    x = torch.randn(9, 11, 7, dtype=dtype)
    lengths = random_lengths(11, 9, seed=3)
    hx = make_state(ref, 11, dtype)
    assert_parity(ours, ref, x, hx, lengths, run_a=run_ours, run_b=run_ours)


@pytest.mark.parametrize("kind", list(KINDS))
def test_cells_match_reference(kind):
    cls = {"lstm": lk.LSTMCell, "gru": lk.GRUCell}.get(kind[:4], lk.RNNCell)
    extra = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    torch.manual_seed(0)
    ref = cls(4, 6, dtype=torch.float64, impl="reference", **extra)
    ours = cls(4, 6, dtype=torch.float64, impl="fused", **extra)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    state = tuple(
        torch.randn(3, 6, dtype=torch.float64) for _ in range(2 if kind[:4] == "lstm" else 1)
    )
    state = [s.requires_grad_() for s in state]
    outs = [m(x, tuple(state) if len(state) == 2 else state[0]) for m in (ours, ref)]
    outs = [o if isinstance(o, tuple) else (o,) for o in outs]
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    grads = [
        torch.autograd.grad(sum(o.sum() for o in out), [x, *state, *m.parameters()])
        for out, m in zip(outs, (ours, ref), strict=True)
    ]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch", [1, 3, 4, 5])
@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_small_batch_cell_step_matches_torch(kind, batch, bias, dtype):
    """A cell call with few rows forms its gates from the weights as torch stores them
    (every worker its own units; the GRU's W_hn h apart); more rows go through the GEMMs.
    Against torch.nn's cell: H = 200 (units split between two threads, a partial vector
    block), I = 37 (a partial block of K)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(batch)
        theirs = getattr(torch.nn, kind)(37, 200, bias=bias, dtype=dtype)
        ours = getattr(lk, kind).from_torch(theirs, impl="fused")
        x = torch.randn(batch, 37, dtype=dtype, requires_grad=True)
        n = 2 if kind == "LSTMCell" else 1
        state = [torch.randn(batch, 200, dtype=dtype, requires_grad=True) for _ in range(n)]
        hx = tuple(state) if n == 2 else state[0]
        outs = [m(x, hx) for m in (ours, theirs)]
        outs = [o if isinstance(o, tuple) else (o,) for o in outs]
        tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {}
        for a, b in zip(*outs, strict=True):
            torch.testing.assert_close(a, b, **tol)
        grads = [
            torch.autograd.grad(out[0].sum() + out[-1].square().sum(), [x, *state, *m.parameters()])
            for out, m in zip(outs, (ours, theirs), strict=True)
        ]
        for a, b in zip(*grads, strict=True):
            torch.testing.assert_close(a, b, **tol)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("context", ["no_grad", "inference_mode", "plain"])
@pytest.mark.parametrize("batch", [1, 4, 5])
@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell", "RNNCell-relu"])
def test_cell_step_without_autograd_matches_torch(kind, batch, context):
    """With nothing to differentiate, a cell call runs its kernel itself (B <= 4: the module
    calls the one-step kernel's binding; B = 5: the operator calls the forward kernel,
    no dispatcher calls in between): under no_grad, inference_mode, and with tensors that
    need no gradient, against torch.nn's cell in float64 at two threads (H = 200: the units
    split, a partial vector block; I = 37)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(batch)
        kind, _, relu = kind.partition("-")
        options = {"nonlinearity": "relu"} if relu else {}
        theirs = getattr(torch.nn, kind)(37, 200, dtype=torch.float64, **options)
        ours = getattr(lk, kind).from_torch(theirs, impl="fused")
        theirs.requires_grad_(False), ours.requires_grad_(False)
        x = torch.randn(batch, 37, dtype=torch.float64)
        n = 2 if kind == "LSTMCell" else 1
        state = [torch.randn(batch, 200, dtype=torch.float64) for _ in range(n)]
        hx = tuple(state) if n == 2 else state[0]
        mode = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode}
        with mode.get(context, torch.enable_grad)():
            outs = [m(x, hx) for m in (ours, theirs)]
        outs = [o if isinstance(o, tuple) else (o,) for o in outs]
        for a, b in zip(*outs, strict=True):
            assert not a.requires_grad
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    finally:
        torch.set_num_threads(threads)


def test_cell_step_under_a_dispatch_mode_goes_through_the_dispatcher():
    """A mode (as the tracers install) sees the step's lstmkit::rnn call even when nothing
    needs a gradient: the direct call to the kernel is only for plain tensors."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Seen(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    cell = lk.LSTMCell(3, 5, impl="fused")
    x, h = torch.randn(2, 3), torch.zeros(2, 5)
    expected = cell(x, (h, h))
    with torch.no_grad(), Seen() as seen:
        got = cell(x, (h, h))
    assert any(op.startswith("lstmkit.rnn") for op in seen.ops), seen.ops
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("guard", [torch.no_grad, torch.inference_mode])
def test_steps_without_autograd_skip_the_dispatcher(guard):
    """With plain tensors, nothing to differentiate and no mode, a step runs its kernel
    without the dispatcher: a plain cell module calls the one-step kernel's binding (the
    profiler records no lstmkit operator at all), the operator lstmkit::cell its kernel (no
    lstmkit::rnn under it). A step that autograd records goes through lstmkit::rnn (its
    autograd node)."""
    cell = lk.LSTMCell(3, 5, impl="fused")
    x, h = torch.randn(2, 3), torch.zeros(2, 5)
    w = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)

    def names(run):
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as p:
            run()
        return {event.name for event in p.events()}

    with guard():
        quick = names(lambda: cell(x, (h, h)))
        op = names(lambda: torch.ops.lstmkit.cell(x, h, h, *w, 0, []))
    recorded = names(lambda: cell(x, (h, h)))
    assert not any(name.startswith("lstmkit::") for name in quick), quick
    assert "lstmkit::cell" in op and "lstmkit::rnn" not in op, op
    assert "lstmkit::rnn" in recorded, recorded


def test_quick_steps_leave_the_rest_to_the_full_path():
    """Under no_grad a plain fused cell goes straight to the one-step kernel only with
    arguments it takes as they are. The rest takes the full path: a transposed input, a
    list for (h, c), five rows, then impl changed to "reference", all as torch.nn's cell
    computes them; and wrong arguments get the full path's messages."""
    torch.manual_seed(0)
    theirs = torch.nn.LSTMCell(6, 4)
    ours = lk.LSTMCell.from_torch(theirs, impl="fused")
    h, c = torch.randn(3, 4), torch.randn(3, 4)
    with torch.no_grad():
        for x, hx in [
            (torch.randn(6, 3).t(), (h, c)),  # (3, 6), not contiguous
            (torch.randn(3, 6), [h, c]),
            (torch.randn(5, 6), (torch.randn(5, 4), torch.randn(5, 4))),
        ]:
            torch.testing.assert_close(ours(x, hx), theirs(x, tuple(hx)))
        ours.impl = "reference"
        x = torch.randn(3, 6)
        torch.testing.assert_close(ours(x, (h, c)), theirs(x, (h, c)))
        ours.impl = "fused"
        with pytest.raises(ValueError, match="input: expected 6 features"):
            ours(torch.randn(3, 5), (h, c))
        with pytest.raises(ValueError, match=r"hx\[0\] \(h\): expected shape \(3, 4\)"):
            ours(x, (torch.randn(2, 4), c))
        with pytest.raises(TypeError, match="input: expected dtype torch.float32"):
            ours(x.double(), (h, c))
        with pytest.raises(TypeError, match="hx: expected a tuple"):
            ours(x, (h,))
        with pytest.raises(TypeError, match="input: expected a torch.Tensor"):
            ours(x.tolist(), (h, c))


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_quick_steps_without_biases_and_with_a_parametrization(kind):
    """The quick step reads the weights from the module's parameter dictionary. Without
    biases it passes none; a weight held another way (a parametrization doubling W_hh)
    takes the full path, which reads it as getattr does; an unbatched input takes the full
    path too; a deep copy leaves the quick step behind and finds it again. Against torch.nn's
    cell with the same weights, under no_grad."""

    class Double(torch.nn.Module):
        def forward(self, w):
            return 2 * w

    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(6, 4, bias=False)
    ours = getattr(lk, kind).from_torch(theirs, impl="fused")
    x, h, c = torch.randn(3, 6), torch.randn(3, 4), torch.randn(3, 4)
    lstm = kind == "LSTMCell"
    hx, hx0 = ((h, c), (h[0], c[0])) if lstm else (h, h[0])
    with torch.no_grad():
        torch.testing.assert_close(ours(x, hx), theirs(x, hx))
        torch.testing.assert_close(ours(x[0], hx0), theirs(x[0], hx0))
        copied = copy.deepcopy(ours)  # without the quick step, which it finds again
        assert copied._quick == ("", None)
        torch.testing.assert_close(copied(x, hx), theirs(x, hx))
        assert copied._quick[1] is not None
        torch.nn.utils.parametrize.register_parametrization(ours, "weight_hh", Double())
        theirs.weight_hh.mul_(2)
        torch.testing.assert_close(ours(x, hx), theirs(x, hx))


@pytest.mark.parametrize("kind", list(KINDS))
def test_four_threads_split_each_direction(kind):
    """Two threads per direction: units split between them, a barrier every step."""
    threads = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        ours, ref = wide_pair(kind, torch.float64, 200, bidirectional=True)
        x = torch.randn(6, 7, 7, dtype=torch.float64)  # B = 7: too few rows to split them
        lengths = random_lengths(7, 6, seed=4)
        assert_parity(ours, ref, x, None, lengths, run_a=run_ours, run_b=run_ours)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("threads,bidir", [(2, False), (4, True)])
def test_threads_split_the_batch_rows(kind, threads, bidir):
    """A row tile per thread or more: each thread runs the recurrence of its own rows,
    forward and backward, with no barrier per step (team.h, split_rows). B = 19: the last
    thread's rows end in a partial tile; lengths mask rows of both threads."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ours, ref = wide_pair(kind, torch.float64, 100, bidirectional=bidir)
        x = torch.randn(7, 19, 7, dtype=torch.float64)
        lengths = random_lengths(19, 7, seed=5)
        hx = make_state(ref, 19, torch.float64)
        assert_parity(ours, ref, x, hx, lengths, run_a=run_ours, run_b=run_ours)
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", ["lstm", "rnn_tanh", "rnn_relu"])
def test_time_loop_with_the_input_product_matches_torch(kind, bias, bidir):
    """Two threads, each running whole rows (the rows split between them, or both
    directions, a thread each): a plain LSTM or Elman RNN multiplies x_t by W_ih in its
    time loop (W_ih stacked on W_hh in each panel, the biases added in the cell; layer.cpp,
    stacks_input). Two layers (the second's input is the first's output), lengths, an
    initial state, with and without biases: outputs, final states and every gradient
    against torch.nn in float64, and the outputs without autograd."""
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        theirs_cls, ours_cls, extra = KINDS[kind]
        torch.manual_seed(0)
        theirs = theirs_cls(
            9, 37, num_layers=2, bias=bias, bidirectional=bidir, dtype=torch.float64, **extra
        )
        ours = ours_cls.from_torch(theirs, impl="fused")
        x = torch.randn(6, 16, 9, dtype=torch.float64)  # B = 16: two row tiles a thread
        lengths = random_lengths(16, 6, seed=3)
        hx = make_state(theirs, 16, torch.float64)
        assert_parity(ours, theirs, x, hx, lengths)
        with torch.no_grad():  # without saving: no projection, no gates kept
            out, _ = ours(x, hx)
            expected, _ = theirs(x, hx)
        torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    finally:
        torch.set_num_threads(saved)


@pytest.mark.filterwarnings("ignore:TF32 acceleration")
@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "mm"])
def test_large_input_projections_match_torch(onednn):
    """A layer large enough for several packed blocks in every product (matmul.h), against
    torch.nn with its oneDNN kernels on and off. (An LSTM: a GRU this large drifts past
    1e-5 in float32.)"""
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(128, 64, bidirectional=True)
    ours = lk.LSTM.from_torch(theirs, impl="fused")
    x = torch.randn(32, 16, 128)  # T * B * I * 4H = 2**24
    lengths = random_lengths(16, 32, seed=2)
    hx = make_state(theirs, 16, torch.float32)
    with torch.backends.mkldnn.flags(enabled=onednn):
        assert_parity(ours, theirs, x, hx, lengths)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="OpenMP builds on Linux only")
def test_time_loop_gets_a_team_of_threads():
    """The library is built with OpenMP: a time loop that asks for two threads gets two
    (without it, every loop would quietly run on one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert torch.ops.lstmkit.team_size(2) == 2
        assert torch.ops.lstmkit.team_size(1) == 1
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("ta", [False, True], ids=["A", "At"])
@pytest.mark.parametrize("tb", [False, True], ids=["B", "Bt"])
@pytest.mark.parametrize("bias", [False, True], ids=["", "bias"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (67, 1100, 70), (300, 33, 130)])
def test_layer_products_match_torch_mm(shape, bias, tb, ta, dtype):
    """The input projection and the gradient products (matmul.h): every transposition, with
    and without a bias, shapes with partial row tiles, partial vector blocks and K past one
    packed block (1100 > 1024), on two threads."""
    m, k, n = shape
    g = torch.Generator().manual_seed(sum(shape))
    a = torch.randn((k, m) if ta else (m, k), generator=g, dtype=dtype)
    b = torch.randn((n, k) if tb else (k, n), generator=g, dtype=dtype)
    c = torch.randn(n, generator=g, dtype=dtype) if bias else None
    expected = (a.t() if ta else a) @ (b.t() if tb else b) + (0 if c is None else c)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        got = torch.ops.lstmkit.product(a, ta, b, tb, c)
    finally:
        torch.set_num_threads(threads)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-4}
    torch.testing.assert_close(got, expected, **tol)
