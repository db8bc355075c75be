"""Embedding: token ids to vectors, optionally marking id 0 as padding.

Example:
    >>> import torch
    >>> emb = Embedding(10, 4, mask_zero=True)
    >>> ids = torch.tensor([[3, 7, 0, 0]])
    >>> emb(ids).shape, emb.compute_mask(ids, None)
    (torch.Size([1, 4, 4]), tensor([[ True,  True, False, False]]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .base import Layer, Shape, register
from .core import check_units


@register
class Embedding(Layer):
    """A lookup table of ``input_dim`` vectors of ``output_dim`` features.

    The table lives in ``self.embedding``, a ``torch.nn.Embedding``, and starts uniform in
    [-0.05, 0.05] as in Keras. It needs no input size, so it is built at construction.

    Args:
        input_dim: vocabulary size; ids must lie in [0, input_dim).
        output_dim: features per vector.
        mask_zero: id 0 is padding: the output carries a mask that recurrent layers
            downstream receive as lengths (padding must be at the end of each sequence).
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        mask_zero: bool = False,
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(input_shape=input_shape, name=name)
        self.input_dim = check_units("input_dim", input_dim)
        self.output_dim = check_units("output_dim", output_dim)
        if not isinstance(mask_zero, bool):
            raise TypeError(f"mask_zero: expected a bool, got {mask_zero!r}")
        self.mask_zero = mask_zero
        shape = self.input_shape_arg if self.input_shape_arg is not None else (None,)
        self.build((None, *shape))  # the table's size is known: build now

    def _build(self, input_shape: Shape) -> None:
        self.embedding = nn.Embedding(self.input_dim, self.output_dim)
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"Embedding: expected integer token ids, got dtype {x.dtype}")
        if x.numel():
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= self.input_dim:
                bad = low if low < 0 else high
                raise ValueError(
                    f"Embedding: expected token ids in [0, {self.input_dim}) "
                    f"(input_dim = {self.input_dim}), got {bad}"
                )
        return self.embedding(x.long())

    def compute_mask(self, x: Tensor, mask: Tensor | None) -> Tensor | None:
        return (x != 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "mask_zero": self.mask_zero,
        }
