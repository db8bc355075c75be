"""The layer-normalised LSTM and GRU in the fused CPU kernels.

The input projection W_ih x is one GEMM over all T * B rows of all directions before the
loop (``torch.ops.lstmkit.linear``, on lstmkit's micro-kernel). The time loop runs in C++
(``cpu/ln_loop.cpp``) as the operator ``torch.ops.lstmkit.ln_fwd``: it normalises each row
of W_ih x as a step reads it (γ_ih LN(W_ih x) + β_ih + b_ih: no pass over the whole
projection of its own), and the recurrent product W_hh h̃ (and, for the LSTM, c'). Its
autograd formula, registered here, is the hand-written backward ``ln_bwd`` followed by
torch's layer-norm backward of the input side, from the row statistics the forward kept;
fake kernels let torch.compile trace both.

The kernels take the LN bias and b_hh of the recurrent side as one bias (they are only
ever added together), and the variant options (activations, peepholes, zoneout, recurrent
dropout) as the other variant cells do (:mod:`lstmkit.ops.fused_variants`).

Example:
    >>> import torch
    >>> from lstmkit.ops.spec import RNNSpec
    >>> from lstmkit.ops.weights import LayerWeights
    >>> spec = RNNSpec("gru", 2, 3, layer_norm=True, bias=False)
    >>> w = LayerWeights(torch.randn(9, 2), torch.randn(9, 3), ln_ih_w=torch.ones(9),
    ...                  ln_ih_b=torch.zeros(9), ln_hh_w=torch.ones(9), ln_hh_b=torch.zeros(9))
    >>> from lstmkit.ops import fused
    >>> if fused.available():
    ...     out, (h,) = run_layer(spec, torch.randn(4, 1, 2), (torch.zeros(1, 1, 3),), [w], None)
    ...     print(out.shape)
    torch.Size([4, 1, 3])
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import fused_variants
from .spec import RNNSpec
from .stack import State
from .weights import LayerWeights

_registered: list[bool] = []


def _stack(tensors: list[Tensor]) -> Tensor:
    return tensors[0].unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)


def projection(x: Tensor, weights: list[LayerWeights]) -> Tensor:
    """W_ih x of every direction side by side: x (T, B, I) -> (T, B, D*G*H)."""
    w_ih = _stack([w.w_ih for w in weights]).flatten(0, 1)  # (D*G*H, I)
    return torch.ops.lstmkit.linear(x, w_ih)


def _input_gain(weights: list[LayerWeights]) -> Tensor:
    return _stack([w.ln_ih_w for w in weights])  # (D, G*H)


def _input_bias(weights: list[LayerWeights]) -> Tensor:
    return _stack([w.ln_ih_b if w.b_ih is None else w.ln_ih_b + w.b_ih for w in weights])


def run_layer(
    spec: RNNSpec,
    x: Tensor,
    state: State,
    weights: list[LayerWeights],
    lengths: Tensor | None,
    training: bool = False,
) -> tuple[Tensor, State]:
    """One layer, all directions: x (T, B, I), state each (D, B, H) -> (out (T, B, D*H), state)."""
    lstm = spec.mode == "lstm"
    noises = fused_variants.draw(spec, x.shape[0], state, training)
    extra = fused_variants.extra_tensors(weights, noises, x)
    b_hh = [w.ln_hh_b if w.b_hh is None else w.ln_hh_b + w.b_hh for w in weights]
    empty = x.new_empty(0, spec.hidden_size)
    out, h_n, c_n, _ = torch.ops.lstmkit.ln_fwd(
        projection(x, weights),  # (T, B, D*G*H), normalised in the loop
        _input_gain(weights),
        _input_bias(weights),
        state[0],
        state[1] if lstm else None,
        _stack([w.w_hh for w in weights]),  # (D, G*H, H)
        _stack([w.ln_hh_w for w in weights]),  # (D, G*H)
        _stack(b_hh),
        _stack([w.ln_c_w for w in weights]) if lstm else empty,  # (D, H)
        _stack([w.ln_c_b for w in weights]) if lstm else empty,
        lengths,
        fused_variants.cell_code(spec),
        extra,
        _needs_grad(x, state, weights),
    )
    return out, ((h_n, c_n) if lstm else (h_n,))


def _needs_grad(x: Tensor, state: State, weights: list[LayerWeights]) -> bool:
    """Whether a backward pass may follow: then the kernel keeps every step's values."""
    if not torch.is_grad_enabled():
        return False
    tensors = [x, *state, *(t for w in weights for t in w.flat())]
    return any(t.requires_grad for t in tensors)


