"""Time-series forecasting with LSTMs: the Forecaster, its baselines, metrics and plots.

Example:
    >>> from lstmkit.tasks.forecast import Forecaster, metrics
    >>> metrics.mape([100.0], [90.0]) == 10.0
    True
"""

from . import metrics
from .backtest import backtest
from .forecaster import Forecaster

__all__ = ["Forecaster", "backtest", "metrics"]
