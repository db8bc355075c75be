"""Reversible scaling of a series: standard, min-max or log.

Example:
    >>> import numpy as np
    >>> s = Scaler("minmax").fit(np.array([2.0, 4.0, 6.0]))
    >>> s.transform(np.array([2.0, 6.0])).tolist(), s.inverse(np.array([0.5])).tolist()
    ([0.0, 1.0], [4.0])
"""

from __future__ import annotations

import numpy as np

SCALINGS = ("standard", "minmax", "log", "none")


class Scaler:
    """Fit on one series, then map values to the model's scale and back.

    Args:
        kind: ``"standard"`` (zero mean, unit variance), ``"minmax"`` (to [0, 1]),
            ``"log"`` (natural log; values must be positive) or ``"none"``.
    """

    def __init__(self, kind: str = "standard") -> None:
        if kind not in SCALINGS:
            raise ValueError(
                f"scaling: expected one of {', '.join(map(repr, SCALINGS))}, got {kind!r}"
            )
        self.kind = kind
        self.shift, self.scale = 0.0, 1.0

    def fit(self, values: np.ndarray) -> Scaler:
        values = np.asarray(values, dtype=float)
        if self.kind == "log" and np.any(values <= 0):
            raise ValueError(f"scaling: 'log' needs positive values, got minimum {values.min():g}")
        if self.kind == "standard":
            self.shift, self.scale = float(values.mean()), float(values.std()) or 1.0
        elif self.kind == "minmax":
            self.shift, self.scale = float(values.min()), float(np.ptp(values)) or 1.0
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if self.kind == "log":
            return np.log(values)
        return (values - self.shift) / self.scale

    def inverse(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if self.kind == "log":
            return np.exp(values)
        return values * self.scale + self.shift

    def to_dict(self) -> dict:
        return {"kind": self.kind, "shift": self.shift, "scale": self.scale}
