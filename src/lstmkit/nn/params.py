"""Fast lookup of a module's parameters by name, for the per-call path of the modules.

``getattr(module, name)`` on a torch module goes through ``Module.__getattr__`` for every
parameter, and raises and catches an AttributeError for every name that is absent: for the
15 parameter names of a layer that costs tens of microseconds per call, as much as a small
LSTM step. :func:`lookup` reads the parameter dictionary directly and falls back to
``getattr`` only for a name held some other way (a parametrization, a buffer, a plain
attribute), so it answers exactly what ``getattr(module, name, None)`` would.

Example:
    >>> import torch
    >>> m = torch.nn.Linear(2, 3)
    >>> [None if t is None else tuple(t.shape) for t in lookup(m, ("weight", "bias", "gain"))]
    [(3, 2), (3,), None]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from torch import Tensor, nn

from ..ops.weights import PARAM_STEMS


def lookup(module: nn.Module, names: Iterable[str]) -> list[Tensor | None]:
    """``[getattr(module, name, None) for name in names]``, without the slow paths."""
    params, attrs, buffers = module._parameters, module.__dict__, module._buffers
    on_class = class_names(type(module))
    found: list[Tensor | None] = []
    for name in names:
        if name in params:
            found.append(params[name])
        elif name in attrs or name in on_class or name in buffers:
            found.append(getattr(module, name, None))
        else:
            found.append(None)
    return found


_CLASS_NAMES: dict[type, frozenset[str]] = {}


def class_names(kind: type) -> frozenset[str]:
    """The attribute names a class defines (parametrizations add properties this way: a
    parametrized module gets a new class of its own), kept per class in a plain dict."""
    found = _CLASS_NAMES.get(kind)
    if found is None:
        if len(_CLASS_NAMES) >= 256:
            _CLASS_NAMES.clear()
        found = _CLASS_NAMES[kind] = frozenset(dir(kind))
    return found


def gather(module: nn.Module, slots: Sequence[int], names: Sequence[str]) -> list[Tensor | None]:
    """A list of ``len(PARAM_STEMS)`` entries: the parameter ``names[i]`` of ``module`` in
    ``slots[i]`` (its stem's place in PARAM_STEMS, LayerWeights' order), None elsewhere.

    Example:
        >>> import torch
        >>> m = torch.nn.Linear(2, 3)
        >>> [None if t is None else tuple(t.shape) for t in gather(m, (1,), ("weight",))][:3]
        [None, (3, 2), None]
    """
    values: list[Tensor | None] = [None] * len(PARAM_STEMS)
    for slot, found in zip(slots, lookup(module, names), strict=True):
        values[slot] = found
    return values
