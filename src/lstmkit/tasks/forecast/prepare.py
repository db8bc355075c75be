"""From a user's table to checked arrays: columns, numbers, gaps, timestamps, frequency.

Everything a forecast needs is validated here, before any model is built or any file is
written, and every error names the argument, what was expected and what was found.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": pd.date_range("2020-01", periods=4, freq="MS"), "y": [1, 2, 3, 4]})
    >>> s = prepare(df, "y", time="t")
    >>> s.values.shape, s.frequency, s.season_length
    ((4, 1), 'M', 12)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# pandas period code -> (name in messages, season length)
FREQUENCIES = {
    "Y": ("year", 1),
    "Q": ("quarter", 4),
    "M": ("month", 12),
    "W": ("week", 52),
    "D": ("day", 7),
    "h": ("hour", 24),
    "min": ("minute", 60),
    "s": ("second", 60),
}
FILLS = ("interpolate", "ffill")


@dataclass
class Series:
    """Checked data for a forecast.

    Attributes:
        values: (N, S) float, one column per target series.
        names: the S target column names.
        times: the N timestamps (or integer steps) of the rows.
        frequency: pandas period code ("M", "Q", ...) or None for integer steps.
        season_length: steps per season (12 for months), 1 when there is none.
        past: (N, Kp) past covariates; future: (N, Kf) future covariates.
    """

    values: np.ndarray
    names: list[str]
    times: pd.Index
    frequency: str | None
    season_length: int
    past: np.ndarray
    past_names: list[str]
    future: np.ndarray
    future_names: list[str]

    def future_times(self, horizon: int) -> pd.Index:
        """The ``horizon`` timestamps that follow the data, in the data's own convention
        (month starts stay month starts, month ends stay month ends)."""
        last = self.times[-1]
        if self.frequency is None:
            return pd.Index(np.arange(last + 1, last + 1 + horizon), name=self.times.name)
        offset = _offset(self.times) or pd.tseries.frequencies.to_offset(self.frequency)
        future = pd.date_range(last, periods=horizon + 1, freq=offset)[1:]
        return pd.Index(future, name=self.times.name)


def prepare(
    data: pd.DataFrame,
    target: str | Sequence[str],
    time: str | None = None,
    past_covariates: Sequence[str] | None = None,
    future_covariates: Sequence[str] | None = None,
    fill: str | None = None,
) -> Series:
    """Check ``data`` and extract the target series, timestamps and covariates."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data: expected a pandas DataFrame, got {type(data).__name__}")
    if fill is not None and fill not in FILLS:
        raise ValueError(
            f"fill: expected None or one of {', '.join(map(repr, FILLS))}, got {fill!r}"
        )
    names = [target] if isinstance(target, str) else list(target)
    past_names, future_names = list(past_covariates or []), list(future_covariates or [])
    if not names:
        raise ValueError("target: expected at least one column name, got none")
    for arg, cols in (
        ("target", names),
        ("past_covariates", past_names),
        ("future_covariates", future_names),
        ("time", [time] if time else []),
    ):
        _require_columns(arg, data, cols)
    data = data.reset_index(drop=True)
    if time is None:
        times, frequency = pd.RangeIndex(len(data), name="step"), None
    else:
        times, frequency, data = _check_time(data, time, fill)
    values = _numeric(data, names, "target", fill)
    season = FREQUENCIES[frequency][1] if frequency else 1
    return Series(
        values,
        names,
        times,
        frequency,
        season,
        _numeric(data, past_names, "past_covariates", fill),
        past_names,
        _numeric(data, future_names, "future_covariates", fill),
        future_names,
    )


def _offset(times: pd.Index):
    """pandas' own name for the spacing of ``times`` (e.g. month end), or None."""
    if len(times) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 announces a change of return type
        alias = pd.infer_freq(pd.DatetimeIndex(times))
    return pd.tseries.frequencies.to_offset(alias) if alias is not None else None


def _require_columns(arg: str, data: pd.DataFrame, cols: list[str]) -> None:
    for col in cols:
        if col not in data.columns:
            raise ValueError(
                f"{arg}: column {col!r} not found; the columns are: "
                f"{', '.join(map(str, data.columns))}"
            )


