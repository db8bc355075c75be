"""The forecast picture: history, held-out truth, the forecast and its interval band.

Example:
    >>> import tempfile, os, pandas as pd
    >>> times = pd.date_range("2020-01", periods=6, freq="MS")
    >>> fc = pd.DataFrame({"t": times[4:], "forecast": [5.0, 6.0], "q0.1": [4.0, 5.0],
    ...                    "q0.9": [6.0, 7.0]})
    >>> path = os.path.join(tempfile.mkdtemp(), "f.png")
    >>> plot_forecast(times[:4], [1.0, 2.0, 3.0, 4.0], fc, "t", path, title="demo")
    >>> os.path.getsize(path) > 0
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure  # drawn off-screen, whatever the user's backend


def plot_forecast(
    times: Sequence,
    history: Sequence[float],
    forecast: pd.DataFrame,
    time_col: str,
    path: str,
    actual: Sequence[float] | None = None,
    baselines: dict[str, Sequence[float]] | None = None,
    title: str = "",
) -> None:
    """Save a PNG at ``path``.

    Args:
        times, history: the series the model was trained on.
        forecast: the Forecaster's frame (time column, ``forecast`` and quantile columns).
        actual: the held-out truth over the forecast's times, if known.
        baselines: name -> point forecasts over the same times, drawn as thin dashed lines.
    """
    qcols = [c for c in forecast.columns if c.startswith("q") and c != "q0.5"]
    fig = Figure(figsize=(10, 4.5), dpi=110)
    ax = fig.subplots()
    ax.plot(times, history, color="black", lw=1.2, label="history")
    when = forecast[time_col]
    if len(qcols) >= 2:
        lo, hi = qcols[0], qcols[-1]
        level = round((float(hi[1:]) - float(lo[1:])) * 100)
        ax.fill_between(
            when,
            forecast[lo],
            forecast[hi],
            color="tab:blue",
            alpha=0.2,
            label=f"{level} % interval",
        )
    if actual is not None:
        ax.plot(when, actual, color="black", lw=1.2, ls=":", label="held-out truth")
    for name, values in (baselines or {}).items():
        ax.plot(when, values, lw=0.9, ls="--", label=name)
    ax.plot(when, forecast["forecast"], color="tab:blue", lw=2, label="LSTM forecast")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
