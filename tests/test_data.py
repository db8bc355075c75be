"""lstmkit.data: embedded data sets, scaling, windows and differencing."""

from __future__ import annotations

import numpy as np
import pytest

from lstmkit.data import Scaler, difference, load_dataset, make_windows, undifference


def test_airline_is_box_jenkins_series_g():
    df = load_dataset("airline")
    assert len(df) == 144 and list(df.columns) == ["month", "passengers"]
    assert df["month"].iloc[0].strftime("%Y-%m") == "1949-01"
    assert df["month"].iloc[-1].strftime("%Y-%m") == "1960-12"
    y = df["passengers"].to_numpy()
    assert y[:12].tolist() == [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118]
    assert y[-12:].tolist() == [417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432]
    assert y.sum() == 40363  # the series' well-known total


def test_sunspots_yearly():
    df = load_dataset("sunspots")
    assert len(df) == 309 and df["year"].tolist() == list(range(1700, 2009))
    assert df["sunspots"].min() >= 0


def test_unknown_dataset_lists_the_names():
    with pytest.raises(ValueError, match="name: expected one of 'airline', 'sunspots', got 'air'"):
        load_dataset("air")


@pytest.mark.parametrize("kind", ["standard", "minmax", "log", "none"])
def test_scaler_round_trip(kind):
    x = np.array([3.0, 5.0, 11.0, 7.0])
    s = Scaler(kind).fit(x)
    np.testing.assert_allclose(s.inverse(s.transform(x)), x)
    z = s.transform(x)
    if kind == "standard":
        np.testing.assert_allclose([z.mean(), z.std()], [0, 1], atol=1e-12)
    if kind == "minmax":
        assert z.min() == 0 and z.max() == 1


def test_scaler_errors():
    with pytest.raises(
        ValueError,
        match="scaling: expected one of 'standard', 'minmax', 'log', 'none', got 'robust'",
    ):
        Scaler("robust")
    with pytest.raises(ValueError, match="scaling: 'log' needs positive values, got minimum -1"):
        Scaler("log").fit(np.array([-1.0, 2.0]))


def test_windows_and_differencing():
    x = np.arange(10.0) ** 2
    inputs, targets = make_windows(x, 4, 3)
    assert inputs.shape == (4, 4) and targets.shape == (4, 3)
    np.testing.assert_array_equal(targets[1], x[5:8])
    d = difference(x, 2)
    np.testing.assert_array_equal(d, x[2:] - x[:-2])
    np.testing.assert_allclose(undifference(d[-3:], x[:-3], 2), x[-3:])
    with pytest.raises(ValueError, match="series: expected at least lookback \\+ horizon = 12"):
        make_windows(x, 8, 4)
