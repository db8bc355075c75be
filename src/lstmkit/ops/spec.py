"""What a recurrent stack is: the configuration every implementation reads.

A :class:`RNNSpec` describes a stack of recurrent layers without holding any weights. The
``nn`` modules build one from their constructor arguments; the ops use it to know the cell
type, the sizes and which options are switched on; ``dispatch`` asks each implementation
whether it can serve it.

The variant options (peepholes, coupled gates, layer normalisation, zoneout, recurrent
dropout, weight drop, activations, the Greff et al. ablations) are fields too; their
equations are in :mod:`lstmkit.ops.variants`. Validation happens here, once, so every
implementation can trust a spec.

Example:
    >>> spec = RNNSpec("lstm", input_size=8, hidden_size=16, num_layers=2)
    >>> spec.gate_count, spec.output_size, spec.num_directions
    (4, 16, 1)
    >>> RNNSpec("lstm", 8, 16, peephole=True, zoneout=0.1).variant_options()
    {'peephole': True, 'zoneout': (0.1, 0.1)}
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

MODES = ("lstm", "gru", "rnn")
NONLINEARITIES = ("tanh", "relu")
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "relu")
# The eight variants of Greff et al. (2017), "LSTM: A Search Space Odyssey".
ABLATIONS = ("NIG", "NFG", "NOG", "NIAF", "NOAF", "NP", "CIFG", "FGR")
# Variant option -> the cell types that have it (Elman RNN has none).
VARIANT_MODES = {
    "peephole": ("lstm",),
    "coupled_gates": ("lstm",),
    "layer_norm": ("lstm", "gru"),
    "zoneout": ("lstm", "gru"),
    "recurrent_dropout": ("lstm", "gru"),
    "weight_drop": ("lstm", "gru"),
    "activation": ("lstm", "gru"),
    "recurrent_activation": ("lstm", "gru"),
    "ablation": ("lstm",),
}


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
        peephole: LSTM; diagonal peephole weights from the cell into i, f, o (Gers et al.).
        coupled_gates: LSTM; the input gate is tied to the forget gate, i = 1 - f.
        layer_norm: LSTM and GRU (reset_after=True); layer normalisation (Ba et al. 2016).
        zoneout: LSTM (z_c, z_h) or GRU z_h (Krueger et al. 2017); a single number sets
            both for LSTM; a list is accepted for the pair. Stored as the pair (z_c, z_h),
            z_c = 0 for GRU.
        recurrent_dropout: LSTM and GRU; one dropout mask per sequence on h_{t-1} entering
            the recurrent product (Gal & Ghahramani 2016), in [0, 1).
        weight_drop: LSTM and GRU; DropConnect on W_hh once per forward pass (Merity et al.
            2018, AWD-LSTM), in [0, 1).
        activation: LSTM and GRU; the candidate's and the output's function (Keras's
            ``activation``), one of :data:`ACTIVATIONS`.
        recurrent_activation: LSTM and GRU; the gates' function (Keras's
            ``recurrent_activation``), one of :data:`ACTIVATIONS`.
        ablation: LSTM; one of :data:`ABLATIONS` (Greff et al. 2017) or None.
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
    peephole: bool = False
    coupled_gates: bool = False
    layer_norm: bool = False
    zoneout: tuple[float, float] | float = (0.0, 0.0)
    recurrent_dropout: float = 0.0
    weight_drop: float = 0.0
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    ablation: str | None = None

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
        _check_variants(self)

    def __hash__(self) -> int:
        # Computed once: the dispatch looks a module's spec up on every call, and a frozen
        # dataclass would hash all of its fields each time.
        found = self.__dict__.get("_hash")
        if found is None:
            found = hash(tuple(getattr(self, f.name) for f in fields(self)))
            object.__setattr__(self, "_hash", found)
        return found

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

    @property
    def uses_peepholes(self) -> bool:
        """Peepholes are on: asked for, or implied by an ablation of Greff et al. but NP."""
        return self.peephole or self.ablation not in (None, "NP")

    @property
    def peephole_gates(self) -> str:
        """The gates among ``"ifo"`` that have a peephole weight of their own.

        A gate that is removed (NIG, NFG, NOG) or derived from another (CIFG: f = 1 - i;
        ``coupled_gates``: i = 1 - f) has none.

        >>> RNNSpec("lstm", 2, 3, ablation="CIFG").peephole_gates
        'io'
        """
        if not self.uses_peepholes:
            return ""
        derived = {"NIG": "i", "NFG": "f", "NOG": "o", "CIFG": "f"}.get(self.ablation or "", "")
        if self.coupled_gates:
            derived = "i"
        return "".join(g for g in "ifo" if g not in derived)

    def variant_options(self) -> dict[str, Any]:
        """The variant options that differ from their defaults, as the user would pass them."""
        options = {}
        for name, default in _VARIANT_DEFAULTS.items():  # called on every cell step: no fields()
            if getattr(self, name) != default:
                options[name] = getattr(self, name)
        if "zoneout" in options and self.mode == "gru":
            options["zoneout"] = self.zoneout[1]
        return options

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
        return shapes | self.variant_param_shapes()

    def variant_param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the parameters the variants add to each layer-direction.

        ``weight_ci`` / ``weight_cf`` / ``weight_co`` (H,): peepholes into i, f, o.
        ``weight_gg`` (3H, 3H): FGR's gate-to-gate recurrence, rows the gates (i, f, o) at t,
        columns the gates (i, f, o) at t-1. ``ln_ih_*`` / ``ln_hh_*`` (G*H,): layer-norm
        gain (``_weight``) and bias (``_bias``) of the input and the recurrent projection;
        ``ln_c_*`` (H,): of the LSTM cell before the output activation.

        >>> RNNSpec("lstm", 3, 5, ablation="NIG").variant_param_shapes()
        {'weight_cf': (5,), 'weight_co': (5,)}
        """
        H, rows = self.hidden_size, self.gate_count * self.hidden_size
        shapes = {f"weight_c{g}": (H,) for g in self.peephole_gates}
        if self.ablation == "FGR":
            shapes["weight_gg"] = (3 * H, 3 * H)
        if self.layer_norm:
            for part, size in (("ih", rows), ("hh", rows), ("c", H)):
                if part == "c" and self.mode != "lstm":
                    continue
                shapes[f"ln_{part}_weight"] = (size,)
                shapes[f"ln_{part}_bias"] = (size,)
        return shapes

    def state_sizes(self) -> tuple[int, ...]:
        """Feature size of each state tensor: (P or H, H) for LSTM's (h, c), (H,) otherwise.

        The FGR ablation carries the gate activations (i, f, o) of the last step as a third
        state, (B, 3H), since its gates at t read them.
        """
        if self.mode == "lstm":
            gates = (3 * self.hidden_size,) if self.ablation == "FGR" else ()
            return (self.output_size, self.hidden_size, *gates)
        return (self.hidden_size,)


