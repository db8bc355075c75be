"""Rolling-origin backtests: refit at each origin, forecast, score against what happened.

Example:
    >>> from lstmkit.data import load_dataset
    >>> from lstmkit.tasks.forecast import Forecaster
    >>> df = load_dataset("airline")
    >>> f = Forecaster(horizon=12, epochs=10, ensemble=1, verbose=False)
    >>> table = backtest(f, df, "passengers", time="month", start=120, stride=12)
    >>> table["origin"].astype(str).tolist()
    ['1959-01-01', '1960-01-01']
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from .metrics import score
from .prepare import prepare


def backtest(
    forecaster, data: pd.DataFrame, target, time=None, start=None, stride=None, **fit_args
) -> pd.DataFrame:
    """Score ``forecaster`` from each origin ``start, start + stride, ...``.

    Args:
        start: the first origin, as a row number or a timestamp (the first forecast step);
            default: the last origin that leaves a full horizon, minus two strides.
        stride: rows between origins; default the horizon.

    Returns:
        One row per origin and series: origin, series, MAPE, sMAPE, MASE, RMSE and the
        coverage of the widest interval (in %).
    """
    horizon = forecaster.params["horizon"]
    series = prepare(
        data,
        target,
        time,
        fit_args.get("past_covariates"),
        fit_args.get("future_covariates"),
        fit_args.get("fill"),
    )
    n = len(series.values)
    stride = stride or horizon
    first = _origin(start, series.times, n - horizon - 2 * stride)
    if not 0 < first <= n - horizon:
        raise ValueError(
            f"start: expected an origin between row 1 and row {n - horizon} "
            f"(leaving {horizon} steps to score), got row {first}"
        )
    rows = []
    for origin in range(first, n - horizon + 1, stride):
        model = copy.deepcopy(forecaster)
        model.params["verbose"] = False
        model.fit(data.iloc[:origin], target, time, **fit_args)
        pred = model.predict(horizon, _future(data, origin, horizon, fit_args))
        lo, hi = f"q{model.quantiles[0]:g}", f"q{model.quantiles[-1]:g}"
        for s, name in enumerate(series.names):
            part = pred[pred["series"] == name] if "series" in pred else pred
            actual, history = series.values[origin : origin + horizon, s], series.values[:origin, s]
            metrics = score(
                actual,
                part["forecast"].to_numpy(),
                history,
                model.season,
                part[lo].to_numpy(),
                part[hi].to_numpy(),
            )
            rows.append({"origin": series.times[origin], "series": name, **metrics})
    return pd.DataFrame(rows)


def _origin(start, times: pd.Index, default: int) -> int:
    if start is None:
        return max(default, 1)
    if isinstance(start, int | np.integer) and not isinstance(start, bool):
        return int(start)
    matches = np.flatnonzero(times == pd.Timestamp(start))
    if not len(matches):
        raise ValueError(f"start: timestamp {start} is not in the time column")
    return int(matches[0])


def _future(data, origin, horizon, fit_args):
    names = fit_args.get("future_covariates")
    return data.iloc[origin : origin + horizon][list(names)] if names else None
