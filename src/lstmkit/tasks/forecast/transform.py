"""The reversible chain a series goes through before the network sees it.

    level --(log, if scaling="log")--> --(difference at lag, if any)--> --(scale)--> z

and back again for forecasts. Quantile forecasts are inverted path by path: the q-path of
levels adds the q-quantile of each predicted difference to the q-path a lag earlier, which
treats the quantiles of successive differences as moving together (comonotone), so
intervals beyond one lag are conservative rather than too narrow.

Example:
    >>> import numpy as np
    >>> y = np.array([10.0, 12.0, 11.0, 13.0, 15.0, 14.0])
    >>> t = SeriesTransform(scaling="standard", lag=1).fit(y)
    >>> z = t.forward(y)                       # 5 scaled first differences
    >>> np.allclose(t.inverse(z[-2:, None], y[:-2])[:, 0], y[-2:])
    True
"""

from __future__ import annotations

import numpy as np

from ...data import Scaler, difference, undifference


class SeriesTransform:
    """Log (optional), difference at ``lag`` (0 for none), then standard / min-max scaling."""

    def __init__(self, scaling: str = "standard", lag: int = 0) -> None:
        self.log = scaling == "log"
        self.lag = lag
        self.scaler = Scaler("standard" if self.log else scaling)

    def _pre(self, levels: np.ndarray) -> np.ndarray:
        if self.log and np.any(levels <= 0):
            raise ValueError(f"scaling: 'log' needs positive values, got minimum {levels.min():g}")
        return np.log(levels) if self.log else levels

    def fit(self, levels: np.ndarray) -> SeriesTransform:
        pre = self._pre(levels)
        self.scaler.fit(difference(pre, self.lag) if self.lag else pre)
        return self

    def forward(self, levels: np.ndarray) -> np.ndarray:
        """(N,) levels -> (N - lag,) model values."""
        pre = self._pre(levels)
        return self.scaler.transform(difference(pre, self.lag) if self.lag else pre)

    def inverse(self, z: np.ndarray, history: np.ndarray) -> np.ndarray:
        """(H, Q) model values that follow ``history`` (levels) -> (H, Q) levels."""
        values = self.scaler.inverse(z)  # (H, Q)
        if self.lag:
            pre = self._pre(history)
            values = np.stack(
                [undifference(values[:, q], pre, self.lag) for q in range(values.shape[1])], axis=1
            )
        return np.exp(values) if self.log else values
