"""The Forecaster: an ensemble of small recurrent networks that forecast a series.

Each series is made stationary and scaled (:mod:`.transform`), cut into windows of
``lookback`` inputs and ``horizon`` targets, and an ensemble of LSTM (or GRU) networks is
trained with the pinball loss to emit every quantile of every future step at once (the
direct strategy), or one step at a time fed back on itself (the recursive strategy).
Several target columns train one global model.

Example:
    >>> from lstmkit.data import load_dataset
    >>> df = load_dataset("airline")
    >>> f = Forecaster(horizon=12, epochs=20, ensemble=1, verbose=False)
    >>> f = f.fit(df, target="passengers", time="month")
    >>> f.predict().columns.tolist()
    ['month', 'forecast', 'q0.1', 'q0.5', 'q0.9']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from ...progress import Progress
from .network import CELLS, QuantileNet
from .prepare import Series, prepare
from .training import train_network
from .transform import SeriesTransform

STRATEGIES = ("direct", "recursive")
DIFFERENCES = ("auto", "seasonal", "first", "none")


class Forecaster:
    """Probabilistic forecaster built on lstmkit's LSTM.

    Args:
        horizon: steps to forecast (the direct strategy trains for exactly these).
        lookback: input steps per window; default two seasons (24 for monthly data), or 24.
        cell: ``"lstm"`` or ``"gru"``. hidden_size, num_layers: of the recurrent encoder.
        dropout: on the encoder's final state (and between layers).
        scaling: ``"standard"``, ``"minmax"``, ``"log"`` (log, then standard) or ``"none"``.
        difference: ``"auto"`` (seasonal when a season is known and at least three seasons
            are observed, else none), ``"seasonal"``, ``"first"`` or ``"none"``.
        season_length: steps per season; default from the time column (12 for months).
        strategy: ``"direct"`` (all steps at once) or ``"recursive"`` (one step, fed back).
        quantiles: quantile levels to predict; 0.5 is always included (the point forecast).
        ensemble: networks trained from different seeds; their quantiles are averaged.
        epochs, learning_rate, weight_decay, batch_size: Adam training; batch_size None trains
            on all windows at once.
        seed: the first network's seed; the run is reproducible on the same machine.
        verbose: show a progress bar while training.
    """

    def __init__(
        self,
        horizon: int,
        lookback: int | None = None,
        cell: str = "lstm",
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.2,
        scaling: str = "standard",
        difference: str = "auto",
        season_length: int | None = None,
        strategy: str = "direct",
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        ensemble: int = 5,
        epochs: int = 300,
        learning_rate: float = 1e-2,
        weight_decay: float = 1e-3,
        batch_size: int | None = None,
        seed: int = 0,
        verbose: bool = True,
    ) -> None:
        _positive("horizon", horizon)
        for name, value in (
            ("lookback", lookback),
            ("season_length", season_length),
            ("batch_size", batch_size),
        ):
            if value is not None:
                _positive(name, value)
        for name, value in (
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("ensemble", ensemble),
            ("epochs", epochs),
        ):
            _positive(name, value)
        _choice("cell", cell, tuple(CELLS))
        _choice("strategy", strategy, STRATEGIES)
        _choice("difference", difference, DIFFERENCES)
        _choice("scaling", scaling, ("standard", "minmax", "log", "none"))
        qs = sorted({float(q) for q in quantiles} | {0.5})
        if not all(0 < q < 1 for q in qs):
            raise ValueError(f"quantiles: expected levels strictly between 0 and 1, got {qs}")
        self.params = dict(
            horizon=horizon,
            lookback=lookback,
            cell=cell,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            scaling=scaling,
            difference=difference,
            season_length=season_length,
            strategy=strategy,
            quantiles=qs,
            ensemble=ensemble,
            epochs=epochs,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            batch_size=batch_size,
            seed=seed,
            verbose=verbose,
        )
        self.quantiles = qs
        self.series: Series | None = None

    # -- fitting ----------------------------------------------------------------------------
    def fit(
        self,
        data: pd.DataFrame,
        target: str | Sequence[str],
        time: str | None = None,
        past_covariates: Sequence[str] | None = None,
        future_covariates: Sequence[str] | None = None,
        fill: str | None = None,
    ) -> Forecaster:
        """Train on ``data``; ``target`` is a column, or a list of columns for a global model.

        Past covariates are inputs known only up to the present; future covariates are known
        ahead too (calendar, plans) and must be given again to :meth:`predict`.
        """
        p = self.params
        series = prepare(data, target, time, past_covariates, future_covariates, fill)
        self._fit_args = dict(
            target=target,
            time=time,
            past_covariates=past_covariates,
            future_covariates=future_covariates,
            fill=fill,
        )
        self._data = data
        self.season = p["season_length"] or series.season_length
        self.lag = self._lag(len(series.values))
        self.lookback = p["lookback"] or (2 * self.season if self.season > 1 else 24)
        self.steps = p["horizon"] if p["strategy"] == "direct" else 1
        need = self.lookback + self.steps + self.lag
        if len(series.values) < need:
            raise ValueError(
                f"data: expected at least lookback + horizon + lag = {need} rows "
                f"(lookback {self.lookback}, {self.steps} step(s) ahead, differencing lag "
                f"{self.lag}), got {len(series.values)}; shorten lookback or horizon"
            )
        self.transforms = [
            SeriesTransform(p["scaling"], self.lag).fit(col) for col in series.values.T
        ]
        self.cov_scale = _standardiser(np.hstack([series.past, series.future]))
        inputs, targets, future = self._windows(series)
        self.series = series
        self.nets = self._train_ensemble(inputs, targets, future)
        return self

    def _lag(self, n: int) -> int:
        mode = self.params["difference"]
        if mode == "auto":
            return self.season if self.season > 1 and n >= 3 * self.season else 0
        return {"seasonal": self.season, "first": 1, "none": 0}[mode]

    def _features(self, series: Series, s: int) -> tuple[np.ndarray, np.ndarray]:
        """(N - lag, 1 + Kp + Kf) inputs of series ``s`` and (N - lag, Kf) future covariates."""
        z = self.transforms[s].forward(series.values[:, s])  # (N - lag,)
        covs = self.cov_scale(np.hstack([series.past, series.future]))[self.lag :]
        future = covs[:, series.past.shape[1] :]
        return np.column_stack([z, covs]), future

    def _windows(self, series: Series):
        inputs, targets, futures = [], [], []
        for s in range(series.values.shape[1]):
            feats, future = self._features(series, s)
            count = len(feats) - self.lookback - self.steps + 1
            idx = np.arange(count)[:, None]
            inputs.append(feats[idx + np.arange(self.lookback)])  # (W, L, F)
            targets.append(feats[idx + self.lookback + np.arange(self.steps), 0])  # (W, steps)
            futures.append(future[idx + self.lookback + np.arange(self.steps)])  # (W, steps, Kf)
        as_t = lambda parts: torch.tensor(np.concatenate(parts), dtype=torch.float32)  # noqa: E731
        return as_t(inputs), as_t(targets), as_t(futures)

    def _train_ensemble(self, inputs, targets, future):
        p = self.params
        n_future = future.shape[-1]
        nets = []
        total = p["ensemble"] * p["epochs"]
        with Progress(
            total, f"training {p['ensemble']} x {p['cell'].upper()}", quiet=not p["verbose"]
        ) as bar:
            for k in range(p["ensemble"]):
                torch.manual_seed(p["seed"] + k)
                net = QuantileNet(
                    p["cell"],
                    inputs.shape[-1],
                    p["hidden_size"],
                    p["num_layers"],
                    p["dropout"],
                    self.steps,
                    len(self.quantiles),
                    n_future,
                )
                train_network(
                    net,
                    inputs,
                    targets,
                    future if n_future else None,
                    torch.tensor(self.quantiles),
                    p,
                    bar,
                )
                nets.append(net.eval())
        return nets

    def backtest(self, start=None, stride: int | None = None) -> pd.DataFrame:
        """Rolling-origin backtest on the data given to :meth:`fit` (see :func:`.backtest`)."""
        from .backtest import backtest

        if self.series is None:
            raise RuntimeError("backtest: call fit() first")
        return backtest(self, self._data, start=start, stride=stride, **self._fit_args)

    # -- forecasting ------------------------------------------------------------------------
    def predict(
        self, horizon: int | None = None, future_covariates: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Forecast ``horizon`` steps after the data (default: the trained horizon).

        Returns a DataFrame with the time column, ``series`` (when several), ``forecast``
        (the median) and one column per quantile, ``q0.1`` ... ``q0.9``.
        """
        if self.series is None:
            raise RuntimeError("predict: call fit() first")
        series, p = self.series, self.params
        horizon = p["horizon"] if horizon is None else horizon
        _positive("horizon", horizon)
        if p["strategy"] == "direct" and horizon > p["horizon"]:
            raise ValueError(
                f"horizon: expected at most {p['horizon']} (the direct strategy "
                f"was trained for it), got {horizon}"
            )
        future = self._future_covariates(future_covariates, horizon)
        frames = []
        for s, name in enumerate(series.names):
            feats, _ = self._features(series, s)
            z = self._predict_z(feats, future, horizon)  # (horizon, Q)
            levels = self.transforms[s].inverse(z, series.values[:, s])
            frames.append(self._frame(levels, name, horizon))
        return pd.concat(frames, ignore_index=True)

    def _predict_z(self, feats: np.ndarray, future: np.ndarray, horizon: int) -> np.ndarray:
        """Quantiles (horizon, Q) of the model values, averaged over the ensemble."""
        if self.params["strategy"] == "direct":
            x = torch.tensor(feats[-self.lookback :], dtype=torch.float32)[None]  # (1, L, F)
            fut = torch.tensor(future, dtype=torch.float32)[None] if future.shape[1] else None
            if fut is not None and fut.shape[1] < self.steps:  # pad to the trained horizon
                fut = torch.cat([fut, fut[:, -1:].expand(-1, self.steps - fut.shape[1], -1)], 1)
            with torch.no_grad():
                z = torch.stack([net(x, fut)[0] for net in self.nets]).mean(0).numpy()
            return np.sort(z[:horizon], axis=1)  # sorting removes quantile crossings
        rows = list(feats)
        out = []
        for h in range(horizon):
            x = torch.tensor(np.array(rows[-self.lookback :]), dtype=torch.float32)[None]
            fut = (
                torch.tensor(future[h : h + 1], dtype=torch.float32)[None]
                if future.shape[1]
                else None
            )
            with torch.no_grad():
                z = np.sort(torch.stack([n(x, fut)[0, 0] for n in self.nets]).mean(0).numpy())
            out.append(z)
            median = z[self.quantiles.index(0.5)]
            rows.append(np.concatenate([[median], rows[-1][1:]]))  # covariates carried forward
        return np.array(out)

    def _future_covariates(self, frame: pd.DataFrame | None, horizon: int) -> np.ndarray:
        names = self.series.future_names
        if not names:
            return np.zeros((horizon, 0))
        if frame is None:
            raise ValueError(
                f"future_covariates: expected a DataFrame with columns "
                f"{', '.join(names)} for the {horizon} forecast steps, got None"
            )
        prep = prepare(frame, names)
        if len(prep.values) < horizon:
            raise ValueError(
                f"future_covariates: expected at least {horizon} rows, got {len(prep.values)}"
            )
        past = np.zeros((horizon, self.series.past.shape[1]))
        return self.cov_scale(np.hstack([past, prep.values[:horizon]]))[:, past.shape[1] :]

    def _frame(self, levels: np.ndarray, name: str, horizon: int) -> pd.DataFrame:
        times = self.series.future_times(horizon)
        frame = pd.DataFrame({times.name: times})
        if len(self.series.names) > 1:
            frame["series"] = name
        frame["forecast"] = levels[:, self.quantiles.index(0.5)]
        for j, q in enumerate(self.quantiles):
            frame[f"q{q:g}"] = levels[:, j]
        return frame


def _standardiser(columns: np.ndarray):
    """A function that standardises covariate columns with these columns' mean and std."""
    mean = columns.mean(axis=0) if columns.size else 0.0
    std = columns.std(axis=0) if columns.size else 1.0
    std = np.where(std > 0, std, 1.0)
    return lambda x: (x - mean) / std


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