# ----------------------------------------------------------------------------- autograd

_INPUTS = (
    "gx", "g_ih", "b_ih", "h0", "c0", "w_hh", "g_hh", "b_hh", "g_c", "b_c", "lengths", "cell",
    "var", "save",
)  # fmt: skip
_KEPT = ("gx", "g_ih", "b_ih", "w_hh", "g_hh", "b_hh", "g_c", "b_c")


def _setup_context(ctx, inputs, output) -> None:
    args = dict(zip(_INPUTS, inputs, strict=True))
    ctx.has_c0 = args["c0"] is not None
    ctx.cell, ctx.var_count = args["cell"], len(args["var"])
    ctx.mark_non_differentiable(output[3])
    ctx.set_materialize_grads(False)  # no zeros for the workspace (tens of MB) or unused states
    lengths = args["lengths"] if args["lengths"] is not None else args["gx"].new_empty(0)
    ctx.has_lengths = args["lengths"] is not None
    ctx.save_for_backward(*(args[name] for name in _KEPT), lengths, output[3], *args["var"])


def _input_backward(
    dgi: Tensor, gx: Tensor, gain: Tensor, bias: Tensor, ws: Tensor, mask: list[bool]
) -> tuple[Tensor | None, Tensor, Tensor]:
    """torch's layer-norm backward of every direction's input side, γ_ih LN(gx) + β_ih, from
    the row statistics the kernel kept (the last 2 * T * B elements of each workspace row).

    dgi, gx: (T, B, D*G*H). Returns (dL/dgx or None, dL/dγ_ih (D, G*H), dL/dβ_ih (D, G*H)).
    """
    steps, batch, rows = gx.shape[0], gx.shape[1], gain.shape[1]
    tb = steps * batch
    stats = ws[:, ws.shape[1] - 2 * tb :].view(len(gain), 2, steps, batch, 1)
    parts = []
    for k in range(len(gain)):
        cols = slice(k * rows, (k + 1) * rows)
        mean, rstd = stats[k, 0], stats[k, 1]
        parts.append(
            torch.ops.aten.native_layer_norm_backward(
                dgi[..., cols], gx[..., cols], [rows], mean, rstd, gain[k], bias[k], mask
            )
        )
    dgx = None
    if mask[0]:
        dgx = parts[0][0] if len(parts) == 1 else torch.cat([p[0] for p in parts], dim=-1)
    return dgx, torch.stack([p[1] for p in parts]), torch.stack([p[2] for p in parts])


def _backward(ctx, grad_out, grad_h_n, grad_c_n, _grad_ws):
    gx, g_ih, b_ih, w_hh, g_hh, b_hh, g_c, b_c, lengths, ws, *var = ctx.saved_tensors
    if grad_out is None:  # gradients are not materialised: None where an output had none
        dirs = w_hh.shape[0]
        grad_out = gx.new_zeros(gx.shape[0], gx.shape[1], dirs * w_hh.shape[2])
    if grad_h_n is None:
        grad_h_n = gx.new_zeros(w_hh.shape[0], gx.shape[1], w_hh.shape[2])
    grads = torch.ops.lstmkit.ln_bwd(
        grad_out,
        grad_h_n,
        grad_c_n if ctx.has_c0 else None,
        w_hh,
        g_hh,
        b_hh,
        g_c,
        b_c,
        lengths if ctx.has_lengths else None,
        ws,
        ctx.cell,
        var,
    )
    dgi, dh0, dc0, dw_hh, dg_hh, db_hh, dg_c, db_c, dvar = grads
    mask = [ctx.needs_input_grad[0], True, True]
    dgx, dg_ih, db_ih = _input_backward(dgi, gx, g_ih, b_ih, ws, mask)
    dvar = [g if g.numel() else None for g in dvar]
    lstm_only = (dg_c, db_c) if ctx.has_c0 else (None, None)
    dc0 = dc0 if ctx.has_c0 else None
    return dgx, dg_ih, db_ih, dh0, dc0, dw_hh, dg_hh, db_hh, *lstm_only, None, None, dvar, None


