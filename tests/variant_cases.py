"""Shared builders for the variant tests: modules with every parameter moved off its
initial value (so peepholes, layer-norm gains and gate recurrence all matter), inputs,
lengths and initial states."""

from __future__ import annotations

import torch
from torch import nn

from lstmkit.ops.spec import ABLATIONS

I, H, T, B = 3, 4, 5, 3
F64 = torch.float64

LSTM_VARIANTS = {
    "peephole": {"peephole": True},
    "coupled": {"coupled_gates": True},
    "coupled+peephole": {"coupled_gates": True, "peephole": True},
    "layer_norm": {"layer_norm": True},
    "layer_norm+peephole-bias": {"layer_norm": True, "peephole": True, "bias": False},
    "zoneout": {"zoneout": (0.3, 0.6)},
    "zoneout-one-number": {"zoneout": 0.25},
    "relu+hard_sigmoid": {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
    "sigmoid+tanh": {"activation": "sigmoid", "recurrent_activation": "tanh"},
    "hard_sigmoid+relu": {"activation": "hard_sigmoid", "recurrent_activation": "relu"},
    **{a: {"ablation": a} for a in ABLATIONS},
    "FGR+layer_norm+zoneout": {"ablation": "FGR", "layer_norm": True, "zoneout": 0.2},
}

GRU_VARIANTS = {
    "layer_norm": {"layer_norm": True},
    "layer_norm-bias": {"layer_norm": True, "bias": False},
    "zoneout": {"zoneout": 0.4},
    "relu+hard_sigmoid": {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
    "cho+sigmoid+tanh": {
        "reset_after": False,
        "activation": "sigmoid",
        "recurrent_activation": "tanh",
    },
    "cho+zoneout": {"reset_after": False, "zoneout": (0.0, 0.3)},
    "layer_norm+zoneout+hard_sigmoid": {
        "layer_norm": True,
        "zoneout": 0.5,
        "activation": "hard_sigmoid",
    },
}


@torch.no_grad()
def perturb_(module: nn.Module, seed: int = 1, scale: float = 0.3) -> nn.Module:
    """Move every parameter by N(0, scale²) noise; returns the module."""
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def build(cls, *args, seed: int = 0, **kw) -> nn.Module:
    """A float64 module with perturbed parameters, in evaluation mode."""
    torch.manual_seed(seed)
    return perturb_(cls(*args, dtype=F64, **kw)).eval()


def inputs(batch_first: bool = False, seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    shape = (B, T, I) if batch_first else (T, B, I)
    return torch.randn(shape, generator=g, dtype=F64)


def states(module: nn.Module, batch: int = B, seed: int = 4):
    """A random initial state for every state tensor of ``module`` (L*D, B, S)."""
    g = torch.Generator().manual_seed(seed)
    spec = module.spec
    rows = spec.num_layers * spec.num_directions
    sizes = spec.state_sizes()
    hx = tuple(torch.randn(rows, batch, n, generator=g, dtype=F64) for n in sizes)
    if spec.ablation == "FGR":  # gate activations live in (0, 1)
        hx = (*hx[:2], torch.sigmoid(hx[2]))
    return hx if len(hx) > 1 else hx[0]


LENGTHS = torch.tensor([4, 1, T])  # unsorted, with 1 and T
