"""Checks and set-up shared by ``fit``, ``evaluate`` and ``predict``.

Example:
    >>> check_int("epochs", 3, 0)
    3
    >>> verbosity("auto")
    1
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from . import distributed
from . import steps as batch_steps
from .compiling import CompileConfig
from .data import ArrayData, IterData, adapt


def require_compiled(model: Any) -> CompileConfig:
    if model.compiled is None:
        raise RuntimeError("model: call compile(optimizer, loss) before training or evaluating")
    return model.compiled


def check_int(arg: str, value: object, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{arg}: expected an integer >= {low}, got {value!r}")
    return value


def verbosity(verbose: object) -> int:
    """0 silent, 1 progress bar, 2 one line per epoch; "auto" is 1."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)  # type: ignore[arg-type]


def check_class_weight(class_weight: object) -> dict[int, float] | None:
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict) or not all(
        isinstance(k, int | np.integer) and isinstance(v, int | float)
        for k, v in class_weight.items()
    ):
        raise TypeError(f"class_weight: expected a dict {{class id: weight}}, got {class_weight!r}")
    return {int(k): float(v) for k, v in class_weight.items()}


def validation_sets(
    train: ArrayData | IterData,
    validation_split: float,
    validation_data: Any,
    validation_steps: int | None,
) -> tuple[ArrayData | IterData, ArrayData | IterData | None]:
    """(training data, validation data or None) from fit's arguments."""
    if validation_data is not None:
        if isinstance(validation_data, tuple | list) and 2 <= len(validation_data) <= 3:
            return train, adapt(*validation_data, what="validation_data")
        return train, adapt(validation_data, steps=validation_steps, what="validation_data")
    if not validation_split:
        return train, None
    if not 0 < validation_split < 1:
        raise ValueError(f"validation_split: expected a number in (0, 1), got {validation_split!r}")
    if not isinstance(train, ArrayData):
        raise ValueError(
            "validation_split: only for array data; with a DataLoader or generator "
            "pass validation_data="
        )
    return train.split(validation_split)


def first_x(data: ArrayData | IterData) -> Tensor:
    """One sample of input, to build a lazily sized model."""
    if isinstance(data, ArrayData):
        if len(data) == 0:
            raise ValueError("x: expected at least one sample, got 0")
        return data.x[:1]
    return data.peek()[0]


def steps_of(data: ArrayData | IterData, batch_size: int) -> int:
    """Batches per pass over ``data``; 0 when unknown (a generator)."""
    return data.steps(batch_size) if isinstance(data, ArrayData) else len(data)


def setup(model: Any, data: ArrayData | IterData) -> tuple[CompileConfig, distributed.Context]:
    """Join the process group, build the model on its device, create the optimizer."""
    cfg = require_compiled(model)
    ctx = distributed.join(cfg.device)
    if not model.built:
        x = first_x(data)
        model.build_from_batch(batch_steps.to_device(x, cfg.device, batch_steps.model_dtype(model)))
    model.to(cfg.device)
    model.ensure_optimizer()
    return cfg, ctx
