"""Classical baselines computed beside the LSTM: seasonal naive, ETS and ARIMA.

Each baseline takes the history of one series and returns point forecasts and, where the
method has them, an interval at the same level as the Forecaster's outer quantiles.

Example:
    >>> import numpy as np
    >>> history = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    >>> seasonal_naive(history, horizon=4, season=3).point.tolist()
    [1.0, 2.0, 3.0, 1.0]
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Baseline:
    name: str
    point: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> Baseline:
    """Repeat the last observed season: ŷ(T+h) = y(T+h-m(k+1)), k = floor((h-1)/m)."""
    last = history[-season:]
    return Baseline("seasonal naive", np.resize(last, horizon).astype(float))


def seasonal_naive_drift(history: np.ndarray, horizon: int, season: int) -> Baseline:
    """Seasonal naive plus the average step of the whole history: + h (y_T - y_1) / (T - 1)."""
    drift = (history[-1] - history[0]) / (len(history) - 1)
    base = seasonal_naive(history, horizon, season).point
    return Baseline("seasonal naive + drift", base + drift * np.arange(1, horizon + 1))


def ets(history: np.ndarray, horizon: int, season: int, level: float = 0.8) -> Baseline:
    """Exponential smoothing state-space model (statsmodels ETSModel), additive errors,
    trend and seasonality chosen by AIC among none / additive / damped trend and none /
    additive / multiplicative seasonality."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    seasonal_opts = [None, "add", "mul"] if season > 1 and len(history) >= 2 * season else [None]
    best = None
    for trend, damped, seasonal in itertools.product([None, "add"], [False, True], seasonal_opts):
        if (damped and trend is None) or (seasonal == "mul" and np.any(history <= 0)):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ETSModel(
                _indexed(history),
                error="add",
                trend=trend,
                damped_trend=damped,
                seasonal=seasonal,
                seasonal_periods=season if seasonal else None,
            ).fit(disp=False)
        if best is None or fit.aic < best[0].aic:
            best = (fit, f"ETS(A,{_code(trend, damped)},{_code(seasonal)})")
    fit, name = best
    # Intervals of nonlinear (multiplicative) models are simulated: fix the draw.
    pred = fit.get_prediction(
        len(history), len(history) + horizon - 1, rng=np.random.default_rng(0)
    )
    frame = pred.summary_frame(alpha=1 - level)
    return Baseline(
        name, frame["mean"].to_numpy(), frame["pi_lower"].to_numpy(), frame["pi_upper"].to_numpy()
    )


def arima(history: np.ndarray, horizon: int, season: int, level: float = 0.8) -> Baseline:
    """Seasonal ARIMA (statsmodels SARIMAX) with one difference (and one seasonal difference
    when seasonal), orders p, q, P, Q in {0, 1} chosen by AIC."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    seasonal = season > 1 and len(history) >= 3 * season
    best = None
    for p, q, sp, sq in itertools.product(
        [0, 1], [0, 1], [0, 1] if seasonal else [0], [0, 1] if seasonal else [0]
    ):
        order, sorder = (p, 1, q), ((sp, 1, sq, season) if seasonal else (0, 0, 0, 0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = SARIMAX(history, order=order, seasonal_order=sorder).fit(disp=False)
        if best is None or fit.aic < best[0].aic:
            tail = f"({sp},1,{sq}){season}" if seasonal else ""
            best = (fit, f"ARIMA({p},1,{q}){tail}")
    fit, name = best
    pred = fit.get_forecast(horizon)
    interval = pred.conf_int(alpha=1 - level)
    return Baseline(name, pred.predicted_mean, interval[:, 0], interval[:, 1])


def all_baselines(history: np.ndarray, horizon: int, season: int, level: float = 0.8):
    """Every baseline that the history supports, in a fixed order."""
    out = []
    if season > 1 and len(history) >= season:
        out += [
            seasonal_naive(history, horizon, season),
            seasonal_naive_drift(history, horizon, season),
        ]
    else:
        out.append(seasonal_naive_drift(history, horizon, 1))
        out[-1].name = "naive + drift"
    out += [ets(history, horizon, season, level), arima(history, horizon, season, level)]
    return out


def _indexed(history: np.ndarray) -> pd.Series:
    """statsmodels' ETS predictions need a pandas index with a frequency; any will do."""
    return pd.Series(history, index=pd.period_range("2000-01", periods=len(history), freq="M"))


def _code(component: str | None, damped: bool = False) -> str:
    if component is None:
        return "N"
    return {"add": "A", "mul": "M"}[component] + ("d" if damped else "")
