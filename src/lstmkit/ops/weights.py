"""The weights of one layer in one direction, as the ops take them.

Example:
    >>> import torch
    >>> w = LayerWeights(torch.zeros(8, 3), torch.zeros(8, 2))
    >>> [name for name, t in w.named() if t is not None]
    ['weight_ih', 'weight_hh']
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from torch import Tensor

# torch.nn's parameter stems, in the order torch flattens them for its fused kernels.
PARAM_STEMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


class LayerWeights(NamedTuple):
    """Parameters of one layer-direction, with torch.nn's shapes and gate order.

    Attributes:
        w_ih: (G*H, I_layer), G = 4 (i, f, g, o) for LSTM, 3 (r, z, n) for GRU, 1 for RNN.
        w_hh: (G*H, P or H).
        b_ih: (G*H,) or None when the layer has no bias.
        b_hh: (G*H,) or None.
        w_hr: (P, H) LSTM projection, or None.
    """

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None = None
    b_hh: Tensor | None = None
    w_hr: Tensor | None = None

    def named(self) -> Iterator[tuple[str, Tensor | None]]:
        """Pairs of (torch parameter stem, tensor or None)."""
        return zip(PARAM_STEMS, self, strict=True)

    def flat(self) -> list[Tensor]:
        """The tensors that are present, in torch's flattening order."""
        return [t for t in self if t is not None]
