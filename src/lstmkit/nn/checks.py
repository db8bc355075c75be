"""Input checking for the nn modules, done before any kernel runs.

Every message names the argument, the expected and the actual value. Wrong Python types
and dtypes raise ``TypeError``; wrong shapes, sizes and values raise ``ValueError``.

Example:
    >>> import torch
    >>> as_lengths([3, 1], batch=2, steps=3)
    tensor([3, 1])
    >>> as_lengths([4, 1], batch=2, steps=3)
    Traceback (most recent call last):
    ...
    ValueError: lengths: expected every value in [1, 3] (T = 3), got 4 at index 0
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def shape_str(shape: Sequence[int]) -> str:
    """``(2, 3)`` for a shape; ``(5,)`` for one dimension."""
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def require_tensor(arg: str, value: object, what: str = "a torch.Tensor") -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{arg}: expected {what}, got {type(value).__name__}")
    return value


def require_like(arg: str, t: Tensor, weight: Tensor) -> None:
    """``t`` must have the dtype and device of the module's weights."""
    if not t.is_floating_point():
        raise TypeError(f"{arg}: expected a floating-point tensor, got dtype {t.dtype}")
    if t.dtype != weight.dtype:
        raise TypeError(
            f"{arg}: expected dtype {weight.dtype} (the dtype of the weights), got {t.dtype}; "
            f"convert the tensor with .to({weight.dtype}) or the module with .to({t.dtype})"
        )
    if t.device != weight.device:
        raise ValueError(
            f"{arg}: expected a tensor on {weight.device} (the device of the weights), "
            f"got one on {t.device}"
        )


def require_shape(arg: str, t: Tensor, expected: Sequence[int], meaning: str) -> None:
    if tuple(t.shape) != tuple(expected):
        raise ValueError(
            f"{arg}: expected shape {shape_str(expected)} = {meaning}, got {shape_str(t.shape)}"
        )


def require_layout(
    arg: str, x: Tensor, rank: int, batched: str, unbatched: str, input_size: int
) -> None:
    """``x`` is ``rank``-D (``batched``) or one less (``unbatched``), with I features last."""
    if x.dim() not in (rank - 1, rank):
        raise ValueError(
            f"{arg}: expected a {rank}-D tensor {batched} or a {rank - 1}-D unbatched "
            f"{unbatched}, got a {x.dim()}-D tensor of shape {shape_str(x.shape)}"
        )
    if x.shape[-1] != input_size:
        raise ValueError(
            f"{arg}: expected {input_size} features in the last dimension (input_size), "
            f"got {x.shape[-1]} in shape {shape_str(x.shape)}"
        )


def check_sequence(
    arg: str, x: object, input_size: int, batch_first: bool, weight: Tensor
) -> Tensor:
    """A sequence input: (T, B, I), (B, T, I) when batch_first, or unbatched (T, I)."""
    x = require_tensor(arg, x, "a torch.Tensor or a PackedSequence")
    layout = "(B, T, I)" if batch_first else "(T, B, I)"
    require_layout(arg, x, 3, layout, "(T, I)", input_size)
    time_dim = 1 if batch_first and x.dim() == 3 else 0
    if x.shape[time_dim] == 0:
        raise ValueError(f"{arg}: expected at least one time step (T >= 1), got T = 0")
    require_like(arg, x, weight)
    return x


def check_step(arg: str, x: object, input_size: int, weight: Tensor) -> Tensor:
    """A single-step input for a cell: (B, I) or unbatched (I,)."""
    x = require_tensor(arg, x)
    require_layout(arg, x, 2, "(B, I)", "(I,)", input_size)
    require_like(arg, x, weight)
    return x


def check_state(
    names: Sequence[str],
    hx: object,
    shapes: Sequence[Sequence[int]],
    meanings: Sequence[str],
    weight: Tensor,
) -> tuple[Tensor, ...]:
    """Initial states: one tensor, or a tuple of them (LSTM's (h_0, c_0)).

    Args:
        names: how each state is called in messages, e.g. ``("hx[0] (h_0)", "hx[1] (c_0)")``.
        hx: what the caller passed.
        shapes: the expected shape of each state.
        meanings: the shape in letters, e.g. ``"(L*D, B, H)"``.
    """
    if len(names) == 1:
        states = (require_tensor("hx", hx),)
    else:
        if not isinstance(hx, tuple | list) or len(hx) != len(names):
            got = f"a tuple of {len(hx)}" if isinstance(hx, tuple | list) else type(hx).__name__
            short = ", ".join(n.split("(")[-1].rstrip(")") for n in names)  # "h_0, c_0"
            count = {2: "two", 3: "three"}.get(len(names), str(len(names)))
            raise TypeError(f"hx: expected a tuple ({short}) of {count} tensors, got {got}")
        states = tuple(require_tensor(n, s) for n, s in zip(names, hx, strict=True))
    for name, s, shape, meaning in zip(names, states, shapes, meanings, strict=True):
        require_shape(name, s, shape, meaning)
        require_like(name, s, weight)
    return states


def fitting_states(
    hx: object, batch: int, sizes: Sequence[int], weight: Tensor
) -> tuple[Tensor, ...] | None:
    """``hx`` as a tuple of states if it already is what a cell takes: a (B, S) tensor for
    one state, else a tuple or list of them, one per size, with the weight's dtype and
    device; None otherwise. A quick test for the common case, building no message:
    :func:`check_state` says what is wrong."""
    states = (hx,) if len(sizes) == 1 else hx
    if not isinstance(states, tuple | list) or len(states) != len(sizes):
        return None
    for s, size in zip(states, sizes, strict=True):
        if not isinstance(s, Tensor) or s.shape != (batch, size):
            return None
        if s.dtype != weight.dtype or s.device != weight.device:
            return None
    return tuple(states)


def as_lengths(lengths: object, batch: int, steps: int) -> Tensor:
    """Valid steps per sequence as a (B,) int64 CPU tensor, each in [1, T].

    Accepts a tensor on any device, a list, a tuple or a numpy array, in any order.
    """
    if isinstance(lengths, Tensor):
        t = lengths.detach()
    else:
        try:
            t = torch.as_tensor(lengths)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"lengths: expected a (B,) tensor or list of integers, got {type(lengths).__name__}"
            ) from err
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"lengths: expected integers, got dtype {t.dtype}")
    if t.dim() != 1 or t.shape[0] != batch:
        raise ValueError(
            f"lengths: expected {batch} values (one per sequence, shape ({batch},)), "
            f"got shape {shape_str(t.shape)}"
        )
    t = t.to("cpu", torch.int64)
    bad = ((t < 1) | (t > steps)).nonzero()
    if len(bad):
        i = int(bad[0, 0])
        raise ValueError(
            f"lengths: expected every value in [1, {steps}] (T = {steps}), "
            f"got {int(t[i])} at index {i}"
        )
    return t
