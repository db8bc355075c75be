"""``lstmkit forecast`` end to end, as a user runs it."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from lstmkit.cli import main

FAST = ["--epochs", "40", "--ensemble", "1", "--quiet"]


@pytest.fixture
def csv(tmp_path):
    t = np.arange(72)
    df = pd.DataFrame(
        {
            "date": pd.date_range("2010-01", periods=72, freq="MS").strftime("%Y-%m"),
            "units": 50 + t + 8 * np.sin(2 * np.pi * t / 12),
        }
    )
    path = tmp_path / "sales.csv"
    df.to_csv(path, index=False)
    return path


def test_holdout_run_writes_forecast_metrics_and_plot(csv, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "forecast",
            str(csv),
            "--target",
            "units",
            "--time",
            "date",
            "--holdout",
            "12",
            "--out",
            str(out),
            *FAST,
        ]
    )
    assert code == 0
    assert sorted(os.listdir(out)) == ["forecast.csv", "forecast.png", "metrics.csv"]
    fc = pd.read_csv(out / "forecast.csv")
    assert len(fc) == 12 and {"actual", "forecast", "q0.1", "q0.9"} <= set(fc.columns)
    assert fc["date"].iloc[0].startswith("2015-01")
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["model"].iloc[0] == "LSTM (lstmkit)"
    assert {"seasonal naive", "seasonal naive + drift"} <= set(metrics["model"])
    assert (
        metrics["model"].str.startswith("ETS").any()
        and metrics["model"].str.startswith("ARIMA").any()
    )
    assert "held-out accuracy" in capsys.readouterr().out
    with open(out / "forecast.png", "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_future_forecast_without_holdout(csv, tmp_path):
    out = tmp_path / "future"
    main(
        [
            "forecast",
            str(csv),
            "--target",
            "units",
            "--time",
            "date",
            "--horizon",
            "6",
            "--out",
            str(out),
            "--no-baselines",
            *FAST,
        ]
    )
    fc = pd.read_csv(out / "forecast.csv")
    assert fc["date"].tolist()[0].startswith("2016-01") and len(fc) == 6
    assert not (out / "metrics.csv").exists()


def test_dataset_needs_no_file(tmp_path):
    out = tmp_path / "air"
    main(
        [
            "forecast",
            "--dataset",
            "airline",
            "--holdout",
            "12",
            "--out",
            str(out),
            "--no-baselines",
            *FAST,
        ]
    )
    assert len(pd.read_csv(out / "forecast.csv")) == 12


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--target", "unit", "--time", "date", "--horizon", "3"],
            "target: column 'unit' not found; the columns are: date, units",
        ),
        (["--target", "units", "--time", "date", "--horizon", "0"], "--horizon: expected"),
        (
            ["--target", "units", "--time", "date", "--horizon", "100"],
            "data: expected at least lookback",
        ),
        (["--target", "units", "--time", "date", "--holdout", "72"], "--holdout: expected 0 to 71"),
        (["--time", "date", "--horizon", "3"], "--target: expected the column to forecast"),
    ],
)
def test_bad_input_leaves_no_output(csv, tmp_path, argv, message, capsys):
    out = tmp_path / "never"
    with pytest.raises((SystemExit, ValueError)) as err:
        main(["forecast", str(csv), *argv, "--out", str(out), *FAST])
    assert message in str(err.value)
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".forecast-")]


def test_missing_file_and_both_sources(tmp_path):
    with pytest.raises(SystemExit, match="csv: no such file"):
        main(["forecast", str(tmp_path / "nope.csv"), "--target", "y", "--horizon", "3"])
    with pytest.raises(SystemExit, match="give a CSV file or --dataset NAME"):
        main(["forecast", "x.csv", "--dataset", "airline", "--horizon", "3"])
