"""Stacking layers and directions: shared by every implementation that runs layer by layer.

An implementation provides either a *layer function* that runs one layer in one direction
over a sequence (:func:`stack_layers`), or one that runs both directions of a layer at once
(:func:`stack_whole_layers`, for kernels that work on the two directions together). Either
way each layer gets the concatenated outputs of the one below, dropout is applied between
layers, and the final states are gathered in torch's (L*D, B, S) layout.

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
# (spec, x (T, B, I), state each (D, B, S), D weights) -> (out (T, B, D*S), state each (D, B, S))
WholeLayerFn: TypeAlias = Callable[
    [RNNSpec, Tensor, State, list[LayerWeights]], tuple[Tensor, State]
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

    def both_directions(spec: RNNSpec, x: Tensor, state: State, ws: list[LayerWeights]):
        outs, finals = [], [[] for _ in state]
        for direction, w in enumerate(ws):
            one = tuple(s[direction] for s in state)  # each (B, S)
            out, one = layer_fn(spec, x, one, w, valid, direction == 1)
            outs.append(out)
            for j, s in enumerate(one):
                finals[j].append(s)
        out = torch.cat(outs, dim=-1) if len(outs) == 2 else outs[0]  # (T, B, D*S)
        return out, tuple(torch.stack(f) for f in finals)  # each (D, B, S)

    return stack_whole_layers(both_directions, spec, x, hx, weights, training)


def stack_whole_layers(
    layer_fn: WholeLayerFn,
    spec: RNNSpec,
    x: Tensor,
    hx: State,
    weights: list[LayerWeights],
    training: bool = False,
) -> tuple[Tensor, State]:
    """Like :func:`stack_layers`, with a layer function that runs all directions at once.

    Returns:
        (out (T, B, D*(P or H)), final states each (L*D, B, S)).
    """
    if spec.num_layers == 1:  # no slicing and concatenating: they cost more than small layers
        return layer_fn(spec, x, hx, weights)
    num_dirs = spec.num_directions
    finals: list[list[Tensor]] = [[] for _ in hx]
    layer_input = x
    for layer in range(spec.num_layers):
        rows = slice(layer * num_dirs, (layer + 1) * num_dirs)
        state = tuple(s[rows] for s in hx)  # each (D, B, S)
        layer_input, state = layer_fn(spec, layer_input, state, weights[rows])
        for j, s in enumerate(state):
            finals[j].append(s)
        if training and spec.dropout > 0 and layer < spec.num_layers - 1:
            layer_input = F.dropout(layer_input, spec.dropout, training=True)
    return layer_input, tuple(torch.cat(f) for f in finals)  # each (L*D, B, S)
