"""``compile``: what a model trains with, checked at once and storable in a model file.

Example:
    >>> config = CompileConfig.create("adam", "mse", ["mae"])
    >>> type(config.loss).__name__, [m.name for m in config.make_metrics()]
    ('MeanSquaredError', ['mae'])
    >>> config.to_json()["loss"]
    'mse'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import losses, metrics, optimizers
from .devices import check_precision, resolve_device


@dataclass
class CompileConfig:
    """The checked arguments of ``compile``."""

    optimizer: optimizers.OptimizerSpec
    loss: Any
    loss_spec: Any  # what the caller passed: a name, a Loss, a callable
    metric_specs: list[Any] = field(default_factory=list)
    clipnorm: float | None = None
    clipvalue: float | None = None
    global_clipnorm: float | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: str = "32"

    @classmethod
    def create(
        cls,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Sequence[str | Callable] | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        device: str | torch.device = "cpu",
        precision: str = "32",
    ) -> CompileConfig:
        if loss is None:
            raise ValueError(
                "loss: expected a loss name, a Loss, a callable or a torch loss, got None"
            )
        if isinstance(metrics, str) or (metrics is not None and not isinstance(metrics, Sequence)):
            raise TypeError(f"metrics: expected a list of names or callables, got {metrics!r}")
        config = cls(
            optimizer=optimizers.check(optimizer),
            loss=losses.get(loss),
            loss_spec=loss,
            metric_specs=list(metrics or []),
            clipnorm=optimizers.check_clip("clipnorm", clipnorm),
            clipvalue=optimizers.check_clip("clipvalue", clipvalue),
            global_clipnorm=optimizers.check_clip("global_clipnorm", global_clipnorm),
            device=resolve_device(device),
            precision=check_precision(precision),
        )
        config.make_metrics()  # unknown names fail now
        return config

    def make_metrics(self) -> list[metrics.Metric]:
        """Fresh metric accumulators."""
        return [metrics.get(m, self.loss) for m in self.metric_specs]

    def clip(self, params: list[nn.Parameter]) -> None:
        optimizers.clip_gradients(params, self.clipnorm, self.clipvalue, self.global_clipnorm)

    # -- storing in a model file ----------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON description; custom callables cannot be stored and raise ``ValueError``."""
        return {
            "loss": _loss_json(self.loss_spec),
            "metrics": [_metric_json(m) for m in self.metric_specs],
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "precision": self.precision,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], optimizer: Any, device: Any) -> CompileConfig:
        loss = data.get("loss")
        if isinstance(loss, dict):
            name = loss.get("class")
            if name not in losses.CLASSES:
                raise ValueError(f"compile: unknown loss class {name!r} in the model file")
            loss = losses.CLASSES[name](**loss.get("config", {}))
        return cls.create(
            optimizer,
            loss,
            data.get("metrics"),
            data.get("clipnorm"),
            data.get("clipvalue"),
            data.get("global_clipnorm"),
            device,
            data.get("precision", "32"),
        )


def _loss_json(loss: Any) -> Any:
    if isinstance(loss, str):
        return loss
    if type(loss).__name__ in losses.CLASSES and type(loss) is losses.CLASSES[type(loss).__name__]:
        return {"class": type(loss).__name__, "config": loss.get_config()}
    raise ValueError(
        f"loss: a custom loss ({getattr(loss, '__name__', type(loss).__name__)}) cannot be "
        "stored in a model file without pickle; save with include_optimizer=False and "
        "compile again after load_model"
    )


def _metric_json(metric: Any) -> str:
    if isinstance(metric, str):
        return metric
    raise ValueError(
        f"metrics: a custom metric ({getattr(metric, '__name__', type(metric).__name__)}) "
        "cannot be stored in a model file; save with include_optimizer=False and compile "
        "again after load_model"
    )
