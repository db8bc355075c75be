"""Data for recurrent models: embedded data sets, scaling, differencing and windows.

Example:
    >>> from lstmkit.data import load_dataset
    >>> df = load_dataset("airline")
    >>> list(df.columns), len(df)
    (['month', 'passengers'], 144)
"""

from .datasets import DATASETS, load_dataset
from .scaling import Scaler
from .windows import difference, make_windows, undifference

__all__ = ["DATASETS", "Scaler", "difference", "load_dataset", "make_windows", "undifference"]
