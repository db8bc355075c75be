"""Forecasting building blocks: metrics, transforms, baselines, network and loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit.tasks.forecast import baselines, metrics
from lstmkit.tasks.forecast.network import QuantileNet, pinball_loss
from lstmkit.tasks.forecast.transform import SeriesTransform


def test_metrics_against_hand_computed_values():
    y, f = np.array([100.0, 200.0, 400.0]), np.array([110.0, 190.0, 400.0])
    assert metrics.mape(y, f) == pytest.approx((10 / 100 + 10 / 200) / 3 * 100)
    assert metrics.smape(y, f) == pytest.approx((20 / 210 + 20 / 390) / 3 * 100)
    assert metrics.rmse(y, f) == pytest.approx(np.sqrt(200 / 3))
    history = np.array([1.0, 3.0, 2.0, 4.0])  # seasonal naive (m = 2) errors 1, 1
    assert metrics.mase(y, f, history, season=2) == pytest.approx(20 / 3)
    assert metrics.coverage(y, y - 1, y + np.array([1, -5, 1])) == pytest.approx(200 / 3)


@pytest.mark.parametrize("scaling", ["standard", "minmax", "log", "none"])
@pytest.mark.parametrize("lag", [0, 1, 4])
def test_transform_inverts_exactly(scaling, lag):
    rng = np.random.default_rng(0)
    y = 50 + np.cumsum(rng.uniform(0, 2, 30))
    t = SeriesTransform(scaling, lag).fit(y[:20])
    z = t.forward(y)  # model values of the whole series
    future = z[-10:, None].repeat(3, axis=1)  # three identical "quantiles"
    np.testing.assert_allclose(t.inverse(future, y[:20]), y[20:, None].repeat(3, axis=1))


def test_transform_quantile_paths_widen_beyond_one_lag():
    t = SeriesTransform("none", lag=2).fit(np.arange(10.0))
    z = np.array([[-1.0, 0.0, 1.0]] * 4)  # each step's difference: -1, 0 or +1
    levels = t.inverse(z, np.array([10.0, 20.0]))
    np.testing.assert_allclose(levels[:, 1], [10, 20, 10, 20])  # median path
    np.testing.assert_allclose(levels[:, 2] - levels[:, 1], [1, 1, 2, 2])  # comonotone sums


def test_seasonal_naive_baselines_closed_form():
    h = np.array([1.0, 5.0, 2.0, 6.0, 3.0, 7.0])
    np.testing.assert_array_equal(baselines.seasonal_naive(h, 3, 2).point, [3, 7, 3])
    drift = (7 - 1) / 5
    np.testing.assert_allclose(
        baselines.seasonal_naive_drift(h, 3, 2).point, [3 + drift, 7 + 2 * drift, 3 + 3 * drift]
    )


def test_ets_and_arima_recover_a_clean_seasonal_trend():
    t = np.arange(60)
    y = 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12)
    for fn in (baselines.ets, baselines.arima):
        b = fn(y[:48], 12, 12)
        assert metrics.mape(y[48:], b.point) < 1.0, b.name
        assert np.all(b.lower <= b.point) and np.all(b.point <= b.upper)


def test_pinball_loss_against_definition():
    pred = torch.tensor([[[1.0, 2.0]]])  # (B=1, H=1, Q=2)
    target = torch.tensor([[3.0]])
    q = torch.tensor([0.1, 0.9])
    # errors y - ŷ = 2 and 1: losses 0.1 * 2 and 0.9 * 1
    assert pinball_loss(pred, target, q).item() == pytest.approx((0.2 + 0.9) / 2)
    # the minimiser of the 0.9 pinball loss over a sample is its 0.9 quantile
    sample = torch.arange(1.0, 11.0)
    grid = torch.linspace(0, 11, 1101)
    losses = [pinball_loss(torch.full((10, 1, 1), float(g)), sample[:, None], q[1:]) for g in grid]
    best = float(grid[int(torch.stack(losses).argmin())])
    assert 9.0 <= best <= 10.0


def test_network_shapes_with_future_covariates():
    net = QuantileNet("gru", 3, 8, 2, 0.1, horizon=4, n_quantiles=3, n_future=2)
    out = net(torch.randn(5, 7, 3), torch.randn(5, 4, 2))
    assert out.shape == (5, 4, 3)