def _numeric(data: pd.DataFrame, cols: list[str], arg: str, fill: str | None) -> np.ndarray:
    """The columns as an (N, len(cols)) float array; NaNs filled or reported."""
    out = np.empty((len(data), len(cols)))
    for j, col in enumerate(cols):
        column = data[col]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            numbers = pd.to_numeric(column, errors="coerce")
            bad = column[numbers.isna() & column.notna()]
            if len(bad):
                raise ValueError(
                    f"{arg}: column {col!r} must be numeric; row {bad.index[0]} "
                    f"holds {bad.iloc[0]!r}"
                )
            column = numbers
        column = column.astype(float)
        if column.isna().any():
            if fill is None:
                rows = np.flatnonzero(column.isna().to_numpy())
                raise ValueError(
                    f"{arg}: column {col!r} has {len(rows)} missing value(s), the first at row "
                    f"{rows[0]}; fill them first or pass fill='interpolate' or fill='ffill'"
                )
            column = column.interpolate() if fill == "interpolate" else column.ffill()
            column = column.bfill()  # a gap at the very start takes the first known value
        out[:, j] = column.to_numpy()
    return out


def _check_time(data: pd.DataFrame, time: str, fill: str | None):
    """Parse, order-check and frequency-check the time column; reindex gaps when filling."""
    raw = data[time]
    if pd.api.types.is_integer_dtype(raw):
        steps = raw.to_numpy()
        _check_order(steps, raw)
        if np.any(np.diff(steps) != 1):
            i = int(np.flatnonzero(np.diff(steps) != 1)[0])
            if fill is None:
                raise ValueError(
                    f"time: expected consecutive integer steps, got {steps[i]} "
                    f"then {steps[i + 1]} (rows {i} and {i + 1})"
                )
            full = pd.RangeIndex(steps[0], steps[-1] + 1)
            data = data.set_index(time).reindex(full).rename_axis(time).reset_index()
        return pd.Index(data[time].to_numpy(), name=time), None, data
    try:
        stamps = pd.to_datetime(raw)
    except (ValueError, TypeError) as err:
        raise ValueError(f"time: column {time!r} must hold dates or integer steps; {err}") from None
    _check_order(stamps.to_numpy(), raw)
    frequency, full = _frequency(stamps, fill)
    if full is not None:
        data = data.assign(**{time: stamps}).set_index(time).reindex(full)
        data = data.rename_axis(time).reset_index()
        stamps = data[time]
    return pd.Index(stamps, name=time), frequency, data


def _check_order(values: np.ndarray, raw: pd.Series) -> None:
    if len(values) < 2:
        return
    steps = values[1:] > values[:-1]
    if not steps.all():
        i = int(np.flatnonzero(~steps)[0])
        what = "duplicate timestamp" if values[i + 1] == values[i] else "timestamps out of order"
        raise ValueError(
            f"time: expected increasing timestamps, got a {what}: row {i + 1} "
            f"({raw.iloc[i + 1]}) after row {i} ({raw.iloc[i]})"
        )


def _frequency(stamps: pd.Series, fill: str | None):
    """The period code whose steps fit the timestamps, and a full index when gaps are filled."""
    for code, (unit, _) in FREQUENCIES.items():
        periods = stamps.dt.to_period(code)
        if periods.duplicated().any():
            continue  # finer than this unit
        gaps = np.diff(pd.PeriodIndex(periods).asi8)
        if np.all(gaps == 1):
            return code, None
        if fill is None and np.all(gaps >= 1) and np.median(gaps) == 1:
            i = int(np.flatnonzero(gaps != 1)[0])
            raise ValueError(
                f"time: missing timestamps between {stamps.iloc[i]} and "
                f"{stamps.iloc[i + 1]} (expected one row every {unit}); add the rows "
                f"or pass fill='interpolate' or fill='ffill'"
            )
        if np.median(gaps) == 1:
            full = pd.period_range(periods.iloc[0], periods.iloc[-1], freq=code).to_timestamp()
            return code, full
    raise ValueError(
        "time: could not find a regular frequency (yearly, quarterly, monthly, "
        "weekly, daily, hourly, ...) in the timestamps"
    )
