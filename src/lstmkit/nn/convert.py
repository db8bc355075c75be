"""Converters between lstmkit.nn modules and their torch.nn namesakes.

Parameter names and shapes are identical, so conversion is a configuration copy plus
``load_state_dict``; the weights are copied, never shared.

Example:
    >>> import torch
    >>> from lstmkit.nn import LSTM
    >>> theirs = torch.nn.LSTM(4, 8, num_layers=2, batch_first=True)
    >>> ours = LSTM.from_torch(theirs)
    >>> x = torch.randn(3, 5, 4)
    >>> torch.allclose(ours(x)[0], theirs(x)[0], atol=1e-6)
    True
    >>> type(ours.to_torch()).__name__
    'LSTM'
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .cells import GRUCell, LSTMCell, RNNCell, RNNCellBase
from .rnn import GRU, LSTM, RNN, RNNBase

# torch.nn class -> lstmkit.nn class; the same names in both libraries.
_PAIRS: dict[type[nn.Module], type[nn.Module]] = {
    nn.LSTM: LSTM,
    nn.GRU: GRU,
    nn.RNN: RNN,
    nn.LSTMCell: LSTMCell,
    nn.GRUCell: GRUCell,
    nn.RNNCell: RNNCell,
}


def _first_param(module: nn.Module):
    return next(module.parameters())


def from_torch(module: nn.Module, **kwargs: Any) -> RNNBase | RNNCellBase:
    """An lstmkit module with ``module``'s configuration, device, dtype and weights.

    Args:
        module: a torch.nn LSTM, GRU, RNN, LSTMCell, GRUCell or RNNCell.
        kwargs: extra lstmkit options, e.g. ``impl="reference"``.
    """
    ours = next((o for t, o in _PAIRS.items() if isinstance(module, t)), None)
    if ours is None:
        names = ", ".join(f"torch.nn.{cls.__name__}" for cls in _PAIRS)
        raise TypeError(f"module: expected one of {names}, got {type(module).__name__}")
    p = _first_param(module)
    config: dict[str, Any] = {
        "input_size": module.input_size,
        "hidden_size": module.hidden_size,
        "bias": module.bias,
    }
    if isinstance(module, nn.RNNBase):
        config.update(
            num_layers=module.num_layers,
            batch_first=module.batch_first,
            dropout=float(module.dropout),
            bidirectional=module.bidirectional,
        )
        if isinstance(module, nn.LSTM):
            config["proj_size"] = module.proj_size
    if isinstance(module, nn.RNN | nn.RNNCell):
        config["nonlinearity"] = module.nonlinearity
    result = ours(**config, **kwargs, device=p.device, dtype=p.dtype)
    result.load_state_dict(module.state_dict())
    result.train(module.training)
    return result


def to_torch(module: RNNBase | RNNCellBase) -> nn.Module:
    """A torch.nn module with ``module``'s configuration, device, dtype and weights.

    Raises:
        ValueError: the module uses an option torch.nn does not have (e.g. reset_after=False,
            or any variant but ablation="NP", which is the standard LSTM).
    """
    theirs = next(t for t, o in _PAIRS.items() if isinstance(module, o))
    s = module.spec
    if s.mode == "gru" and not s.reset_after:
        raise ValueError("module: torch.nn has no GRU with reset_after=False (Cho et al. form)")
    variants = [
        f"{name}={value!r}"
        for name, value in s.variant_options().items()
        if not (name == "ablation" and value == "NP")
    ]
    if variants:
        raise ValueError(
            f"module: torch.nn.{theirs.__name__} has no {', '.join(variants)}; "
            "only a module without variants converts"
        )
    p = _first_param(module)
    config: dict[str, Any] = {
        "input_size": s.input_size,
        "hidden_size": s.hidden_size,
        "bias": s.bias,
    }
    if isinstance(module, RNNBase):
        config.update(
            num_layers=s.num_layers,
            batch_first=module.batch_first,
            dropout=s.dropout,
            bidirectional=s.bidirectional,
        )
        if s.mode == "lstm":
            config["proj_size"] = s.proj_size
    if s.mode == "rnn":
        config["nonlinearity"] = s.nonlinearity
    result = theirs(**config, device=p.device, dtype=p.dtype)
    result.load_state_dict(module.state_dict())
    result.train(module.training)
    return result
