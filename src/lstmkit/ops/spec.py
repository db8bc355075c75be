"""What a recurrent stack is: the configuration every implementation reads.

A :class:`RNNSpec` describes a stack of recurrent layers without holding any weights. The
``nn`` modules build one from their constructor arguments; the ops use it to know the cell
type, the sizes and which options are switched on; ``dispatch`` asks each implementation
whether it can serve it.

Example:
    >>> spec = RNNSpec("lstm", input_size=8, hidden_size=16, num_layers=2)
    >>> spec.gate_count, spec.output_size, spec.num_directions
    (4, 16, 1)
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("lstm", "gru", "rnn")
NONLINEARITIES = ("tanh", "relu")
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


@dataclass(frozen=True)
class RNNSpec:
    """Configuration of a recurrent stack.

    Args:
        mode: ``"lstm"``, ``"gru"`` or ``"rnn"`` (Elman).
        input_size: I, features of the input at each step.
        hidden_size: H, units per layer and direction.
        num_layers: L, stacked layers.
        bias: whether the layers have ``b_ih`` and ``b_hh``.
        bidirectional: D = 2 when true, else 1.
        proj_size: P, LSTM only; when > 0 the hidden state is projected to P features.
        dropout: probability of dropout on the outputs of every layer but the last.
        nonlinearity: Elman RNN only, ``"tanh"`` or ``"relu"``.
        reset_after: GRU only; True is torch's form (reset applied after the recurrent
            matmul), False the original Cho et al. (2014) form (reset applied to h before it).
    """

    mode: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    bidirectional: bool = False
    proj_size: int = 0
    dropout: float = 0.0
    nonlinearity: str = "tanh"
    reset_after: bool = True

    def __post_init__(self) -> None:
        _check_choice("mode", self.mode, MODES)
        _check_choice("nonlinearity", self.nonlinearity, NONLINEARITIES)
        for name in ("input_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        for name in ("bias", "bidirectional", "reset_after"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}: expected a bool, got {getattr(self, name)!r}")
        p = self.proj_size
        if isinstance(p, bool) or not isinstance(p, int) or p < 0:
            raise ValueError(f"proj_size: expected an integer >= 0, got {p!r}")
        if p and self.mode != "lstm":
            raise ValueError(f"proj_size: only LSTM supports a projection, got {p} for {self.mode}")
        if p >= self.hidden_size and p:
            raise ValueError(f"proj_size: expected < hidden_size ({self.hidden_size}), got {p}")
        d = self.dropout
        if isinstance(d, bool) or not isinstance(d, int | float) or not 0 <= d <= 1:
            raise ValueError(f"dropout: expected a number in [0, 1], got {d!r}")

    @property
    def gate_count(self) -> int:
        """Gate blocks in ``weight_ih``: 4 for LSTM (i, f, g, o), 3 for GRU (r, z, n), 1 for RNN."""
        return GATES[self.mode]

    @property
    def num_directions(self) -> int:
        """D: 2 for a bidirectional stack, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Features of h per direction: P when projecting, else H."""
        return self.proj_size or self.hidden_size

    def layer_input_size(self, layer: int) -> int:
        """Input features of ``layer``: I for the first, D * output_size for the others."""
        return self.input_size if layer == 0 else self.num_directions * self.output_size

    def param_shapes(self, layer: int) -> dict[str, tuple[int, ...]]:
        """Shapes of one layer-direction's parameters, in torch's order and naming stem.

        >>> RNNSpec("lstm", 3, 5, proj_size=2).param_shapes(0)
        {'weight_ih': (20, 3), 'weight_hh': (20, 2), 'bias_ih': (20,), 'bias_hh': (20,), \
'weight_hr': (2, 5)}
        """
        rows = self.gate_count * self.hidden_size
        shapes = {
            "weight_ih": (rows, self.layer_input_size(layer)),
            "weight_hh": (rows, self.output_size),
        }
        if self.bias:
            shapes["bias_ih"] = (rows,)
            shapes["bias_hh"] = (rows,)
        if self.proj_size:
            shapes["weight_hr"] = (self.proj_size, self.hidden_size)
        return shapes

    def state_sizes(self) -> tuple[int, ...]:
        """Feature size of each state tensor: (P or H, H) for LSTM's (h, c), (H,) otherwise."""
        if self.mode == "lstm":
            return (self.output_size, self.hidden_size)
        return (self.hidden_size,)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
