"""The Keras face of lstmkit: models that compile, fit, evaluate, predict, save and load.

Example:
    >>> import numpy as np
    >>> from lstmkit.models import Sequential
    >>> from lstmkit.layers import LSTM, Dense
    >>> model = Sequential([LSTM(8, input_shape=(5, 2)), Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse", device="cpu")
    >>> history = model.fit(np.random.rand(16, 5, 2), np.random.rand(16, 1), epochs=1, verbose=0)
    >>> model.predict(np.random.rand(3, 5, 2)).shape
    (3, 1)
"""

from . import callbacks, losses, metrics, optimizers
from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from .checkpoints import BackupAndRestore, ModelCheckpoint
from .model import Model
from .saving import load_model
from .sequential import Sequential

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "Model",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "Sequential",
    "TerminateOnNaN",
    "callbacks",
    "load_model",
    "losses",
    "metrics",
    "optimizers",
]
