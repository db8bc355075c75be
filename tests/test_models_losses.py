"""Each named loss against torch.nn.functional, and the weighting and masking of ``compute``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lstmkit.models import losses


def data(shape=(4, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("mse", F.mse_loss),
        ("mean_squared_error", F.mse_loss),
        ("mae", F.l1_loss),
        ("mean_absolute_error", F.l1_loss),
        ("huber", F.huber_loss),
        ("huber_loss", F.huber_loss),
    ],
)
def test_regression_losses_match_torch(name, reference):
    y_true, y_pred = data((4, 6, 3))
    loss = losses.get(name)
    torch.testing.assert_close(loss(y_true, y_pred), reference(y_pred, y_true))
    per_sample = reference(y_pred, y_true, reduction="none").mean(-1)  # Keras: mean over last axis
    torch.testing.assert_close(loss.values(y_true, y_pred), per_sample)


def test_huber_delta_matches_torch():
    y_true, y_pred = data()
    torch.testing.assert_close(
        losses.Huber(delta=0.3)(y_true, 3 * y_pred), F.huber_loss(3 * y_pred, y_true, delta=0.3)
    )


def test_binary_crossentropy_matches_torch():
    y_true = torch.randint(0, 2, (5, 2)).float()
    logits = torch.randn(5, 2)
    expected = F.binary_cross_entropy_with_logits(logits, y_true, reduction="none").mean(-1)
    torch.testing.assert_close(
        losses.BinaryCrossentropy(from_logits=True).values(y_true, logits), expected
    )
    probs = torch.sigmoid(logits)
    expected = F.binary_cross_entropy(probs, y_true, reduction="none").mean(-1)
    torch.testing.assert_close(losses.get("binary_crossentropy").values(y_true, probs), expected)


def test_binary_crossentropy_accepts_targets_without_the_unit_axis():
    y_true = torch.tensor([1.0, 0.0, 1.0])
    probs = torch.tensor([[0.8], [0.3], [0.6]])
    expected = F.binary_cross_entropy(probs[:, 0], y_true)
    torch.testing.assert_close(losses.get("binary_crossentropy")(y_true, probs), expected)


def test_categorical_crossentropy_matches_torch():
    logits = torch.randn(6, 4)
    labels = torch.randint(0, 4, (6,))
    onehot = F.one_hot(labels, 4).float()
    expected = F.cross_entropy(logits, labels, reduction="none")
    cce_logits = losses.CategoricalCrossentropy(from_logits=True)
    torch.testing.assert_close(cce_logits.values(onehot, logits), expected)
    probs = torch.softmax(logits, -1)
    torch.testing.assert_close(
        losses.get("categorical_crossentropy").values(onehot, probs), expected
    )
    soft = torch.softmax(torch.randn(6, 4), -1)  # probability targets
    torch.testing.assert_close(
        cce_logits.values(soft, logits), F.cross_entropy(logits, soft, reduction="none")
    )


def test_sparse_categorical_crossentropy_matches_torch_on_sequences():
    logits = torch.randn(3, 5, 4)  # (B, T, C)
    labels = torch.randint(0, 4, (3, 5))
    expected = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none")  # (B, T)
    scce = losses.SparseCategoricalCrossentropy(from_logits=True)
    torch.testing.assert_close(scce.values(labels, logits), expected)
    probs = torch.softmax(logits, -1)
    sparse = losses.get("sparse_categorical_crossentropy")
    torch.testing.assert_close(sparse.values(labels, probs), expected)
    torch.testing.assert_close(sparse.values(labels[..., None], probs), expected)  # (B, T, 1) ids
    torch.testing.assert_close(sparse.values(labels.float(), probs), expected)  # float ids


def test_probabilities_are_clipped_like_keras():
    loss = losses.get("binary_crossentropy")
    value = loss(torch.tensor([[1.0]]), torch.tensor([[0.0]]))
    torch.testing.assert_close(value, -torch.log(torch.tensor(1e-7)))


def test_shape_and_value_errors():
    with pytest.raises(ValueError, match=r"expected targets of shape \(4, 3\) .*got \(4,\)"):
        losses.get("mse")(torch.zeros(4), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="for integer class ids use sparse_categorical"):
        losses.get("categorical_crossentropy")(torch.zeros(4), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"expected class ids in \[0, 3\), got 3"):
        losses.get("sparse_categorical_crossentropy")(torch.tensor([3]), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="expected integer class ids, got fractional values"):
        losses.get("sparse_categorical_crossentropy")(torch.tensor([0.5]), torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"for one-hot targets use categorical_crossentropy"):
        losses.get("sparse_categorical_crossentropy")(torch.zeros(2, 3), torch.zeros(2, 3))


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="loss: expected one of .*binary_crossentropy.*mse"):
        losses.get("msee")
    with pytest.raises(TypeError, match="loss: expected a name"):
        losses.get(3)
    with pytest.raises(TypeError, match="from_logits: expected a bool"):
        losses.BinaryCrossentropy(from_logits="yes")
    with pytest.raises(ValueError, match="delta: expected a number > 0"):
        losses.Huber(delta=0)


def test_compute_weights_and_masks():
    values_loss = losses.get("mse")
    y_true, y_pred = data((2, 3, 1))
    per = (y_pred - y_true).square()[..., 0]  # (B, T)
    w = torch.tensor([1.0, 3.0])
    torch.testing.assert_close(losses.compute(values_loss, y_true, y_pred), per.mean())
    weighted = losses.compute(values_loss, y_true, y_pred, weights=w)
    torch.testing.assert_close(weighted, (per * w[:, None]).mean())  # Keras: / number of samples
    mask = torch.tensor([[True, True, False], [True, False, False]])
    masked = losses.compute(values_loss, y_true, y_pred, mask=mask)
    torch.testing.assert_close(masked, per[mask].mean())
    with pytest.raises(ValueError, match=r"mask: expected the shape of the per-sample losses"):
        losses.compute(values_loss, y_true, y_pred, mask=torch.ones(2, 4, dtype=torch.bool))


def test_compute_with_callables_and_torch_losses():
    y_true, y_pred = data()
    torch.testing.assert_close(
        losses.compute(nn.MSELoss(), y_true, y_pred), F.mse_loss(y_pred, y_true)
    )  # torch order: module(y_pred, y_true)
    keras_order = lambda t, p: (p - 2 * t).abs().mean(-1)  # noqa: E731
    torch.testing.assert_close(
        losses.compute(keras_order, y_true, y_pred), (y_pred - 2 * y_true).abs().mean()
    )
    with pytest.raises(ValueError, match="returned a scalar, so class_weight"):
        losses.compute(nn.MSELoss(), y_true, y_pred, weights=torch.ones(4))
    with pytest.raises(TypeError, match="expected the loss function to return a tensor"):
        losses.compute(lambda t, p: 1.0, y_true, y_pred)
