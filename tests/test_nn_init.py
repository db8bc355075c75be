"""Initialisation: torch's scheme reproduced exactly, lstmkit's recipe as documented."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lstmkit import nn as lk

SEQUENCE = [
    (lk.LSTM, nn.LSTM, {"num_layers": 2, "bidirectional": True, "proj_size": 2}),
    (lk.GRU, nn.GRU, {"num_layers": 2}),
    (lk.RNN, nn.RNN, {"bidirectional": True}),
    (lk.LSTMCell, nn.LSTMCell, {}),
    (lk.GRUCell, nn.GRUCell, {}),
    (lk.RNNCell, nn.RNNCell, {}),
]


@pytest.mark.parametrize(("ours_cls", "theirs_cls", "kw"), SEQUENCE)
def test_torch_init_reproduces_torch_with_the_same_seed(ours_cls, theirs_cls, kw):
    torch.manual_seed(42)
    theirs = theirs_cls(3, 5, **kw)
    torch.manual_seed(42)
    ours = ours_cls(3, 5, init="torch", **kw)
    for (name_a, a), (name_b, b) in zip(
        ours.state_dict().items(), theirs.state_dict().items(), strict=True
    ):
        assert name_a == name_b
        assert torch.equal(a, b), name_a


@pytest.mark.parametrize("proj_size", [0, 3])
def test_lstmkit_init_recipe(proj_size):
    torch.manual_seed(0)
    H, I = 6, 4
    lstm = lk.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=proj_size)
    for w in lstm.layer_weights():
        # forget gate bias: 1 in b_ih, 0 in b_hh, so their sum is 1; every other bias 0
        b_i, b_f, b_g, b_o = w.b_ih.detach().chunk(4)
        assert torch.all(b_f == 1) and not b_i.any() and not b_g.any() and not b_o.any()
        assert not w.b_hh.any()
        # recurrent weights: each gate block has orthonormal columns
        for block in w.w_hh.detach().chunk(4):
            torch.testing.assert_close(
                block.T @ block, torch.eye(block.shape[1]), atol=1e-5, rtol=0
            )
        # input weights: Xavier-uniform per gate block, within its bound
        for block in w.w_ih.detach().chunk(4):
            bound = math.sqrt(6 / sum(block.shape))
            assert block.abs().max() <= bound
            assert block.abs().max() > 0.5 * bound  # and not trivially small
        if proj_size:
            assert w.w_hr.abs().max() <= math.sqrt(6 / (H + proj_size))


def test_gru_and_rnn_lstmkit_init_has_zero_biases_and_orthogonal_blocks():
    for module, gates in ((lk.GRU(3, 5), 3), (lk.RNN(3, 5), 1), (lk.GRUCell(3, 5), 3)):
        for p_name, p in module.named_parameters():
            if p_name.startswith("bias"):
                assert not p.any()
            if p_name.startswith("weight_hh"):
                for block in p.detach().chunk(gates):
                    torch.testing.assert_close(block @ block.T, torch.eye(5), atol=1e-5, rtol=0)


def test_reset_parameters_switches_scheme():
    torch.manual_seed(1)
    lstm = lk.LSTM(3, 5)
    lstm.reset_parameters("torch")
    assert lstm.bias_ih_l0.abs().max() <= 1 / math.sqrt(5)
    lstm.reset_parameters()
    assert torch.all(lstm.bias_ih_l0[5:10] == 1)


def test_lstmkit_init_keeps_gradients_alive_across_50_steps():
    """Forget bias 1 and orthogonal recurrence: at initialisation the gradient reaching the
    first of 50 steps is a far larger share of the last step's than under torch's init."""

    def first_to_last_gradient(init: str, seed: int) -> float:
        torch.manual_seed(seed)
        lstm = lk.LSTM(8, 32, init=init)
        x = torch.randn(50, 16, 8, requires_grad=True)
        _, (h, _) = lstm(x)
        h.sum().backward()
        return (x.grad[0].norm() / x.grad[-1].norm()).item()

    for seed in range(3):
        assert first_to_last_gradient("lstmkit", seed) > 1e4 * first_to_last_gradient("torch", seed)
