"""``Sequential``: a linear stack of layers, each feeding the next, as in Keras.

Padding masks made by ``Embedding(mask_zero=True)`` or ``Masking`` travel with the data
from layer to layer; recurrent layers receive them as lengths, and the mask of the final
output (for models that return sequences) makes the loss and metrics skip padded steps.

Example:
    >>> import torch
    >>> from lstmkit.models import Sequential
    >>> from lstmkit.layers import LSTM, Dense
    >>> model = Sequential()
    >>> model.add(LSTM(16, input_shape=(10, 3)))
    >>> model.add(Dense(2, activation="softmax"))
    >>> [layer.name for layer in model.layers]
    ['lstm', 'dense']
    >>> model(torch.randn(4, 10, 3)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ..layers.base import REGISTRY, Layer, Shape, check_shape, snake_case
from ..layers.wrappers import layer_config, layer_from_config
from .model import Model


class Sequential(Model):
    """A stack of layers; ``Sequential([a, b])`` or ``Sequential()`` then ``add``.

    Layers are Keras-style layers from :mod:`lstmkit.layers`; plain torch modules work too
    (they cannot take padding masks, and a model holding them cannot be saved whole).
    Sizes are inferred: give the first layer ``input_shape=`` to build at once (so that
    :meth:`summary` works before training), or let the first batch build it.
    """

    def __init__(self, layers: Sequence[nn.Module] | None = None, *, name: str | None = None):
        super().__init__(name=name)
        self._shape: Shape | None = None  # output shape of the stack so far, when known
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[nn.Module]:
        return [m for key, m in self._modules.items() if key != "module" and m is not None]

    def add(self, layer: nn.Module) -> None:
        """Append ``layer``; build it now if the shape of its input is known."""
        if not isinstance(layer, nn.Module):
            raise TypeError(
                f"layer: expected a layer (torch.nn.Module), got {type(layer).__name__}"
            )
        if any(layer is m for m in self.layers):
            raise ValueError("layer: this layer is already in the model")
        name = self._name_for(layer)
        if isinstance(layer, Layer):
            layer.name = name
        first = not self.layers
        self.add_module(name, layer)
        if first and isinstance(layer, Layer) and layer.input_shape_arg is not None:
            self._shape = (None, *layer.input_shape_arg)
        self._shape = self._extend(layer, self._shape)

    def _name_for(self, layer: nn.Module) -> str:
        taken = set(self._modules)
        given = getattr(layer, "name", None) if isinstance(layer, Layer) else None
        if given is not None:
            if given in taken:
                raise ValueError(f"layer: the name {given!r} is already used in this model")
            return given
        base = snake_case(type(layer).__name__)
        name, k = base, 1
        while name in taken or name == "module":
            name, k = f"{base}_{k}", k + 1
        return name

    def _extend(self, layer: nn.Module, shape: Shape | None) -> Shape | None:
        """Build ``layer`` for inputs of ``shape``; the shape of its output, if known."""
        if shape is None or not isinstance(layer, Layer):
            return None
        layer.build(shape)
        layer.to(self._device)
        return layer.compute_output_shape(shape)

    def pop(self) -> nn.Module:
        """Remove and return the last layer."""
        if not self.layers:
            raise IndexError("pop: the model has no layers")
        name = list(self._modules)[-1]
        layer = self._modules.pop(name)
        assert layer is not None
        self._shape = None
        return layer

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Build every layer for inputs of ``input_shape`` (batch dimension included)."""
        shape = check_shape("input_shape", input_shape, batch=True)
        for layer in self.layers:
            shape = self._extend(layer, shape)
        self._shape = shape

    def build_from_batch(self, x: Tensor) -> None:
        if all(isinstance(m, Layer) for m in self.layers):
            self.build((None, *x.shape[1:]))
        if not self.built:
            super().build_from_batch(x)

    def forward(self, x: Tensor) -> Tensor:
        if not self.layers:
            raise ValueError("Sequential: the model has no layers; add some first")
        mask = None
        for name, layer in zip(list(self._modules), self.layers, strict=True):
            if isinstance(layer, Layer):
                out = layer(x, mask=mask)
                mask = layer.compute_mask(x, mask)
            else:
                if mask is not None:
                    raise ValueError(
                        f"layer {name!r} ({type(layer).__name__}): a plain torch module cannot "
                        "take the padding mask of the layers before it; wrap it in a Layer or "
                        "place it after the recurrent layer that consumes the mask"
                    )
                out = layer(x)
            if not isinstance(out, Tensor):
                raise ValueError(
                    f"layer {name!r}: Sequential passes one tensor from layer to layer, but it "
                    f"returned a {type(out).__name__} (return_state=True or merge_mode=None?)"
                )
            x = out
        self.output_mask = mask
        return x

    def summary(self, print_fn: Any = None) -> None:
        from . import summary

        summary.summary(self.name, zip(self._modules, self.layers, strict=True), self, print_fn)

    # -- configuration --------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        for layer in self.layers:
            check_storable(layer)
        first = self.layers[0] if self.layers else None
        shape = getattr(first, "build_input_shape", None)
        return {
            "name": self.name,
            "layers": [layer_config(layer) for layer in self.layers],
            "build_input_shape": list(shape) if shape is not None else None,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom: dict | None = None) -> Sequential:
        layers = [layer_from_config(spec, custom) for spec in config.get("layers", [])]
        model = cls(layers, name=config.get("name"))
        if config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model


def check_storable(layer: nn.Module) -> None:
    """Raise a clear error for a layer whose configuration a model file cannot hold."""
    if not isinstance(layer, Layer):
        raise ValueError(
            f"layer {type(layer).__name__}: a plain torch module cannot be stored in a model "
            "file without pickle; use save_weights(), or write it as a Layer with get_config()"
        )
    for m in layer.modules():
        if not isinstance(m, Layer):
            continue
        cls = type(m)
        if REGISTRY.get(cls.__name__) is not cls and cls.get_config is Layer.get_config:
            raise ValueError(
                f"layer {cls.__name__}: a custom layer must define get_config() to be saved "
                "(and be passed to load_model(..., custom_objects=...) to be loaded)"
            )
        for key, value in m.get_config().items():
            if isinstance(value, str) and value.startswith("<custom"):
                raise ValueError(
                    f"layer {m.name or cls.__name__}: {key}={value[1:-1]} is a custom function, "
                    "which cannot be stored in a model file; use a named one, or save_weights()"
                )
            if isinstance(value, dict) and str(value.get("class", "")).startswith("<torch"):
                raise ValueError(
                    f"layer {m.name or cls.__name__}: it wraps a plain torch module, which "
                    "cannot be stored in a model file; use save_weights()"
                )
