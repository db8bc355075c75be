"""Shared test helpers: the parity check every implementation goes through.

``assert_parity`` runs two recurrent modules with the same parameter names on the same
input, pushes the same random cotangent through both, and compares outputs, final states
and the gradients of the input, the initial states and every parameter.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit import nn as lk

TOL = {torch.float64: {"rtol": 1e-10, "atol": 1e-10}, torch.float32: {"rtol": 1e-5, "atol": 1e-5}}


def as_tuple(state) -> tuple[Tensor, ...]:
    return tuple(state) if isinstance(state, tuple | list) else (state,)


def run_torch(module: nn.Module, x: Tensor, hx, lengths: Tensor | None):
    """Run a torch.nn recurrent module; variable lengths go through its packed path."""
    if lengths is None:
        return module(x, hx)
    bf = module.batch_first
    packed = pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=False)
    out, state = module(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=bf, total_length=x.shape[1 if bf else 0])
    return out, state


def run_ours(module: nn.Module, x: Tensor, hx, lengths: Tensor | None):
    return module(x, hx, lengths=lengths)


def make_state(module: nn.Module, batch: int, dtype: torch.dtype, seed: int = 1):
    """Random initial state(s) of the right shape for a torch.nn or lstmkit.nn stack."""
    g = torch.Generator().manual_seed(seed)
    rows = module.num_layers * (2 if module.bidirectional else 1)
    proj = getattr(module, "proj_size", 0)
    if module.mode.lower() == "lstm":  # torch.nn says "LSTM", lstmkit "lstm"
        h = torch.randn(rows, batch, proj or module.hidden_size, generator=g, dtype=dtype)
        c = torch.randn(rows, batch, module.hidden_size, generator=g, dtype=dtype)
        return (h, c)
    return torch.randn(rows, batch, module.hidden_size, generator=g, dtype=dtype)


def assert_parity(
    ours: nn.Module,
    theirs: nn.Module,
    x: Tensor,
    hx=None,
    lengths: Tensor | None = None,
    run_a=run_ours,
    run_b=run_torch,
) -> None:
    """Outputs, final states and all gradients of ``ours`` and ``theirs`` agree."""
    tol = TOL[x.dtype]
    results = []
    for module, run in ((ours, run_a), (theirs, run_b)):
        xi = x.detach().clone().requires_grad_()
        hi = None
        if hx is not None:
            hi = tuple(h.detach().clone().requires_grad_() for h in as_tuple(hx))
            hi = hi if len(hi) >= 2 else hi[0]  # LSTM (h, c) or FGR (h, c, q); else h
        out, state = run(module, xi, hi, lengths)
        state = as_tuple(state)
        g = torch.Generator().manual_seed(7)  # the same cotangent for both
        loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
        for s in state:
            loss = loss + (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
        module.zero_grad(set_to_none=True)
        loss.backward()
        grads = {"input": xi.grad}
        if hi is not None:
            grads.update({f"hx[{i}]": h.grad for i, h in enumerate(as_tuple(hi))})
        grads.update({f"grad {n}": p.grad for n, p in module.named_parameters()})
        results.append((out, state, grads))
    (out_a, state_a, grads_a), (out_b, state_b, grads_b) = results
    torch.testing.assert_close(out_a, out_b, **tol, msg=lambda m: f"output: {m}")
    assert len(state_a) == len(state_b)
    for i, (a, b) in enumerate(zip(state_a, state_b, strict=True)):
        torch.testing.assert_close(a, b, **tol, msg=lambda m, i=i: f"final state {i}: {m}")
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        a, b = grads_a[name], grads_b[name]
        assert a is not None and b is not None, f"{name}: missing gradient"
        torch.testing.assert_close(a, b, **tol, msg=lambda m, n=name: f"{n}: {m}")


def random_lengths(batch: int, steps: int, seed: int = 0) -> Tensor:
    """Unsorted lengths in [1, T], with T itself and 1 both present when B >= 2."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, steps + 1, (batch,), generator=g)
    if batch >= 2:
        lengths[0], lengths[-1] = 1, steps
        lengths = lengths[torch.randperm(batch, generator=g)]
    return lengths


# --------------------------------------------------------------------------- option matrix

T, B, I, H = 5, 3, 4, 5

# (layers, bidirectional, batch_first, bias, hx given, lengths)
MATRIX = list(
    itertools.product(
        (1, 2, 3), (False, True), (False, True), (True, False), (False, True), (False, True)
    )
)
KINDS = {
    "lstm": (nn.LSTM, lk.LSTM, {}),
    "lstm_proj": (nn.LSTM, lk.LSTM, {"proj_size": 3}),
    "gru": (nn.GRU, lk.GRU, {}),
    "rnn_tanh": (nn.RNN, lk.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, lk.RNN, {"nonlinearity": "relu"}),
}


def build_pair(kind, layers, bidir, batch_first, bias, dtype, impl="reference"):
    theirs_cls, ours_cls, extra = KINDS[kind]
    torch.manual_seed(0)
    theirs = theirs_cls(
        I,
        H,
        num_layers=layers,
        bias=bias,
        batch_first=batch_first,
        bidirectional=bidir,
        dtype=dtype,
        **extra,
    )
    ours = ours_cls.from_torch(theirs, impl=impl)
    return ours, theirs
