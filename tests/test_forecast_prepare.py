"""Bad input for forecasting: each case is a clear error naming what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmkit.tasks.forecast import Forecaster
from lstmkit.tasks.forecast.prepare import prepare


def frame(n=30, **overrides):
    df = pd.DataFrame(
        {
            "date": pd.date_range("2000-01", periods=n, freq="MS"),
            "sales": np.arange(n, dtype=float) + 10,
            "price": 1.0,
        }
    )
    for k, v in overrides.items():
        df[k] = v
    return df


def with_row(df, i, col, value):
    df = df.copy()
    df[col] = df[col].astype(object)
    df.loc[i, col] = value
    return df


# fmt: off
CASES = [
    ("misspelled target", lambda: prepare(frame(), "sale", "date"), ValueError,
     "target: column 'sale' not found; the columns are: date, sales, price"),
    ("misspelled time", lambda: prepare(frame(), "sales", "day"), ValueError,
     "time: column 'day' not found"),
    ("missing covariate", lambda: prepare(frame(), "sales", "date", ["cost"]), ValueError,
     "past_covariates: column 'cost' not found"),
    ("non-numeric", lambda: prepare(with_row(frame(), 4, "sales", "n/a"), "sales", "date"),
     ValueError, "target: column 'sales' must be numeric; row 4 holds 'n/a'"),
    ("NaN gap", lambda: prepare(frame(sales=[1.0, np.nan] * 15), "sales", "date"), ValueError,
     r"target: column 'sales' has 15 missing value\(s\), the first at row 1; fill them first "
     "or pass fill='interpolate' or fill='ffill'"),
    ("missing timestamps", lambda: prepare(frame().drop(index=[5]), "sales", "date"), ValueError,
     "time: missing timestamps between 2000-05-01 00:00:00 and 2000-07-01 00:00:00 "
     r"\(expected one row every month\)"),
    ("unsorted", lambda: prepare(frame().iloc[[0, 2, 1, 3]], "sales", "date"), ValueError,
     r"time: expected increasing timestamps, got a timestamps out of order: row 2 "
     r"\(2000-02-01 00:00:00\) after row 1 \(2000-03-01 00:00:00\)"),
    ("duplicate", lambda: prepare(frame().iloc[[0, 1, 1, 2]], "sales", "date"), ValueError,
     "got a duplicate timestamp: row 2"),
    ("integer gaps", lambda: prepare(pd.DataFrame({"t": [1, 2, 4], "y": [1.0, 2, 3]}), "y", "t"),
     ValueError, r"time: expected consecutive integer steps, got 2 then 4 \(rows 1 and 2\)"),
    ("not dates", lambda: prepare(frame(date="soon"), "sales", "date"), ValueError,
     "time: column 'date' must hold dates or integer steps"),
    ("not a frame", lambda: prepare([1, 2, 3], "y"), TypeError,
     "data: expected a pandas DataFrame, got list"),
    ("bad fill", lambda: prepare(frame(), "sales", "date", fill="mean"), ValueError,
     "fill: expected None or one of 'interpolate', 'ffill', got 'mean'"),
    ("too short", lambda: Forecaster(horizon=12, verbose=False).fit(frame(30), "sales", "date"),
     ValueError, r"data: expected at least lookback \+ horizon \+ lag = 36 rows \(lookback 24, "
     r"12 step\(s\) ahead, differencing lag 0\), got 30; shorten lookback or horizon"),
    ("horizon zero", lambda: Forecaster(horizon=0), ValueError,
     "horizon: expected an integer >= 1, got 0"),
    ("bad cell", lambda: Forecaster(horizon=3, cell="transformer"), ValueError,
     "cell: expected one of 'lstm', 'gru', got 'transformer'"),
    ("bad quantile", lambda: Forecaster(horizon=3, quantiles=[0.1, 1.0]), ValueError,
     r"quantiles: expected levels strictly between 0 and 1, got \[0.1, 0.5, 1.0\]"),
    ("predict before fit", lambda: Forecaster(horizon=3).predict(), RuntimeError,
     r"predict: call fit\(\) first"),
]
# fmt: on


@pytest.mark.parametrize(
    ("call", "exc", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_fill_options_fill_gaps_and_missing_rows():
    df = frame(sales=[1.0, np.nan, 3.0] * 10)
    assert prepare(df, "sales", "date", fill="interpolate").values[1, 0] == 2.0
    assert prepare(df, "sales", "date", fill="ffill").values[1, 0] == 1.0
    gappy = frame().drop(index=[5])
    s = prepare(gappy, "sales", "date", fill="interpolate")
    assert len(s.values) == 30 and s.values[5, 0] == 15.0


@pytest.mark.parametrize(
    ("freq", "code", "season"),
    [("YS", "Y", 1), ("QS", "Q", 4), ("MS", "M", 12), ("ME", "M", 12), ("W-MON", "W", 52),
     ("D", "D", 7), ("h", "h", 24)],
)  # fmt: skip
def test_frequency_and_season_inferred(freq, code, season):
    stamps = pd.date_range("2001-01-01", periods=12, freq=freq)
    s = prepare(pd.DataFrame({"t": stamps[:10], "y": 1.0}), "y", "t")
    assert (s.frequency, s.season_length) == (code, season)
    assert s.future_times(2).tolist() == stamps[10:].tolist()
