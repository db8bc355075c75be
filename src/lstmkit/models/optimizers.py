"""Optimisers by name (torch.optim with Keras's default learning rates) and gradient clipping.

``compile(optimizer=...)`` takes a name below, a ``torch.optim.Optimizer`` built on the
model's parameters, or a callable that builds one from the parameters, such as
``functools.partial(torch.optim.AdamW, lr=3e-4)``. A name gives the torch.optim class
with Keras's default learning rate and torch's defaults for everything else:

==========  ===================  ======
name        class                lr
==========  ===================  ======
adam        torch.optim.Adam     0.001
adamw       torch.optim.AdamW    0.001
sgd         torch.optim.SGD      0.01
rmsprop     torch.optim.RMSprop  0.001
adagrad     torch.optim.Adagrad  0.001
adadelta    torch.optim.Adadelta 0.001
adamax      torch.optim.Adamax   0.001
nadam       torch.optim.NAdam    0.001
radam       torch.optim.RAdam    0.001
==========  ===================  ======

Example:
    >>> import torch
    >>> opt = make("sgd", [torch.nn.Parameter(torch.zeros(2))])
    >>> type(opt).__name__, opt.defaults["lr"]
    ('SGD', 0.01)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], float]] = {
    "adam": (torch.optim.Adam, 1e-3),
    "adamw": (torch.optim.AdamW, 1e-3),
    "sgd": (torch.optim.SGD, 1e-2),
    "rmsprop": (torch.optim.RMSprop, 1e-3),
    "adagrad": (torch.optim.Adagrad, 1e-3),
    "adadelta": (torch.optim.Adadelta, 1e-3),
    "adamax": (torch.optim.Adamax, 1e-3),
    "nadam": (torch.optim.NAdam, 1e-3),
    "radam": (torch.optim.RAdam, 1e-3),
}

OptimizerSpec = str | torch.optim.Optimizer | Callable[..., torch.optim.Optimizer]


def check(spec: object) -> OptimizerSpec:
    """Validate ``compile(optimizer=...)`` before the model has parameters."""
    if isinstance(spec, str):
        if spec.lower() not in OPTIMIZERS:
            raise ValueError(
                f"optimizer: expected one of {', '.join(OPTIMIZERS)}, a torch.optim.Optimizer "
                f"or a callable building one, got {spec!r}"
            )
        return spec.lower()
    if isinstance(spec, torch.optim.Optimizer) or callable(spec):
        return spec
    raise TypeError(
        f"optimizer: expected a name, a torch.optim.Optimizer or a callable, "
        f"got {type(spec).__name__}"
    )


def make(spec: OptimizerSpec, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer for ``params``; an Optimizer instance is returned unchanged."""
    if isinstance(spec, torch.optim.Optimizer):
        return spec
    params = list(params)
    if isinstance(spec, str):
        cls, lr = OPTIMIZERS[spec]
        return cls(params, lr=lr)
    opt = spec(params)
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer: expected the callable to return a torch.optim.Optimizer, "
            f"got {type(opt).__name__}"
        )
    return opt


def check_clip(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{name}: expected a number > 0 or None, got {value!r}")
    return float(value)


def clip_gradients(
    params: list[nn.Parameter],
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
) -> None:
    """Keras's clipping: ``clipnorm`` caps each parameter's gradient norm, ``global_clipnorm``
    the norm of all gradients together, ``clipvalue`` every gradient element."""
    grads = [p for p in params if p.grad is not None]
    if clipvalue is not None:
        nn.utils.clip_grad_value_(grads, clipvalue)
    if clipnorm is not None:
        for p in grads:
            nn.utils.clip_grad_norm_([p], clipnorm)
    if global_clipnorm is not None:
        nn.utils.clip_grad_norm_(grads, global_clipnorm)


def describe(opt: torch.optim.Optimizer) -> dict[str, Any]:
    """What a model file records to rebuild ``opt``: its torch.optim class and defaults."""
    cls = type(opt)
    if getattr(torch.optim, cls.__name__, None) is not cls:
        raise ValueError(
            f"optimizer: {cls.__module__}.{cls.__name__} is not a torch.optim class, so a "
            "model file cannot rebuild it; save with include_optimizer=False"
        )
    return {"class": cls.__name__, "defaults": dict(opt.defaults)}


def rebuild(description: dict[str, Any], params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The inverse of :func:`describe`, on ``params``."""
    name = description.get("class")
    cls = getattr(torch.optim, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(f"optimizer: unknown torch.optim class {name!r} in the model file")
    return cls(list(params), **description.get("defaults", {}))
