"""Embedded data sets: small CSVs of public figures that ship inside the package.

Example:
    >>> df = load_dataset("sunspots")
    >>> int(df["year"].iloc[0]), float(df["sunspots"].iloc[0])
    (1700, 5.0)
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

# name -> (file, time column, how to parse the time column, value column)
DATASETS: dict[str, tuple[str, str, str | None, str]] = {
    "airline": ("airline.csv", "month", "%Y-%m", "passengers"),
    "sunspots": ("sunspots.csv", "year", None, "sunspots"),
}


def load_dataset(name: str) -> pd.DataFrame:
    """Load an embedded data set as a DataFrame with a time column and a value column.

    ``airline``: monthly passengers (thousands), 1949-01 to 1960-12, ``month`` as datetime.
    ``sunspots``: yearly mean sunspot number, 1700 to 2008, ``year`` as int.
    """
    if name not in DATASETS:
        raise ValueError(f"name: expected one of {', '.join(map(repr, DATASETS))}, got {name!r}")
    file, time_col, time_format, _ = DATASETS[name]
    with resources.files(__package__).joinpath(file).open("r") as fh:
        df = pd.read_csv(fh)
    if time_format:
        df[time_col] = pd.to_datetime(df[time_col], format=time_format)
    return df
