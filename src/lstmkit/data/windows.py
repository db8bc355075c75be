"""Sliding windows and (seasonal) differencing for sequence models.

Example:
    >>> import numpy as np
    >>> x = np.arange(6.0)
    >>> inputs, targets = make_windows(x, lookback=3, horizon=2)
    >>> inputs.tolist(), targets.tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    >>> d = difference(np.array([1.0, 2.0, 4.0, 7.0]), lag=1)
    >>> d.tolist(), undifference(np.array([11.0]), history=np.array([7.0]), lag=1).tolist()
    ([1.0, 2.0, 3.0], [18.0])
"""

from __future__ import annotations

import numpy as np


def make_windows(series: np.ndarray, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (input, target) pair of ``lookback`` then ``horizon`` consecutive steps.

    Args:
        series: (N, ...) values along time.

    Returns:
        inputs (W, lookback, ...) and targets (W, horizon, ...), W = N - lookback - horizon + 1.
    """
    count = len(series) - lookback - horizon + 1
    if count < 1:
        raise ValueError(
            f"series: expected at least lookback + horizon = {lookback + horizon} "
            f"steps, got {len(series)}"
        )
    starts = np.arange(count)[:, None]
    inputs = series[starts + np.arange(lookback)]  # (W, lookback, ...)
    targets = series[starts + lookback + np.arange(horizon)]  # (W, horizon, ...)
    return inputs, targets


def difference(series: np.ndarray, lag: int) -> np.ndarray:
    """``series[t] - series[t - lag]`` for t >= lag: first (lag 1) or seasonal differences."""
    return series[lag:] - series[:-lag]


def undifference(diffs: np.ndarray, history: np.ndarray, lag: int) -> np.ndarray:
    """Invert :func:`difference` for values after ``history``.

    Args:
        diffs: (H, ...) differences of the H steps that follow ``history``.
        history: (>= lag, ...) the last observed values.

    Returns:
        (H, ...) levels: level[t] = level[t - lag] + diffs[t], starting from ``history``.
    """
    levels = list(history[-lag:])
    for d in diffs:
        levels.append(levels[-lag] + d)
    return np.asarray(levels[lag:])
