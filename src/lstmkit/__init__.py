"""lstmkit: Long Short-Term Memory networks (and GRU / Elman RNN) on PyTorch.

Example:
    >>> import torch, lstmkit
    >>> lstm = lstmkit.nn.LSTM(8, 16, batch_first=True)
    >>> out, (h, c) = lstm(torch.randn(2, 5, 8), lengths=[5, 3])
    >>> out.shape
    torch.Size([2, 5, 16])
"""

from . import layers, models, nn, ops

__version__ = "0.1.0"

__all__ = ["__version__", "layers", "models", "nn", "ops"]
