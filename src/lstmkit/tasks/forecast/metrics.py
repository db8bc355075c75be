"""Forecast accuracy: MAPE, sMAPE, MASE, RMSE and interval coverage.

Example:
    >>> import numpy as np
    >>> y, f = np.array([100.0, 200.0]), np.array([110.0, 180.0])
    >>> mape(y, f), rmse(y, f)
    (10.0, 15.811388300841896)
"""

from __future__ import annotations

import numpy as np


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error, in %: mean(|y - f| / |y|) * 100."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    return float(np.mean(np.abs(actual - forecast) / np.abs(actual)) * 100)


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE, in %: mean(2 |y - f| / (|y| + |f|)) * 100 (0 to 200)."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    return float(np.mean(2 * np.abs(actual - forecast) / (np.abs(actual) + np.abs(forecast))) * 100)


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season: int = 1) -> float:
    """Mean absolute scaled error (Hyndman & Koehler 2006): the forecast's MAE over the
    in-sample MAE of the seasonal naive forecast (lag ``season``) on ``history``."""
    actual, forecast, history = (np.asarray(a, float) for a in (actual, forecast, history))
    scale = np.mean(np.abs(history[season:] - history[:-season]))
    return float(np.mean(np.abs(actual - forecast)) / scale)


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    return float(np.sqrt(np.mean((actual - forecast) ** 2)))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actual values inside [lower, upper], in %."""
    actual, lower, upper = (np.asarray(a, float) for a in (actual, lower, upper))
    return float(np.mean((actual >= lower) & (actual <= upper)) * 100)


def score(actual, forecast, history, season, lower=None, upper=None) -> dict[str, float]:
    """Every metric at once, as a dict; coverage only when an interval is given."""
    result = {
        "MAPE": mape(actual, forecast),
        "sMAPE": smape(actual, forecast),
        "MASE": mase(actual, forecast, history, season),
        "RMSE": rmse(actual, forecast),
    }
    if lower is not None:
        result["coverage"] = coverage(actual, lower, upper)
    return result
