"""Pure functions on tensors: the recurrent cells and sequences, per implementation.

``reference`` is the definition (plain PyTorch), ``native`` runs torch's fused kernels, and
``dispatch`` picks one per call. See :mod:`lstmkit.ops.reference` for the equations.
"""

from .dispatch import IMPLS, choose_impl
from .spec import RNNSpec
from .weights import LayerWeights

__all__ = ["IMPLS", "LayerWeights", "RNNSpec", "choose_impl"]
