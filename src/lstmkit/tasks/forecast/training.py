"""Training one forecasting network with the pinball loss.

Example:
    >>> import torch
    >>> from lstmkit.progress import Progress
    >>> from lstmkit.tasks.forecast.network import QuantileNet
    >>> net = QuantileNet("lstm", 1, 8, 1, 0.0, horizon=2, n_quantiles=1)
    >>> x, y = torch.randn(16, 6, 1), torch.randn(16, 2)
    >>> params = {"learning_rate": 1e-2, "weight_decay": 0.0, "batch_size": None, "epochs": 5}
    >>> with Progress(5, "fit", quiet=True) as bar:
    ...     loss = train_network(net, x, y, None, torch.tensor([0.5]), params, bar)
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...progress import Progress
from .network import QuantileNet, pinball_loss


def train_network(
    net: QuantileNet,
    inputs: Tensor,
    targets: Tensor,
    future: Tensor | None,
    quantiles: Tensor,
    params: dict,
    bar: Progress,
) -> float:
    """Adam on the pinball loss for ``params["epochs"]`` passes; returns the last loss.

    Args:
        inputs: (W, L, F) windows. targets: (W, steps). future: (W, steps, Kf) or None.
        params: learning_rate, weight_decay, batch_size (None: all windows at once), epochs.
        bar: advanced by one per epoch, showing the loss.
    """
    opt = torch.optim.Adam(
        net.parameters(), lr=params["learning_rate"], weight_decay=params["weight_decay"]
    )
    count = len(inputs)
    batch = params["batch_size"] or count
    net.train()
    for _ in range(params["epochs"]):
        order = torch.randperm(count) if batch < count else torch.arange(count)
        for start in range(0, count, batch):
            idx = order[start : start + batch]
            pred = net(inputs[idx], None if future is None else future[idx])
            loss = pinball_loss(pred, targets[idx], quantiles)
            opt.zero_grad()
            loss.backward()
            opt.step()
        bar.update(loss=loss.item())
    return loss.item()
