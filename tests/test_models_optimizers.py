"""Optimisers by name and Keras-style gradient clipping."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from lstmkit.models import optimizers


def params():
    return [nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2, 2))]


@pytest.mark.parametrize(
    ("name", "cls", "lr"),
    [
        ("adam", torch.optim.Adam, 1e-3),
        ("adamw", torch.optim.AdamW, 1e-3),
        ("sgd", torch.optim.SGD, 1e-2),
        ("rmsprop", torch.optim.RMSprop, 1e-3),
        ("adagrad", torch.optim.Adagrad, 1e-3),
        ("adadelta", torch.optim.Adadelta, 1e-3),
        ("adamax", torch.optim.Adamax, 1e-3),
        ("nadam", torch.optim.NAdam, 1e-3),
        ("radam", torch.optim.RAdam, 1e-3),
    ],
)
def test_names_give_torch_optimizers_with_keras_learning_rates(name, cls, lr):
    opt = optimizers.make(optimizers.check(name.upper()), params())
    assert type(opt) is cls and opt.defaults["lr"] == lr


def test_instances_and_callables():
    ps = params()
    opt = torch.optim.SGD(ps, lr=0.5)
    assert optimizers.make(optimizers.check(opt), ps) is opt
    built = optimizers.make(functools.partial(torch.optim.AdamW, lr=3e-4), ps)
    assert type(built) is torch.optim.AdamW and built.defaults["lr"] == 3e-4
    with pytest.raises(TypeError, match="expected the callable to return a torch.optim.Optimizer"):
        optimizers.make(lambda p: "sgd", ps)


def test_unknown_optimizer_lists_the_valid_names():
    with pytest.raises(ValueError, match="optimizer: expected one of adam, adamw, sgd"):
        optimizers.check("adamm")
    with pytest.raises(TypeError, match="optimizer: expected a name"):
        optimizers.check(3)


def with_grads(*grads):
    ps = [nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(ps, grads, strict=True):
        p.grad = g.clone()
    return ps


def test_clipnorm_caps_each_gradient_separately():
    a, b = torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])
    ps = with_grads(a, b)
    optimizers.clip_gradients(ps, clipnorm=1.0)
    torch.testing.assert_close(ps[0].grad, a / 5)  # norm 5 -> 1
    torch.testing.assert_close(ps[1].grad, b)  # norm 0.5, untouched


def test_global_clipnorm_scales_all_gradients_together():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0])
    ps = with_grads(a, b)
    optimizers.clip_gradients(ps, global_clipnorm=1.0)
    torch.testing.assert_close(ps[0].grad, a / 5)
    torch.testing.assert_close(ps[1].grad, b / 5)


def test_clipvalue_clamps_every_element():
    ps = with_grads(torch.tensor([-3.0, 0.2, 5.0]))
    optimizers.clip_gradients(ps, clipvalue=0.5)
    torch.testing.assert_close(ps[0].grad, torch.tensor([-0.5, 0.2, 0.5]))


def test_clip_arguments_are_checked():
    with pytest.raises(ValueError, match="clipnorm: expected a number > 0 or None, got -1"):
        optimizers.check_clip("clipnorm", -1)


def test_describe_and_rebuild():
    ps = params()
    opt = torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.9))
    again = optimizers.rebuild(optimizers.describe(opt), ps)
    assert type(again) is torch.optim.Adam and again.defaults == opt.defaults

    class Custom(torch.optim.SGD):
        pass

    with pytest.raises(ValueError, match="is not a torch.optim class"):
        optimizers.describe(Custom(ps, lr=0.1))
    with pytest.raises(ValueError, match="unknown torch.optim class 'Nope'"):
        optimizers.rebuild({"class": "Nope"}, ps)
