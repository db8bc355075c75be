"""Nested state (optimizer, RNG, callback states) as strict JSON plus a dict of tensors.

``encode`` walks dicts, lists, tuples, numbers, strings, booleans, None and tensors; every
tensor is moved to a flat ``{key: tensor}`` dict (saved as safetensors) and replaced in the
JSON by a reference. Tuples, dicts with non-string keys and non-finite floats, which
strict JSON cannot hold, are tagged so that ``decode`` gives back exactly what went in.
Anything else raises a ``TypeError`` naming where it was found: nothing is ever pickled.

Example:
    >>> import torch
    >>> tree, tensors = encode({"step": 3, "betas": (0.9, 0.999), 0: torch.ones(2)})
    >>> sorted(tensors)
    ['t0']
    >>> decode(tree, tensors)
    {'step': 3, 'betas': (0.9, 0.999), 0: tensor([1., 1.])}
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

_TAGS = ("__tensor__", "__tuple__", "__dict__", "__float__")


def encode(value: Any) -> tuple[Any, dict[str, Tensor]]:
    """``(tree, tensors)``: a strict-JSON-compatible tree and the tensors it refers to."""
    tensors: dict[str, Tensor] = {}
    return _encode(value, tensors, "state"), tensors


def _encode(value: Any, tensors: dict[str, Tensor], path: str) -> Any:
    if isinstance(value, Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(value, np.generic):
        value = value.item()  # numpy scalars, e.g. from metrics computed with numpy
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and k not in _TAGS for k in value):
            return {k: _encode(v, tensors, f"{path}.{k}") for k, v in value.items()}
        items = []
        for k, v in value.items():
            items.append([_encode(k, tensors, path), _encode(v, tensors, f"{path}[{k!r}]")])
        return {"__dict__": items}
    raise TypeError(
        f"{path}: cannot store a {type(value).__name__} in a model file "
        "(only numbers, strings, lists, dicts and tensors can be saved without pickle)"
    )


def decode(tree: Any, tensors: dict[str, Tensor]) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(tree, list):
        return [decode(v, tensors) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__tensor__" in tree:
        key = tree["__tensor__"]
        if key not in tensors:
            raise ValueError(f"state: refers to tensor {key!r}, which the file does not hold")
        return tensors[key]
    if "__tuple__" in tree:
        return tuple(decode(v, tensors) for v in tree["__tuple__"])
    if "__float__" in tree:
        return float(tree["__float__"])
    if "__dict__" in tree:
        return {_hashable(decode(k, tensors)): decode(v, tensors) for k, v in tree["__dict__"]}
    return {k: decode(v, tensors) for k, v in tree.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def dumps(tree: Any) -> bytes:
    """Strict JSON (no NaN / Infinity literals), UTF-8."""
    return json.dumps(tree, allow_nan=False, indent=1, sort_keys=False).encode("utf-8")


def loads(data: bytes, what: str) -> Any:
    """Parse strict JSON; ``what`` names the content in errors."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{what}: not strict JSON (contains {name})")

    try:
        return json.loads(data.decode("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{what}: not valid JSON ({err})") from err


def rng_state() -> dict[str, Any]:
    """The global torch random state (CPU and every CUDA device)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
