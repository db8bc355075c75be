"""The forecasting network: a recurrent encoder and a quantile head.

The encoder (LSTM or GRU from :mod:`lstmkit.nn`) reads the last ``lookback`` steps of the
(transformed) series and any covariates; its final hidden state, with the future covariates
of the whole horizon, goes through dropout and one linear layer that emits every
(step, quantile) pair at once: the direct multi-step strategy.

Example:
    >>> import torch
    >>> net = QuantileNet("lstm", n_inputs=1, hidden_size=8, num_layers=1, dropout=0.0,
    ...                   horizon=3, n_quantiles=2)
    >>> net(torch.randn(5, 12, 1)).shape  # (B, horizon, Q)
    torch.Size([5, 3, 2])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...nn import GRU, LSTM

CELLS = {"lstm": LSTM, "gru": GRU}


class QuantileNet(nn.Module):
    """Recurrent encoder + linear quantile head.

    Args:
        cell: ``"lstm"`` or ``"gru"``.
        n_inputs: features per input step (the series plus covariates).
        horizon: steps predicted at once. n_quantiles: outputs per step.
        n_future: future covariates per horizon step fed to the head (0 for none).
    """

    def __init__(
        self,
        cell: str,
        n_inputs: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        horizon: int,
        n_quantiles: int,
        n_future: int = 0,
    ) -> None:
        super().__init__()
        self.horizon, self.n_quantiles = horizon, n_quantiles
        self.encoder = CELLS[cell](
            n_inputs,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size + horizon * n_future, horizon * n_quantiles)

    def forward(self, x: Tensor, future: Tensor | None = None) -> Tensor:
        """x (B, L, F), future (B, horizon, Kf) or None -> quantiles (B, horizon, Q)."""
        _, state = self.encoder(x)
        h = (state[0] if isinstance(state, tuple) else state)[-1]  # (B, H) last layer
        if future is not None:
            h = torch.cat([h, future.flatten(1)], dim=1)  # (B, H + horizon*Kf)
        return self.head(self.dropout(h)).view(-1, self.horizon, self.n_quantiles)


def pinball_loss(pred: Tensor, target: Tensor, quantiles: Tensor) -> Tensor:
    """Mean pinball (quantile) loss. pred (B, H, Q), target (B, H), quantiles (Q,).

    For quantile q and error e = y - ŷ the loss is max(q e, (q - 1) e): minimised when ŷ is
    the q-quantile of y (Koenker & Bassett 1978).
    """
    err = target.unsqueeze(-1) - pred  # (B, H, Q)
    return torch.maximum(quantiles * err, (quantiles - 1) * err).mean()
