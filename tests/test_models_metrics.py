"""Metrics accumulated over batches against values computed directly on all the data."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lstmkit.models import losses, metrics


def accumulate(metric, y_true, y_pred, mask=None, parts=3):
    """Feed the metric in several batches, as fit does."""
    for idx in torch.arange(len(y_true)).chunk(parts):
        m = None if mask is None else mask[idx]
        metric.update(y_true[idx], y_pred[idx], m)
    return metric.result()


def test_accuracy_kinds_follow_targets_and_loss():
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(30, 4), -1)
    labels = torch.randint(0, 4, (30,))
    expected = (probs.argmax(-1) == labels).float().mean().item()
    sparse = metrics.get("accuracy", loss=losses.get("sparse_categorical_crossentropy"))
    assert accumulate(sparse, labels, probs) == pytest.approx(expected)
    onehot = F.one_hot(labels, 4).float()
    categorical = metrics.get("acc", loss=None)
    assert accumulate(categorical, onehot, probs) == pytest.approx(expected)
    p = torch.rand(30, 1)
    t = (torch.rand(30, 1) > 0.5).float()
    binary = metrics.get("accuracy", loss=losses.get("binary_crossentropy"))
    assert accumulate(binary, t, p) == pytest.approx(((p > 0.5) == (t > 0.5)).float().mean().item())
    logits_loss = losses.BinaryCrossentropy(from_logits=True)
    on_logits = metrics.get("accuracy", loss=logits_loss)
    z = torch.randn(30, 1)
    assert accumulate(on_logits, t, z) == pytest.approx(
        ((z > 0) == (t > 0.5)).float().mean().item()
    )


def test_named_accuracies():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    labels = torch.tensor([0, 0, 0])
    assert accumulate(metrics.get("sparse_categorical_accuracy", None), labels, probs) == (
        pytest.approx(2 / 3)
    )
    onehot = F.one_hot(labels, 2).float()
    assert accumulate(metrics.get("categorical_accuracy", None), onehot, probs) == (
        pytest.approx(2 / 3)
    )
    assert accumulate(metrics.get("binary_accuracy", None), onehot, probs) == pytest.approx(4 / 6)


def test_regression_metrics():
    torch.manual_seed(1)
    y_true, y_pred = torch.randn(12, 2), torch.randn(12, 2)
    err = y_pred - y_true
    assert accumulate(metrics.get("mae", None), y_true, y_pred) == pytest.approx(
        err.abs().mean().item()
    )
    assert accumulate(metrics.get("mse", None), y_true, y_pred) == pytest.approx(
        err.square().mean().item()
    )
    rmse = accumulate(metrics.get("rmse", None), y_true, y_pred)
    assert rmse == pytest.approx(err.square().mean().sqrt().item())


def test_perplexity_is_exp_of_mean_token_crossentropy():
    torch.manual_seed(2)
    logits = torch.randn(4, 6, 5)
    labels = torch.randint(0, 5, (4, 6))
    mask = torch.arange(6)[None, :] < torch.tensor([6, 4, 2, 5])[:, None]
    ce = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none")  # (B, T)
    expected = math.exp(ce[mask].mean().item())
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert accumulate(metrics.get("perplexity", loss), labels, logits, mask) == pytest.approx(
        expected
    )


def test_masked_accuracy_counts_valid_steps_only():
    probs = torch.tensor([[[0.9, 0.1], [0.9, 0.1]], [[0.1, 0.9], [0.1, 0.9]]])
    labels = torch.tensor([[0, 1], [1, 1]])
    mask = torch.tensor([[True, False], [True, True]])
    acc = metrics.get("accuracy", None)
    assert accumulate(acc, labels, probs, mask, parts=2) == pytest.approx(1.0)


def test_callable_metric_and_errors():
    metric = metrics.get(lambda t, p: (p - t).abs(), None)
    assert accumulate(metric, torch.zeros(4), torch.ones(4)) == 1.0
    with pytest.raises(ValueError, match="metrics: expected names among accuracy"):
        metrics.get("accuracyy", None)
    with pytest.raises(TypeError, match="metrics: expected names or callables"):
        metrics.get(3, None)
    assert math.isnan(metrics.get("mae", None).result())  # nothing seen yet
