"""The weights of one layer in one direction, as the ops take them.

The first five fields are torch.nn's (same names, shapes and gate order); the others are
the parameters the variants add (see :meth:`lstmkit.ops.spec.RNNSpec.variant_param_shapes`)
and are None when their variant is off.

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
TORCH_STEMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
# The stems the variants add: peepholes, FGR's gate recurrence, layer-norm gains and biases.
VARIANT_STEMS = (
    "weight_ci",
    "weight_cf",
    "weight_co",
    "weight_gg",
    "ln_ih_weight",
    "ln_ih_bias",
    "ln_hh_weight",
    "ln_hh_bias",
    "ln_c_weight",
    "ln_c_bias",
)
# Every stem, in the order of the LayerWeights fields.
PARAM_STEMS = TORCH_STEMS + VARIANT_STEMS


class LayerWeights(NamedTuple):
    """Parameters of one layer-direction, with torch.nn's shapes and gate order.

    Attributes:
        w_ih: (G*H, I_layer), G = 4 (i, f, g, o) for LSTM, 3 (r, z, n) for GRU, 1 for RNN.
        w_hh: (G*H, P or H).
        b_ih: (G*H,) or None when the layer has no bias.
        b_hh: (G*H,) or None.
        w_hr: (P, H) LSTM projection, or None.
        w_ci, w_cf, w_co: (H,) peephole weights into the input, forget and output gates.
        w_gg: (3H, 3H) FGR gate recurrence: gates (i, f, o) at t from gates (i, f, o) at t-1.
        ln_ih_w, ln_ih_b: (G*H,) layer-norm gain and bias of the input projection W_ih x.
        ln_hh_w, ln_hh_b: (G*H,) layer-norm gain and bias of the recurrent projection W_hh h.
        ln_c_w, ln_c_b: (H,) layer-norm gain and bias of the LSTM cell c before the output.
    """

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None = None
    b_hh: Tensor | None = None
    w_hr: Tensor | None = None
    w_ci: Tensor | None = None
    w_cf: Tensor | None = None
    w_co: Tensor | None = None
    w_gg: Tensor | None = None
    ln_ih_w: Tensor | None = None
    ln_ih_b: Tensor | None = None
    ln_hh_w: Tensor | None = None
    ln_hh_b: Tensor | None = None
    ln_c_w: Tensor | None = None
    ln_c_b: Tensor | None = None

    def named(self) -> Iterator[tuple[str, Tensor | None]]:
        """Pairs of (parameter stem, tensor or None), torch's stems first."""
        return zip(PARAM_STEMS, self, strict=True)

    def flat(self) -> list[Tensor]:
        """The tensors that are present, in torch's flattening order (variants last)."""
        return [t for t in self if t is not None]
