"""The demo job: the adding-problem data and a short training run that must learn."""

from __future__ import annotations

import torch

from lstmkit.demo import adding_batch, report, run_demo


def test_adding_batch_targets_are_the_sum_of_the_two_marked_values():
    x, y = adding_batch(200, steps=12, generator=torch.Generator().manual_seed(0))
    assert x.shape == (200, 12, 2) and y.shape == (200, 1)
    assert torch.all(x[..., 1].sum(1) == 2)  # exactly two markers per sequence
    for i in range(200):
        a, b = x[i, x[i, :, 1] == 1, 0]
        assert abs(float(a + b) - float(y[i])) < 1e-6
    x2, y2 = adding_batch(200, steps=12, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2) and torch.equal(y, y2)  # reproducible by seed


def test_short_run_beats_the_mean_predictor_by_far():
    result = run_demo(steps=300, length=10, seed=0, quiet=True)
    assert result.test_mse < 0.05 * result.baseline_mse
    assert 0.14 < result.baseline_mse < 0.19  # variance of a sum of two U(0, 1)
    text = report(result, 10)
    assert "learned to add" in text and "LSTM says" in text
