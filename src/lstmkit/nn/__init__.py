"""The PyTorch face of lstmkit: drop-ins for torch.nn's recurrent modules.

Example:
    >>> import torch
    >>> from lstmkit.nn import LSTM
    >>> out, (h, c) = LSTM(8, 16)(torch.randn(5, 2, 8))
    >>> out.shape
    torch.Size([5, 2, 16])
"""

from .cells import GRUCell, LSTMCell, RNNCell
from .convert import from_torch, to_torch
from .rnn import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell", "from_torch", "to_torch"]
