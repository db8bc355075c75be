"""``lstmkit forecast``: forecast a CSV column (or an embedded data set) from the shell.

Everything is checked before training starts, and the output files (forecast CSV, metrics
CSV, PNG plot) are written to a temporary folder and moved into place only when all of
them are complete, so a failed run leaves nothing behind.

Example:
    $ lstmkit forecast --dataset airline --holdout 36
    $ lstmkit forecast sales.csv --target units --time date --horizon 12 --out forecasts/
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from ...data import DATASETS, load_dataset
from .forecaster import Forecaster
from .metrics import score
from .prepare import FILLS, prepare


def add_parser(sub) -> None:
    """Register the ``forecast`` subcommand on an argparse subparsers object."""
    p = sub.add_parser("forecast", help="forecast a time series with an LSTM, beside baselines")
    p.add_argument("csv", nargs="?", help="CSV file with the series (or use --dataset)")
    p.add_argument("--dataset", choices=sorted(DATASETS), help="an embedded data set instead")
    p.add_argument("--target", help="column to forecast")
    p.add_argument("--time", help="time column (dates or integer steps)")
    p.add_argument("--horizon", type=int, help="steps to forecast (default: --holdout)")
    p.add_argument(
        "--holdout",
        type=int,
        default=0,
        help="hold out the last N rows, forecast them and score against the truth",
    )
    p.add_argument("--out", default="out/forecast", help="output folder (out/forecast)")
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    p.add_argument("--ensemble", type=int, default=5, help="networks averaged (5)")
    p.add_argument("--epochs", type=int, default=300, help="training epochs per network (300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fill", choices=FILLS, help="fill missing values instead of failing")
    p.add_argument("--no-baselines", action="store_true", help="skip seasonal naive, ETS, ARIMA")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .baselines import all_baselines  # statsmodels loads only when used

    data, target, time = _load(args)
    horizon = args.horizon or args.holdout
    if not horizon or horizon < 1:
        raise SystemExit(
            "lstmkit forecast: error: --horizon: expected an integer >= 1 "
            f"(or --holdout N), got {args.horizon or args.holdout}"
        )
    if args.holdout < 0 or args.holdout >= len(data):
        raise SystemExit(
            f"lstmkit forecast: error: --holdout: expected 0 to {len(data) - 1}, got {args.holdout}"
        )
    train = data.iloc[: len(data) - args.holdout] if args.holdout else data
    series = prepare(train, target, time, fill=args.fill)  # fails early on bad input
    model = Forecaster(
        horizon,
        cell=args.cell,
        ensemble=args.ensemble,
        epochs=args.epochs,
        seed=args.seed,
        verbose=not args.quiet,
    )
    model.fit(train, target, time, fill=args.fill)
    forecast = model.predict()
    history = series.values[:, 0]
    baselines = [] if args.no_baselines else all_baselines(history, horizon, model.season)
    actual = None
    if args.holdout:
        actual = prepare(data, target, time, fill=args.fill).values[len(train) :, 0][:horizon]
    _write_outputs(args.out, forecast, actual, baselines, series, history, model, target)
    return 0


def _load(args):
    if (args.csv is None) == (args.dataset is None):
        raise SystemExit(
            "lstmkit forecast: error: give a CSV file or --dataset NAME (one of "
            f"{', '.join(sorted(DATASETS))}), not both and not neither"
        )
    if args.dataset:
        _, time_col, _, value_col = DATASETS[args.dataset]
        return load_dataset(args.dataset), args.target or value_col, args.time or time_col
    if not os.path.isfile(args.csv):
        raise SystemExit(f"lstmkit forecast: error: csv: no such file: {args.csv}")
    if not args.target:
        raise SystemExit("lstmkit forecast: error: --target: expected the column to forecast")
    return pd.read_csv(args.csv), args.target, args.time


def _write_outputs(out, forecast, actual, baselines, series, history, model, target) -> None:
    q_lo, q_hi = f"q{model.quantiles[0]:g}", f"q{model.quantiles[-1]:g}"
    table = forecast.copy()
    if actual is not None:
        table.insert(1, "actual", actual)
    for b in baselines:
        table[b.name] = b.point
    rows = []
    if actual is not None:
        rows.append(
            {
                "model": f"{model.params['cell'].upper()} (lstmkit)",
                **score(
                    actual,
                    forecast["forecast"].to_numpy(),
                    history,
                    model.season,
                    forecast[q_lo].to_numpy(),
                    forecast[q_hi].to_numpy(),
                ),
            }
        )
        for b in baselines:
            rows.append(
                {
                    "model": b.name,
                    **score(actual, np.asarray(b.point), history, model.season, b.lower, b.upper),
                }
            )
    from .plot import plot_forecast  # matplotlib loads only when used

    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".forecast-", dir=parent)
    try:
        table.to_csv(os.path.join(tmp, "forecast.csv"), index=False)
        if rows:
            pd.DataFrame(rows).to_csv(os.path.join(tmp, "metrics.csv"), index=False)
        plot_forecast(
            series.times,
            history,
            forecast,
            series.times.name,
            os.path.join(tmp, "forecast.png"),
            actual,
            {b.name: b.point for b in baselines},
            f"{target}: forecast",
        )
        os.makedirs(out, exist_ok=True)
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), os.path.join(out, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _print(rows, out, forecast, q_lo, q_hi)


def _print(rows, out, forecast, q_lo, q_hi) -> None:
    console = Console()
    if rows:
        table = Table(title=f"held-out accuracy ({len(forecast)} steps)")
        for col in rows[0]:
            table.add_column(col, justify="left" if col == "model" else "right")
        best = min(r["MAPE"] for r in rows)
        for r in rows:
            cells = [r["model"]] + [f"{r[k]:.2f}" if k in r else "-" for k in list(rows[0])[1:]]
            table.add_row(*cells, style="bold" if r["MAPE"] == best else None)
        console.print(table)
        console.print(f"MAPE, sMAPE and coverage in %; coverage of the {q_lo}-{q_hi} interval.")
    console.print(
        f"wrote {out}/forecast.csv, {out}/forecast.png" + (f", {out}/metrics.csv" if rows else "")
    )
