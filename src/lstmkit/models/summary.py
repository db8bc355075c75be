"""``model.summary()``: a table of layers, output shapes and parameter counts, as Keras prints.

Output shapes show ``None`` for the batch and for any size not fixed by ``input_shape``;
``?`` for a layer not built yet or a plain torch module whose shape cannot be inferred.

Example:
    >>> from lstmkit.models import Sequential
    >>> from lstmkit.layers import LSTM, Dense
    >>> Sequential([LSTM(4, input_shape=(10, 3)), Dense(2)]).summary()
    Model: "sequential"
    ───────────────────────────────────────────────────────────
    Layer (type)                   Output Shape         Param #
    ═══════════════════════════════════════════════════════════
    lstm (LSTM)                    (None, 4)                144
    dense (Dense)                  (None, 2)                 10
    ═══════════════════════════════════════════════════════════
    Total params: 154
    Trainable params: 154
    Non-trainable params: 0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch import nn

from ..layers.base import Layer

WIDTHS = (31, 16, 12)


def count(module: nn.Module, trainable: bool | None = None) -> int:
    """Parameters of ``module`` (all, or only the (non-)trainable ones)."""
    return sum(
        p.numel() for p in module.parameters() if trainable is None or p.requires_grad == trainable
    )


def output_shape(module: nn.Module) -> str:
    if isinstance(module, Layer):
        if not module.built or module.build_input_shape is None:
            return "?"
        return str(module.compute_output_shape(module.build_input_shape)).replace(",)", ")")
    return "?"


def rows(named: Iterable[tuple[str, nn.Module]]) -> list[tuple[str, str, str]]:
    return [(f"{name} ({type(m).__name__})", output_shape(m), f"{count(m):,}") for name, m in named]


def render(title: str, named: Iterable[tuple[str, nn.Module]], model: nn.Module) -> list[str]:
    """The lines of the table."""
    table = rows(named)
    # Columns as wide as their longest entry, at least the defaults.
    a, b, c = (max([w, *(len(r[i]) + 1 for r in table)]) for i, w in enumerate(WIDTHS))
    width = a + b + c
    lines = [f'Model: "{title}"', "─" * width]
    lines.append(f"{'Layer (type)':<{a}}{'Output Shape':<{b}}{'Param #':>{c}}")
    lines.append("═" * width)
    for layer, shape, params in table:
        lines.append(f"{layer:<{a}}{shape:<{b}}{params:>{c}}")
    lines.append("═" * width)
    lines.append(f"Total params: {count(model):,}")
    lines.append(f"Trainable params: {count(model, True):,}")
    lines.append(f"Non-trainable params: {count(model, False):,}")
    return lines


def summary(
    title: str,
    named: Iterable[tuple[str, nn.Module]],
    model: nn.Module,
    print_fn: Callable[[str], None] | None = None,
) -> None:
    """Print the table, line by line, with ``print_fn`` (default ``print``)."""
    for line in render(title, named, model):
        (print_fn or print)(line)
