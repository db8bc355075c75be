"""Where a model trains and in which precision.

``device="auto"`` is CUDA when present (under torchrun: the GPU of the local rank), else
the CPU. ``precision="32"`` trains in float32; ``"bf16-mixed"`` runs the forward pass under
``torch.autocast`` in bfloat16 while the weights, the optimizer and the loss stay float32
(bfloat16 has float32's range, so no loss scaling is needed).

Example:
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> with autocast(torch.device("cpu"), "32"):
    ...     pass
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

PRECISIONS = ("32", "bf16-mixed")


def resolve_device(device: str | torch.device) -> torch.device:
    """The torch.device for ``device``: "auto", "cpu", "cuda", "cuda:N" or a torch.device."""
    if isinstance(device, torch.device):
        resolved = device
    elif not isinstance(device, str):
        raise TypeError(f"device: expected a string or torch.device, got {type(device).__name__}")
    elif device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    else:
        try:
            resolved = torch.device(device)
        except RuntimeError as err:
            raise ValueError(
                f"device: expected 'auto', 'cpu' or 'cuda[:N]', got {device!r}"
            ) from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested, but CUDA is not available here")
    return resolved


def check_precision(precision: object) -> str:
    if isinstance(precision, int) and not isinstance(precision, bool):
        precision = str(precision)
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision: expected one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}"
        )
    return str(precision)


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """bfloat16 autocast on ``device`` for ``"bf16-mixed"``; nothing for ``"32"``."""
    if precision == "bf16-mixed":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