_VARIANT_DEFAULTS = {f.name: f.default for f in fields(RNNSpec) if f.name in VARIANT_MODES}


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")


def _check_variants(spec: RNNSpec) -> None:
    """Validate the variant fields of ``spec``; normalise zoneout to a (z_c, z_h) pair."""
    for name in ("peephole", "coupled_gates", "layer_norm"):
        if not isinstance(getattr(spec, name), bool):
            raise TypeError(f"{name}: expected a bool, got {getattr(spec, name)!r}")
    for name in ("activation", "recurrent_activation"):
        _check_choice(name, getattr(spec, name), ACTIVATIONS)
    if spec.ablation is not None and spec.ablation not in ABLATIONS:
        raise ValueError(
            f"ablation: expected one of {', '.join(map(repr, ABLATIONS))} (Greff et al. 2017) "
            f"or None, got {spec.ablation!r}"
        )
    for name in ("recurrent_dropout", "weight_drop"):
        p = getattr(spec, name)
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p < 1:
            raise ValueError(f"{name}: expected a number in [0, 1), got {p!r}")
        object.__setattr__(spec, name, float(p))
    object.__setattr__(spec, "zoneout", _zoneout_pair(spec.mode, spec.zoneout))
    for name, value in spec.variant_options().items():
        if spec.mode not in VARIANT_MODES[name]:
            allowed = " and ".join(m.upper() for m in VARIANT_MODES[name])
            raise ValueError(
                f"{name}: an option of {allowed} only, not of {spec.mode.upper()} "
                f"(got {name}={value!r})"
            )
    _check_conflicts(spec)


def _zoneout_pair(mode: str, z: object) -> tuple[float, float]:
    """(z_c, z_h) from one number or a pair; GRU, having no cell, takes one number z_h."""

    def valid(v: object) -> bool:
        return not isinstance(v, bool) and isinstance(v, int | float) and 0 <= v <= 1

    if valid(z):
        return (0.0, float(z)) if mode == "gru" else (float(z), float(z))
    if isinstance(z, tuple | list) and len(z) == 2 and all(map(valid, z)):
        if mode == "gru" and z[0] != 0:
            raise ValueError(
                f"zoneout: GRU has no cell state, expected one number z_h in [0, 1], got {z!r}"
            )
        return (float(z[0]), float(z[1]))
    raise ValueError(
        f"zoneout: expected a number in [0, 1] or a pair (z_c, z_h) of them, got {z!r}"
    )


def _check_conflicts(spec: RNNSpec) -> None:
    """Options that contradict each other."""
    if spec.coupled_gates and spec.ablation is not None:
        raise ValueError(
            f"coupled_gates: cannot be combined with ablation={spec.ablation!r}; "
            "ablation='CIFG' is Greff et al.'s coupled gate (f = 1 - i, peephole LSTM)"
        )
    if spec.peephole and spec.ablation == "NP":
        raise ValueError("peephole: True contradicts ablation='NP' (no peepholes)")
    if spec.layer_norm and spec.mode == "gru" and not spec.reset_after:
        raise ValueError(
            "layer_norm: GRU supports it only with reset_after=True (torch's form), "
            "got reset_after=False"
        )
