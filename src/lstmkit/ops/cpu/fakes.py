"""Fake kernels of the lstmkit operators: output shapes and dtypes, no computation.

torch.compile and torch.export run these instead of the C++ kernels while tracing. The
workspace size must match ``layout_of`` in layer.cpp (checked by torch.library.opcheck in
the tests).

Example:
    >>> workspace_size(0, steps=5, batch=2, hidden=3, proj=0)  # LSTM: gates + h, c slots
    192
"""

from __future__ import annotations

import torch
from torch import Tensor

# cell kind (the code's low 4 bits) -> gates: LSTM, GRU, RNN tanh, RNN relu, variants
GATES = {0: 4, 1: 3, 2: 1, 3: 1, 4: 4, 5: 3}  # 4, 5: variant LSTM, GRU
_registered: list[bool] = []


def workspace_size(cell: int, steps: int, batch: int, hidden: int, proj: int) -> int:
    """Elements saved per direction: gates | GRU extra | h slots | c slots | r."""
    width = 4 * hidden if _fgr(cell) else proj or hidden  # FGR's slots hold [h, q]
    cell = {4: 0, 5: 1}.get(cell & 15, cell & 15)  # a variant saves what its cell saves
    tb = steps * batch
    size = tb * GATES[cell] * hidden + (steps + 1) * batch * width
    if cell == 1:
        size += tb * hidden
    if cell == 0:
        size += (steps + 1) * batch * hidden + (tb * hidden if proj else 0)
    return size


def _fgr(cell: int) -> bool:
    """Whether a cell code is an FGR LSTM's (cells.h: is_fgr)."""
    return cell & 15 == 4 and bool(cell >> 17 & 1)


def _forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell, save, var=()):
    steps, batch = x.shape[0], x.shape[1]
    dirs, hidden = len(w_ih), w_ih[0].shape[0] // GATES[cell & 15]
    state_size = w_hh[0].shape[1]  # P; FGR's 4H
    proj = state_size if w_hr else 0
    out = x.new_empty(steps, batch, dirs * (hidden if _fgr(cell) else state_size))
    h_n = x.new_empty(dirs, batch, state_size)
    c_n = x.new_empty(dirs if GATES[cell & 15] == 4 else 0, batch, hidden)
    ws_size = workspace_size(cell, steps, batch, hidden, proj)
    ws = x.new_empty(dirs if save else 0, ws_size)
    return out, h_n, c_n, ws


def _rnn(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell, var=()):
    return _forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell, False, var)[:3]


def _rnn_variant(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell, var):
    return _rnn(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell, var)


def _backward(
    grad_out,
    grad_h_n,
    grad_c_n,
    x,
    h0,
    c0,
    w_ih,
    w_hh,
    b_ih,
    b_hh,
    w_hr,
    lengths,
    ws,
    cell,
    need_input,
    need_weights,
    var=(),
):
    def like(tensors: list[Tensor]) -> list[Tensor]:
        return [t.new_empty(t.shape) if need_weights else t.new_empty(0) for t in tensors]

    dx = x.new_empty(x.shape) if need_input else x.new_empty(0)
    hidden = w_ih[0].shape[0] // GATES[cell & 15]
    dc0 = x.new_empty(len(w_ih) if GATES[cell & 15] == 4 else 0, x.shape[1], hidden)
    weights = like(w_ih), like(w_hh), like(b_ih), like(b_hh), like(w_hr)
    # peephole weights (the first three of every six) have a gradient, the masks none
    dvar = [t.new_empty(t.shape if k % 6 < 3 else (0,)) for k, t in enumerate(var)]
    return dx, h0.new_empty(h0.shape), dc0, *weights, dvar


def _product(a, ta, b, tb, bias=None):
    return a.new_empty(a.shape[1] if ta else a.shape[0], b.shape[0] if tb else b.shape[1])


def _keep_mask(code, numel, dtype):
    return code.new_empty(numel, dtype=dtype)


def register() -> None:
    """Register the fakes (once per process, after the library is loaded)."""
    if _registered:
        return
    torch.library.register_fake("lstmkit::rnn")(_rnn)
    torch.library.register_fake("lstmkit::rnn_variant")(_rnn_variant)
    torch.library.register_fake("lstmkit::rnn_fwd")(_forward)
    torch.library.register_fake("lstmkit::rnn_bwd")(_backward)
    torch.library.register_fake("lstmkit::product")(_product)
    torch.library.register_fake("lstmkit::keep_mask")(_keep_mask)
    _registered.append(True)
