"""Padding masks: the ``Masking`` layer and how a mask becomes ``lengths=``.

A mask is a (B, T) boolean tensor, True at valid steps. lstmkit's recurrent layers take
variable lengths as ``lengths=`` (B,), which describes *right-padded* sequences: the valid
steps first, the padding after them. :func:`mask_to_lengths` turns a mask into lengths and
refuses any other pattern (left padding, holes) with a ``ValueError``, because such a mask
cannot be honoured exactly.

Example:
    >>> import torch
    >>> mask = torch.tensor([[True, True, False], [True, False, False]])
    >>> mask_to_lengths(mask)
    tensor([2, 1])
    >>> x = torch.arange(6.0).reshape(2, 3, 1)
    >>> reverse_padded(x, torch.tensor([2, 3]))[..., 0]
    tensor([[1., 0., 2.],
            [5., 4., 3.]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .base import Layer, Shape, register


def mask_to_lengths(mask: Tensor, steps: int | None = None) -> Tensor:
    """Valid steps per sequence, (B,) int64 on the CPU, from a right-padding mask (B, T).

    Lengths may be 0 for a sequence that is padding only.

    Raises:
        ValueError: the mask is not (B, T) with T = ``steps``, or not right padding.
    """
    if mask.dim() != 2 or (steps is not None and mask.shape[1] != steps):
        expected = f"(B, {steps})" if steps is not None else "(B, T)"
        raise ValueError(f"mask: expected shape {expected}, got {tuple(mask.shape)}")
    mask = mask.detach().to("cpu", torch.bool)
    lengths = mask.sum(dim=1)  # (B,)
    right = torch.arange(mask.shape[1])[None, :] < lengths[:, None]  # (B, T)
    bad = (right != mask).any(dim=1).nonzero()
    if len(bad):
        b = int(bad[0, 0])
        hole = int((~mask[b]).nonzero()[0, 0])
        later = int(mask[b, hole:].nonzero()[0, 0]) + hole
        raise ValueError(
            f"mask: expected right-padded sequences (valid steps first, padding at the end), "
            f"but sequence {b} has padding at step {hole} before a valid step at {later}; "
            "recurrent layers take masks as lengths, so pad at the end of each sequence"
        )
    return lengths.to(torch.int64)


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (B, T, ...) within its own length; padding stays at the end."""
    if lengths is None:
        return x.flip(1)
    steps = x.shape[1]
    t = torch.arange(steps)[None, :]  # (1, T)
    n = lengths[:, None]  # (B, 1)
    index = torch.where(t < n, n - 1 - t, t).to(x.device)  # (B, T)
    index = index.reshape(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


@register
class Masking(Layer):
    """Mark the steps whose features all equal ``mask_value`` as padding.

    The output is the input with padded steps set to zero, and it carries a (B, T) mask
    that the recurrent layers downstream receive as lengths. Padding must be at the end
    of each sequence.

    Args:
        mask_value: the value that marks padding.

    Example:
        >>> x = torch.tensor([[[1.0], [2.0], [0.0]]])
        >>> layer = Masking(0.0)
        >>> layer.compute_mask(x, None)
        tensor([[ True,  True, False]])
    """

    def __init__(
        self,
        mask_value: float = 0.0,
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(input_shape=input_shape, name=name)
        if isinstance(mask_value, bool) or not isinstance(mask_value, int | float):
            raise TypeError(f"mask_value: expected a number, got {type(mask_value).__name__}")
        self.mask_value = float(mask_value)
        self.build_if_shaped()

    def _mask(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"Masking: expected a 3-D input (B, T, F), got shape {tuple(x.shape)}")
        return (x != self.mask_value).any(dim=-1)  # (B, T)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        keep = self._mask(x)
        if mask is not None:
            keep = keep & mask.to(keep.device, torch.bool)
        return x * keep.unsqueeze(-1).to(x.dtype)

    def compute_mask(self, x: Tensor, mask: Tensor | None) -> Tensor:
        keep = self._mask(x)
        return keep if mask is None else keep & mask.to(keep.device, torch.bool)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}
