"""from_torch / to_torch and state_dict exchange with torch.nn, both directions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import as_tuple
from lstmkit import nn as lk

MODULES = [
    (nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, batch_first=True), lk.LSTM),
    (nn.GRU(3, 5, num_layers=3, bias=False, dropout=0.25), lk.GRU),
    (nn.RNN(3, 5, nonlinearity="relu", bidirectional=True), lk.RNN),
    (nn.LSTMCell(3, 5), lk.LSTMCell),
    (nn.GRUCell(3, 5, bias=False), lk.GRUCell),
    (nn.RNNCell(3, 5, nonlinearity="relu"), lk.RNNCell),
]


def _input(module):
    if isinstance(module, nn.RNNCellBase):
        return torch.randn(4, 3)
    return torch.randn(4, 6, 3) if module.batch_first else torch.randn(6, 4, 3)


@pytest.mark.parametrize(("theirs", "ours_cls"), MODULES, ids=lambda m: type(m).__name__)
def test_round_trip_keeps_configuration_and_outputs(theirs, ours_cls):
    theirs.eval()
    ours = ours_cls.from_torch(theirs)
    assert type(ours) is ours_cls and not ours.training
    back = ours.to_torch()
    assert type(back) is type(theirs)
    assert repr(back) == repr(theirs)
    x = _input(theirs)
    for module in (ours, back):
        for a, b in zip(as_tuple(module(x)), as_tuple(theirs(x)), strict=True):
            for u, v in zip(as_tuple(a), as_tuple(b), strict=True):
                torch.testing.assert_close(u, v)


def test_state_dicts_load_both_ways():
    torch.manual_seed(0)
    theirs = nn.LSTM(3, 5, num_layers=2)
    ours = lk.LSTM(3, 5, num_layers=2)
    ours.load_state_dict(theirs.state_dict())  # torch -> lstmkit
    x = torch.randn(6, 2, 3)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])
    ours.reset_parameters()
    theirs.load_state_dict(ours.state_dict())  # lstmkit -> torch
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])


def test_from_torch_copies_and_does_not_share():
    theirs = nn.GRU(3, 5)
    ours = lk.GRU.from_torch(theirs)
    with torch.no_grad():
        ours.weight_ih_l0.zero_()
    assert theirs.weight_ih_l0.abs().sum() > 0


def test_from_torch_keeps_dtype_and_passes_options():
    ours = lk.LSTM.from_torch(nn.LSTM(3, 5, dtype=torch.float64), impl="reference")
    assert ours.weight_ih_l0.dtype == torch.float64 and ours.impl == "reference"


def test_conversion_errors():
    with pytest.raises(TypeError, match="module: expected one of torch.nn.LSTM, .*got Linear"):
        lk.from_torch(nn.Linear(3, 4))
    with pytest.raises(ValueError, match="module: torch.nn has no GRU with reset_after=False"):
        lk.GRU(3, 5, reset_after=False).to_torch()