def _linear_setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(*inputs)


def _linear_backward(ctx, grad):
    x, w = ctx.saved_tensors
    grad_x = torch.ops.lstmkit.linear(grad, w.t()) if ctx.needs_input_grad[0] else None
    grad_w = None
    if ctx.needs_input_grad[1]:  # dW = grad^T x over all T * B rows, on the same micro-kernel
        rows = grad.reshape(-1, grad.shape[-1]), x.reshape(-1, x.shape[-1])
        grad_w = torch.ops.lstmkit.product(rows[0], True, rows[1], False, None)
    return grad_x, grad_w


# ----------------------------------------------------------------------------- fakes


def workspace_size(lstm: bool, steps: int, batch: int, hidden: int) -> int:
    """Elements saved per direction (``ln_layout`` in ln_loop.cpp); without saving, the
    kernel keeps one step (``steps=1``).

    >>> workspace_size(False, steps=5, batch=2, hidden=3)  # GRU
    276
    """
    tb, gates = steps * batch, (4 if lstm else 3) * hidden
    size = 2 * tb * gates + tb + (steps + 1) * batch * hidden + 2 * tb  # + input-side stats
    if lstm:
        return size + (steps + 1) * batch * hidden + 2 * tb * hidden + tb
    return size + tb * hidden


def _fake_linear(x, w):
    return x.new_empty(*x.shape[:-1], w.shape[0])


def _fake_forward(gx, g_ih, b_ih, h0, c0, w_hh, g_hh, b_hh, g_c, b_c, lengths, cell, var, save):
    steps, batch = gx.shape[0], gx.shape[1]
    dirs, hidden = w_hh.shape[0], w_hh.shape[2]
    lstm = c0 is not None
    out = gx.new_empty(steps, batch, dirs * hidden)
    c_n = gx.new_empty(dirs if lstm else 0, batch, hidden)
    ws = gx.new_empty(dirs, workspace_size(lstm, steps if save else 1, batch, hidden))
    return out, h0.new_empty(h0.shape), c_n, ws


def _fake_backward(
    grad_out, grad_h_n, grad_c_n, w_hh, g_hh, b_hh, g_c, b_c, lengths, ws, cell, var
):
    dirs, rows, hidden = w_hh.shape
    lstm = rows == 4 * hidden
    dgx = grad_out.new_empty(grad_out.shape[0], grad_out.shape[1], dirs * rows)
    dc0 = grad_h_n.new_empty(dirs if lstm else 0, grad_h_n.shape[1], hidden)
    lstm_dirs = dirs if lstm else 0
    dvar = [
        t.new_empty(t.shape if lstm and k % 6 < 3 and t.numel() else (0,))
        for k, t in enumerate(var)
    ]
    return (
        dgx,
        grad_h_n.new_empty(grad_h_n.shape),
        dc0,
        w_hh.new_empty(w_hh.shape),
        g_hh.new_empty(g_hh.shape),
        b_hh.new_empty(b_hh.shape),
        w_hh.new_empty(lstm_dirs, hidden),
        w_hh.new_empty(lstm_dirs, hidden),
        dvar,
    )


def register() -> None:
    """Register the autograd formula and the fakes (once per process, after the build)."""
    if _registered:
        return
    torch.library.register_fake("lstmkit::linear")(_fake_linear)
    torch.library.register_autograd(
        "lstmkit::linear", _linear_backward, setup_context=_linear_setup
    )
    torch.library.register_fake("lstmkit::ln_fwd")(_fake_forward)
    torch.library.register_fake("lstmkit::ln_bwd")(_fake_backward)
    torch.library.register_autograd("lstmkit::ln_fwd", _backward, setup_context=_setup_context)
    _registered.append(True)
