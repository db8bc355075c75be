"""Choosing an implementation for each call.

``impl="auto"`` takes the fastest implementation that supports the configuration and falls
back quietly; a forced choice that cannot serve it raises a ``ValueError`` naming the option
in the way. The choice depends only on the configuration and the shapes of the call, never
on timing a call: "auto" takes the fused kernels where :mod:`lstmkit.ops.rules` (read off
the benchmark) says they beat torch's, and when they could be built.

If the fused kernels cannot be built, a forced ``impl="fused"`` runs the reference ops
(the build failure has already been reported by one warning).

Example:
    >>> from lstmkit.ops.spec import RNNSpec
    >>> choose_impl(RNNSpec("gru", 4, 8), "auto")
    'native'
    >>> choose_impl(RNNSpec("gru", 4, 8, reset_after=False), "auto")
    'reference'
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from . import cpu, fused, native, reference, rules, variants
from .spec import RNNSpec
from .stack import State
from .weights import LayerWeights

IMPLS = ("auto", "reference", "native", "fused")


def choose_impl(
    spec: RNNSpec, impl: str = "auto", x: Tensor | None = None, grad: bool = False
) -> str:
    """Resolve ``impl`` for ``spec`` to a concrete implementation name.

    Args:
        spec: the configuration.
        impl: ``"auto"``, ``"reference"``, ``"native"`` or ``"fused"``.
        x: the (T, B, I) input of the call; None checks the configuration alone (as the
            modules do at construction), and "auto" then answers without the fused kernels.
        grad: whether a backward pass will follow (autograd is recording).

    Raises:
        ValueError: ``impl`` is unknown, or forced to one that cannot serve ``spec`` or ``x``.
    """
    if impl not in IMPLS:
        raise ValueError(f"impl: expected one of {', '.join(map(repr, IMPLS))}, got {impl!r}")
    blocker = _blockers(spec)[0]
    if impl == "native" and blocker:
        raise ValueError(
            f"impl='native': torch's fused {spec.mode.upper()} kernel does not support "
            f"{blocker}; use impl='reference' or impl='auto'"
        )
    if impl == "fused":
        return _forced_fused(spec, x)
    if impl == "auto":
        if x is not None and _auto_takes_fused(spec, x, grad, native_serves=not blocker):
            return "fused"
        return "reference" if blocker else "native"
    return impl


_BLOCKERS: dict[RNNSpec, tuple[str | None, str | None]] = {}


def _blockers(spec: RNNSpec) -> tuple[str | None, str | None]:
    """(native.unsupported(spec), fused.unsupported(spec)), kept per spec: specs are frozen
    and a module asks for the same one on every call. (A plain dict, not functools'
    lru_cache, which torch.compile warns about.)"""
    found = _BLOCKERS.get(spec)
    if found is None:
        if len(_BLOCKERS) >= 256:
            _BLOCKERS.clear()
        found = _BLOCKERS[spec] = (native.unsupported(spec), fused.unsupported(spec))
    return found


def _forced_fused(spec: RNNSpec, x: Tensor | None) -> str:
    blocker = _blockers(spec)[1] or (fused.unsupported_input(x) if x is not None else None)
    if blocker:
        raise ValueError(
            f"impl='fused': lstmkit's fused CPU kernels do not support {blocker}; "
            "use impl='reference', impl='native' or impl='auto'"
        )
    if x is None or fused.available():
        return "fused"
    return "reference"


def _auto_takes_fused(spec: RNNSpec, x: Tensor, grad: bool, native_serves: bool) -> bool:
    if _blockers(spec)[1] or fused.unsupported_input(x):
        return False
    steps, batch = x.shape[0], x.shape[1]
    faster = not native_serves or rules.prefer_fused(
        spec.mode, batch, spec.hidden_size, steps, x.dtype, grad
    )
    return faster and fused.available()


def _needs_grad(x: Tensor, hx: State, weights: list[LayerWeights]) -> bool:
    if not torch.is_grad_enabled():
        return False
    tensors = [x, *hx, *(t for w in weights for t in w.flat())]
    return any(t.requires_grad for t in tensors)


def rnn(
    spec: RNNSpec,
    x: Tensor,
    hx: State,
    weights: list[LayerWeights],
    lengths: Tensor | None = None,
    training: bool = False,
    impl: str = "auto",
) -> tuple[Tensor, State]:
    """Run a recurrent stack with the implementation ``impl`` resolves to.

    Args:
        spec: the stack's configuration.
        x: (T, B, I) time-major input, already checked.
        hx: initial states, (h0,) or (h0, c0), each (L*D, B, S).
        weights: L*D layer-directions, layer-major, forward before reverse.
        lengths: (B,) int64 CPU tensor of valid steps per sequence, or None.
        training: enables dropout between layers and the variants' noise; weight drop
            (DropConnect on W_hh) is applied here, once per call, so every implementation
            runs on the dropped weights.
        impl: ``"auto"``, ``"reference"``, ``"native"`` or ``"fused"``.

    Returns:
        (out (T, B, D*(P or H)), final states like hx).

    Example:
        >>> spec = RNNSpec("lstm", 2, 3, bias=False)
        >>> w = [LayerWeights(torch.randn(12, 2), torch.randn(12, 3))]
        >>> hx = (torch.zeros(1, 4, 3), torch.zeros(1, 4, 3))
        >>> out, (h, c) = rnn(spec, torch.randn(5, 4, 2), hx, w, lengths=torch.tensor([5, 2, 3, 1]))
        >>> out[2:, 1].abs().sum().item()  # steps past length 2 are zero
        0.0
    """
    if lengths is not None and bool((lengths == x.shape[0]).all()):
        lengths = None  # every sequence is full: no masking or packing needed
    weights = variants.drop_weights(spec, weights, training)
    chosen = choose_impl(spec, impl, x, _needs_grad(x, hx, weights))
    if chosen == "native":
        return native.rnn(spec, x, hx, weights, lengths, training)
    if chosen == "fused":
        return fused.rnn(spec, x, hx, weights, lengths, training)
    valid = None
    if lengths is not None:
        steps = torch.arange(x.shape[0], device=x.device)
        valid = (steps[:, None] < lengths.to(x.device)[None, :]).unsqueeze(-1)  # (T, B, 1)
    return reference.rnn(spec, x, hx, weights, valid, training)


def cell(
    spec: RNNSpec,
    x: Tensor,
    state: State,
    weights: LayerWeights,
    impl: str = "auto",
    training: bool = False,
) -> State:
    """One step of a single cell: x (B, I), state ((B, S), ...) -> new state.

    ``training`` draws the variants' noise as for a sequence of one step.
    """
    weights = variants.drop_weights(spec, [weights], training)[0]
    chosen = choose_impl(spec, impl, x.unsqueeze(0), _needs_grad(x, state, [weights]))
    if chosen == "native":
        return native.cell(spec, x, state, weights)
    if chosen == "fused":
        return fused.cell(spec, x, state, weights, training)
    return reference.cell(spec, x, state, weights, training)


QuickStep = Callable[[Mapping[str, object], object, object], object]


def quick_step(spec: RNNSpec, impl: str, names: Sequence[str]) -> QuickStep | None:
    """For a cell module of ``spec`` whose parameters are ``names`` (torch.nn's order:
    weight_ih, weight_hh[, bias_ih, bias_hh]): a function ``step(params, x, hx)`` that runs
    a call straight on the fused one-step kernel, or None when no call of it may.

    A cell may go straight to the kernel when it is a plain cell (no variant option) that the
    fused kernels serve, with ``impl="fused"``, or ``"auto"`` where the rules take the fused
    cell at this hidden size for a call without a backward pass (up to their number of rows).
    A cell module asks once per value of its ``impl``.

    ``step`` takes the module's parameter dictionary, x (B, I) and hx (the LSTM's (h, c), else
    h) and returns what the module returns ((h', c') or h'), or None; the caller then takes
    the full path (:func:`cell`, with its checks and messages). None unless no tracer runs,
    every weight is in ``params`` (not a parametrization) and x, h and c are plain tensors
    that the kernel takes as they are: B up to the rows, the weights' dtype (float32 or
    float64) and device (CPU), contiguous, none needing a gradient under grad mode, no mode
    active (the kernel's binding checks those). Python does as little as it can: the call
    of a small cell costs about as much as its step.

    Example:
        >>> w = {"weight_ih": torch.randn(12, 3), "weight_hh": torch.randn(12, 4)}
        >>> step = quick_step(RNNSpec("gru", 3, 4, bias=False), "fused", list(w))
        >>> x, h = torch.ones(2, 3), torch.ones(2, 4)
        >>> with torch.no_grad():
        ...     new = step(w, x, h) if step else None  # None if the kernels are not built
        >>> new is None or torch.allclose(new, torch.gru_cell(x, h, *w.values()), atol=1e-6)
        True
    """
    if impl not in ("auto", "fused") or spec.variant_options() or _blockers(spec)[1]:
        return None
    rows = rules.ONE_STEP_MAX_BATCH if impl == "auto" else 2**62
    mode, hidden = spec.mode, spec.hidden_size
    if impl == "auto" and not rules.prefer_fused(mode, 1, hidden, 1, torch.float32, False):
        return None
    if not fused.available():
        return None
    code, kernel, lstm = fused.cell_code(spec), cpu.module().quick_cell, mode == "lstm"
    weights = operator.itemgetter(*names)  # (weight_ih, weight_hh[, bias_ih, bias_hh])
    no_bias = () if len(names) == 4 else (None, None)

    def step(params: Mapping[str, object], x: object, hx: object) -> object:
        if torch.compiler.is_compiling() or type(x) is not Tensor:
            return None
        if not lstm:
            h, c = hx, None
        elif type(hx) is tuple and len(hx) == 2 and type(hx[1]) is Tensor:
            h, c = hx
        else:
            return None
        if type(h) is not Tensor:
            return None
        try:
            w = weights(params)
        except KeyError:  # a weight held another way (a parametrization): the full path
            return None
        new = kernel(x, h, c, *w, *no_bias, code, rows)
        return new if new is None or lstm else new[0]

    return step
