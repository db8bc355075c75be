"""lookup() answers what getattr(module, name, None) answers, however a name is held."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from lstmkit import nn as lk
from lstmkit.nn.params import lookup
from lstmkit.ops.weights import PARAM_STEMS


class Double(nn.Module):
    def forward(self, w):
        return 2 * w


def same_as_getattr(module: nn.Module, names) -> None:
    found = lookup(module, names)
    for name, got in zip(names, found, strict=True):
        expected = getattr(module, name, None)
        if expected is None:
            assert got is None, name
        else:
            assert got is not None, name
            torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_registered_and_absent_parameters():
    cell = lk.LSTMCell(3, 4)
    same_as_getattr(cell, PARAM_STEMS)
    assert lookup(cell, ["weight_ih"])[0] is cell.weight_ih


def test_parametrized_buffer_and_plain_attribute():
    cell = lk.LSTMCell(3, 4)
    parametrize.register_parametrization(cell, "weight_hh", Double())
    cell.register_buffer("weight_ci", torch.ones(4))
    cell.ln_c_bias = torch.zeros(4)  # a plain tensor attribute
    same_as_getattr(cell, PARAM_STEMS)
    torch.testing.assert_close(
        lookup(cell, ["weight_hh"])[0], 2 * cell.parametrizations.weight_hh.original
    )


def test_parametrized_cell_runs_with_the_parametrized_weight():
    torch.manual_seed(0)
    ours = lk.LSTMCell(3, 4, impl="reference")
    theirs = nn.LSTMCell(3, 4)
    ours.load_state_dict(theirs.state_dict())
    for module in (ours, theirs):
        parametrize.register_parametrization(module, "weight_hh", Double())
    x, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    for a, b in zip(ours(x, (h, c)), theirs(x, (h, c)), strict=True):
        torch.testing.assert_close(a, b)
