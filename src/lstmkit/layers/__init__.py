"""The Keras face of lstmkit: layers whose sizes are inferred on first use.

Layers are ``torch.nn.Module`` s; put them in a :class:`lstmkit.models.Sequential` to get
``compile`` / ``fit`` / ``evaluate`` / ``predict``, or use them inside any torch model.

Example:
    >>> import torch
    >>> from lstmkit.layers import LSTM, Dense, Embedding
    >>> emb, lstm, head = Embedding(100, 8, mask_zero=True), LSTM(16), Dense(3)
    >>> ids = torch.tensor([[5, 9, 2, 0, 0]])              # right-padded with id 0
    >>> head(lstm(emb(ids), mask=emb.compute_mask(ids, None))).shape
    torch.Size([1, 3])
"""

from .base import Layer, register
from .core import Activation, Dense, Dropout, Flatten, RepeatVector
from .embedding import Embedding
from .masking import Masking
from .recurrent import Recurrent
from .rnns import GRU, LSTM, SimpleRNN
from .wrappers import Bidirectional, TimeDistributed

__all__ = [
    "GRU",
    "LSTM",
    "Activation",
    "Bidirectional",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Layer",
    "Masking",
    "Recurrent",
    "RepeatVector",
    "SimpleRNN",
    "TimeDistributed",
    "register",
]
