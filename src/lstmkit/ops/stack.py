"""Stacking layers and directions: shared by every implementation that runs layer by layer.

An implementation provides a *layer function* that runs one layer in one direction over a
sequence; :func:`stack_layers` feeds each layer the concatenated outputs of the one below,
applies dropout between layers, and gathers the final states in torch's (L*D, B, S) layout.

Example:
    >>> import torch
    >>> from lstmkit.ops import reference
    >>> from lstmkit.ops.spec import RNNSpec
    >>> from lstmkit.ops.weights import LayerWeights
    >>> spec = RNNSpec("rnn", 2, 3, bias=False)
    >>> w = [LayerWeights(torch.randn(3, 2), torch.randn(3, 3))]
    >>> out, (h,) = stack_layers(reference.run_layer, spec, torch.randn(5, 1, 2),
    ...                          (torch.zeros(1, 1, 3),), w)
    >>> out.shape, h.shape
    (torch.Size([5, 1, 3]), torch.Size([1, 1, 3]))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import torch
import torch.nn.functional as F
from torch import Tensor

from .spec import RNNSpec
from .weights import LayerWeights

State: TypeAlias = tuple[Tensor, ...]
# (spec, x (T, B, I), state, weights, valid (T, B, 1) | None, reverse) -> (out, state)
LayerFn: TypeAlias = Callable[
    [RNNSpec, Tensor, State, LayerWeights, Tensor | None, bool], tuple[Tensor, State]
]


def stack_layers(
    layer_fn: LayerFn,
    spec: RNNSpec,
    x: Tensor,
    hx: State,
    weights: list[LayerWeights],
    valid: Tensor | None = None,
    training: bool = False,
) -> tuple[Tensor, State]:
    """Run ``spec.num_layers`` layers of ``spec.num_directions`` directions each.

    Args:
        layer_fn: runs one layer-direction (see :data:`LayerFn`).
        x: (T, B, I) time-major input.
        hx: initial states, each (L*D, B, S); index k = layer * D + direction.
        weights: L*D layer-directions in the same order as hx.
        valid: (T, B, 1) step mask or None.
        training: dropout between layers is applied only when true.

    Returns:
        (out (T, B, D*(P or H)), final states each (L*D, B, S)).
    """
    num_dirs = spec.num_directions
    finals: list[list[Tensor]] = [[] for _ in hx]
    layer_input = x
    for layer in range(spec.num_layers):
        outs = []
        for direction in range(num_dirs):
            k = layer * num_dirs + direction
            state = tuple(s[k] for s in hx)  # each (B, S)
            out, state = layer_fn(spec, layer_input, state, weights[k], valid, direction == 1)
            outs.append(out)
            for j, s in enumerate(state):
                finals[j].append(s)
        layer_input = torch.cat(outs, dim=-1) if num_dirs == 2 else outs[0]  # (T, B, D*S)
        if training and spec.dropout > 0 and layer < spec.num_layers - 1:
            layer_input = F.dropout(layer_input, spec.dropout, training=True)
    return layer_input, tuple(torch.stack(f) for f in finals)
