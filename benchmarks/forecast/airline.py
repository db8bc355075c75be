"""Airline passengers, 1958-1960 held out: the Forecaster's defaults, their sensitivity
to seeds and neighbouring settings, and the classical baselines, in one run.

    python benchmarks/forecast/airline.py            # writes benchmarks/forecast/RESULTS.md

Every row trains on 1949-01..1957-12 (108 months) and scores the 36 months after.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from lstmkit.data import load_dataset
from lstmkit.tasks.forecast import Forecaster, metrics
from lstmkit.tasks.forecast.baselines import all_baselines

HERE = Path(__file__).parent
# name -> Forecaster overrides of the defaults
SETTINGS = {
    "defaults": {},
    "hidden_size=16": {"hidden_size": 16},
    "hidden_size=64": {"hidden_size": 64},
    "lookback=12": {"lookback": 12},
    "lookback=36": {"lookback": 36},
    "epochs=150": {"epochs": 150},
    "epochs=600": {"epochs": 600},
    "dropout=0": {"dropout": 0.0},
    "weight_decay=0": {"weight_decay": 0.0},
    "cell=gru": {"cell": "gru"},
    "strategy=recursive": {"strategy": "recursive"},
    "difference=none": {"difference": "none"},
}


def score_lstm(df, seed: int, **overrides) -> dict[str, float]:
    y = df["passengers"].to_numpy(float)
    model = Forecaster(horizon=36, seed=seed, verbose=False, **overrides)
    model.fit(df.iloc[:108], "passengers", "month")
    pred = model.predict()
    return metrics.score(
        y[108:],
        pred["forecast"].to_numpy(),
        y[:108],
        12,
        pred["q0.1"].to_numpy(),
        pred["q0.9"].to_numpy(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="ensemble seeds per setting (4)")
    args = parser.parse_args()
    df = load_dataset("airline")
    y = df["passengers"].to_numpy(float)
    lines = [
        "# Airline passengers: LSTM forecaster vs baselines",
        "",
        "Trained on 1949-01..1957-12, scored on the 36 months 1958-01..1960-12. Each LSTM",
        "row is the Forecaster (an ensemble of 5 networks) with one setting changed from",
        f"the defaults, run with {args.seeds} different seeds (seed 0, 5, 10, ...: the",
        "ensembles share no network). Regenerate: `python benchmarks/forecast/airline.py`.",
        "",
        "| setting | MAPE % per seed | mean MAPE % | mean 80 % coverage | seconds |",
        "|---|---|---|---|---|",
    ]
    for name, overrides in SETTINGS.items():
        start = time.perf_counter()
        runs = [score_lstm(df, 5 * k, **overrides) for k in range(args.seeds)]
        took = (time.perf_counter() - start) / args.seeds
        mapes = [r["MAPE"] for r in runs]
        lines.append(
            f"| {name} | {', '.join(f'{m:.2f}' for m in mapes)} | {np.mean(mapes):.2f} "
            f"| {np.mean([r['coverage'] for r in runs]):.0f} % | {took:.0f} |"
        )
        print(lines[-1], flush=True)
    lines += [
        "",
        "| baseline | MAPE % | sMAPE % | MASE | RMSE | 80 % coverage |",
        "|---|---|---|---|---|---|",
    ]
    for b in all_baselines(y[:108], 36, 12):
        s = (
            metrics.score(y[108:], np.asarray(b.point), y[:108], 12, b.lower, b.upper)
            if b.lower is not None
            else metrics.score(y[108:], np.asarray(b.point), y[:108], 12)
        )
        cov = f"{s['coverage']:.0f} %" if "coverage" in s else "-"
        lines.append(
            f"| {b.name} | {s['MAPE']:.2f} | {s['sMAPE']:.2f} | {s['MASE']:.2f} "
            f"| {s['RMSE']:.1f} | {cov} |"
        )
    lines += [
        "",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"Python {platform.python_version()}.",
        "",
    ]
    (HERE / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines[-12:]))


if __name__ == "__main__":
    main()
