"""``Model``: Keras's compile / fit / evaluate / predict / save for any torch.nn.Module.

``Model(module)`` wraps an existing module; subclassing ``Model`` and defining
``forward`` works too. :class:`~lstmkit.models.Sequential` is the Model of a stack of
layers. A Model is itself a ``torch.nn.Module``.

Example:
    >>> import numpy as np, torch
    >>> from lstmkit.models import Model
    >>> model = Model(torch.nn.Linear(3, 1))
    >>> model.compile(optimizer="adam", loss="mse", device="cpu")
    >>> history = model.fit(np.random.rand(16, 3), np.random.rand(16, 1), epochs=2, verbose=0)
    >>> len(history.history["loss"]), model.predict(np.zeros((4, 3))).shape
    (2, (4, 1))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..layers.base import Layer, snake_case
from . import evaluation, preparation, saving, summary, training
from . import steps as batch_steps
from .callbacks import History
from .compiling import CompileConfig
from .data import adapt, as_tensor
from .distributed import current
from .optimizers import make


class Model(nn.Module):
    """Keras's training API on a torch module.

    Args:
        module: the network; its forward takes the input batch and returns the prediction.
        name: shown by :meth:`summary`.
    """

    def __init__(self, module: nn.Module | None = None, *, name: str | None = None) -> None:
        super().__init__()
        if module is not None and not isinstance(module, nn.Module):
            raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
        self.module = module
        self.name = name or snake_case(type(self).__name__)
        self.compiled: CompileConfig | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.stop_training = False
        self.output_mask: Tensor | None = None  # padding mask of the last output, if any
        self.history: History | None = None
        self.fit_state: training.FitState | None = None
        self._device = torch.device("cpu")

    def forward(self, x: Any) -> Any:
        if self.module is None:
            raise NotImplementedError("Model: pass a module to Model(...) or define forward")
        self.output_mask = None
        return self.module(x)

    # -- building -------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        """Every Keras-style layer inside has its parameters."""
        return all(m.built for m in self.modules() if isinstance(m, Layer))

    @property
    def device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else self._device

    def build(self, input_shape: Sequence[int | None], dtype: torch.dtype | None = None) -> None:
        """Build by running a batch of zeros of ``input_shape`` (None sizes taken as 1).

        Args:
            dtype: of the zeros; ``torch.long`` for token ids (default: float).
        """
        shape = tuple(1 if d is None else d for d in input_shape)
        self.build_from_batch(torch.zeros(shape, dtype=dtype, device=self.device))

    def build_from_batch(self, x: Tensor) -> None:
        """Build lazily sized layers by running one sample through the model."""
        if self.built:
            return
        was_training = self.training
        with torch.no_grad():
            self.eval()(x[:1])
        self.train(was_training)
        self.reset_states()

    def ensure_optimizer(self) -> torch.optim.Optimizer:
        """The optimizer, created from the compile settings on first need."""
        if self.optimizer is None:
            if self.compiled is None:
                raise RuntimeError("model: call compile(optimizer, loss) first")
            self.optimizer = make(self.compiled.optimizer, self.parameters())
        return self.optimizer

    # -- compile / fit / evaluate / predict -----------------------------------------------
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Sequence[str | Callable] | None = None,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        device: str | torch.device = "auto",
        precision: str = "32",
    ) -> None:
        """Set what the model trains with.

        Args:
            optimizer: a name ("adam", "sgd", ...; see :mod:`lstmkit.models.optimizers`),
                a ``torch.optim.Optimizer`` on this model's parameters (the model must be
                built), or a callable ``params -> Optimizer``.
            loss: a name (see :mod:`lstmkit.models.losses`), a Loss, a callable
                ``fn(y_true, y_pred)`` or a torch loss module ``module(y_pred, y_true)``.
            metrics: names ("accuracy", "mae", "mse", "rmse", "perplexity", ...) or callables.
            clipnorm / clipvalue / global_clipnorm: gradient clipping, as in Keras.
            device: "auto" (CUDA when present), "cpu", "cuda[:N]" or a torch.device.
            precision: "32" or "bf16-mixed" (bfloat16 autocast for the forward pass).
        """
        config = CompileConfig.create(
            optimizer, loss, metrics, clipnorm, clipvalue, global_clipnorm, device, precision
        )
        self.optimizer = None
        if isinstance(optimizer, torch.optim.Optimizer):
            self._check_optimizer(optimizer)
            self.optimizer = optimizer
        self.compiled = config
        self._device = config.device
        self.to(config.device)

    def _check_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        if not self.built:
            raise ValueError(
                "optimizer: a torch.optim.Optimizer needs the model's parameters, but the "
                "model is not built; give the first layer input_shape=, call build(), or "
                "pass the optimizer by name or as a callable"
            )
        own = {id(p) for p in self.parameters()}
        if not all(id(p) in own for g in optimizer.param_groups for p in g["params"]):
            raise ValueError("optimizer: it holds parameters that are not this model's")

    def fit(self, x: Any = None, y: Any = None, **kwargs: Any) -> History:
        """Train; Keras's arguments, plus ``tbptt=k`` for truncated backpropagation.

        Args:
            x, y: numpy arrays, torch tensors, pandas objects; or x a DataLoader or generator
                yielding ``(x, y)`` / ``(x, y, sample_weight)`` batches (y then None).
                Under torchrun, arrays are split between the processes for you; a
                DataLoader needs a ``DistributedSampler`` (its ``set_epoch`` is called).
            batch_size: samples per update (default 32); under torchrun the global batch.
            epochs, initial_epoch: train epochs initial_epoch .. epochs - 1.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch, "auto" = 1.
            callbacks: list of :class:`~lstmkit.models.callbacks.Callback`.
            validation_split: the last fraction of x, y for validation.
            validation_data: ``(x_val, y_val)`` or a DataLoader / generator.
            shuffle: reshuffle the samples every epoch (array data).
            class_weight: ``{class id: weight}`` scaling each sample's loss.
            sample_weight: (N,) weights per sample.
            steps_per_epoch: batches per epoch from a generator.
            tbptt: cut sequences into chunks of this many steps, one update per chunk, the
                recurrent state carried (detached) from chunk to chunk.

        Returns:
            History: ``history.history["loss"]`` etc., one value per epoch.
        """
        return training.fit(self, x, y, **kwargs)

    def evaluate(self, x: Any = None, y: Any = None, **kwargs: Any) -> Any:
        """Loss (and metrics) on data: a float, a list ``[loss, *metrics]``, or a dict with
        ``return_dict=True``. Accepts ``batch_size``, ``sample_weight``, ``steps``, ``verbose``."""
        return evaluation.evaluate(self, x, y, **kwargs)

    def predict(self, x: Any, **kwargs: Any) -> np.ndarray | list[np.ndarray]:
        """Predictions as a numpy array, in batches (``batch_size``, default 32)."""
        return evaluation.predict(self, x, **kwargs)

    def train_on_batch(
        self, x: Any, y: Any, sample_weight: Any = None, class_weight: dict | None = None
    ) -> float:
        """One update on one batch; returns its loss."""
        data = adapt(x, y, sample_weight)
        preparation.setup(self, data)
        table = preparation.check_class_weight(class_weight)
        loss = batch_steps.train_batch(self, self, (data.x, data.y, data.w), [], table)
        return float(loss)

    def test_on_batch(self, x: Any, y: Any, sample_weight: Any = None) -> float:
        """The loss of one batch, without updating."""
        logs = self.evaluate(
            x,
            y,
            batch_size=len(as_tensor(x, "x")),
            verbose=0,
            sample_weight=sample_weight,
            return_dict=True,
        )
        return logs["loss"]

    def predict_on_batch(self, x: Any) -> np.ndarray | list[np.ndarray]:
        return self.predict(x, batch_size=max(1, len(as_tensor(x, "x"))))

    # -- state ----------------------------------------------------------------------------
    def reset_states(self) -> None:
        """Forget the carried state of every stateful recurrent layer."""
        for m in self.modules():
            if m is not self and hasattr(m, "reset_states"):
                m.reset_states()

    def get_weights(self) -> list[np.ndarray]:
        """Every parameter and buffer as numpy arrays, in ``state_dict`` order."""
        return [t.detach().cpu().numpy().copy() for t in self.state_dict().values()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Load arrays in :meth:`get_weights`' order."""
        keys = list(self.state_dict())
        if len(weights) != len(keys):
            raise ValueError(f"weights: expected {len(keys)} arrays, got {len(weights)}")
        state = {
            k: as_tensor(w, f"weights[{i}]")
            for i, (k, w) in enumerate(zip(keys, weights, strict=True))
        }
        saving.load_state(self, state, "weights")

    def count_params(self) -> int:
        return summary.count(self)

    def summary(self, print_fn: Callable[[str], None] | None = None) -> None:
        """Print layers, output shapes and parameter counts."""
        children = list(self.module.named_children()) if self.module is not None else []
        summary.summary(self.name, children or list(self.named_children()), self, print_fn)

    # -- saving ---------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        raise ValueError(
            f"model: the architecture of a {type(self.module or self).__name__} cannot be "
            "stored without pickle; use save_weights() / load_weights() and rebuild the "
            "module in code, or build the model from lstmkit.layers in a Sequential"
        )

    def save(self, path: str | os.PathLike, include_optimizer: bool = True) -> None:
        """Write architecture, weights, compile settings and optimizer state to one file."""
        if not self.built:
            raise ValueError("model: not built yet; train it, call build(), or give input_shape=")
        if include_optimizer and self.compiled is not None:
            self.ensure_optimizer()
        saving.save_model(self, path, include_optimizer)

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write the weights alone, as one safetensors file."""
        saving.save_weights(self, path)

    def load_weights(self, path: str | os.PathLike) -> None:
        """Read weights written by :meth:`save_weights`."""
        saving.load_weights(self, path)

    @property
    def is_main_process(self) -> bool:
        """True in a single process and on rank 0 of a torchrun job."""
        return current().is_main
