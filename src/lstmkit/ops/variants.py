"""Variant cells: the LSTM and GRU with every option of :class:`~lstmkit.ops.spec.RNNSpec`.

One step function per cell type takes the spec and applies whatever it switches on; with
every option off it computes exactly the plain cells of :mod:`lstmkit.ops.reference`.
Notation: σ is ``recurrent_activation`` (default sigmoid), φ is ``activation`` (default
tanh), ⊙ the elementwise product, LN(v; γ, β) = γ ⊙ (v - mean(v)) / sqrt(var(v) + 1e-5) + β
over the feature dimension (biased variance), h̃ = m ⊙ h_{t-1} with m the recurrent dropout
mask (1 when off), W_hh already DropConnect-ed when weight drop is on.

LSTM, gate order i, f, g, o, pre-activations (one 4H vector, split per gate)::

    a = W_ih x_t + b_ih + W_hh h̃ + b_hh                        (plain)
    a = LN(W_ih x_t; γ_ih, β_ih) + b_ih + LN(W_hh h̃; γ_hh, β_hh) + b_hh      (layer_norm)
    a_k += Σ_j W_gg[k, j] q_j,  k, j in (i, f, o)               (FGR; q = gates at t-1)
    i = σ(a_i + p_i ⊙ c_{t-1})     f = σ(a_f + p_f ⊙ c_{t-1})     (p_*: peepholes, else 0)
        NIG: i = 1     NFG: f = 1     CIFG: f = 1 - i     coupled_gates: i = 1 - f
    g = φ(a_g)                                                  (NIAF: g = a_g)
    c' = f ⊙ c_{t-1} + i ⊙ g
    o = σ(a_o + p_o ⊙ c')                                       (NOG: o = 1)
    h' = o ⊙ φ(c')                                              (NOAF: h' = o ⊙ c')
    h' = o ⊙ φ(LN(c'; γ_c, β_c))                                (layer_norm)
    h' = W_hr h'                                                (proj_size > 0)
    c_t = d_c ⊙ c_{t-1} + (1 - d_c) ⊙ c'                        (zoneout; else c_t = c')
    h_t = d_h ⊙ h_{t-1} + (1 - d_h) ⊙ h'                        (zoneout; else h_t = h')
    q_t = [i; f; o]                                             (FGR: the third state)

GRU, gate order r, z, n (reset_after=True; layer_norm adds LN as for the LSTM)::

    (x_r, x_z, x_n) = W_ih x_t + b_ih      (h_r, h_z, h_n) = W_hh h̃ + b_hh
    r = σ(x_r + h_r)     z = σ(x_z + h_z)     n = φ(x_n + r ⊙ h_n)
    h' = (1 - z) ⊙ n + z ⊙ h_{t-1}           h_t = d_h ⊙ h_{t-1} + (1 - d_h) ⊙ h'

(reset_after=False: n = φ(x_n + W_hn (r ⊙ h̃) + b_hn), r and z as above.)

The noise: in training d_c, d_h are fresh Bernoulli(z_c), Bernoulli(z_h) masks at every step
and unit (Krueger et al. 2017), m is one Bernoulli(1 - p) / (1 - p) mask per sequence and
layer-direction (Gal & Ghahramani 2016), W_hh is replaced by dropout(W_hh, p) once per
forward pass (Merity et al. 2018). In evaluation m = 1, W_hh is itself and d_c = z_c,
d_h = z_h (the expectation). Every draw uses torch's global generator, per layer-direction
in this order: weight drop (all layer-directions, in dispatch), then for each
layer-direction m, d_c (T, B, H), d_h (T, B, P or H). d_c, d_h and weight drop's mask are
:class:`HashedKeep` masks: the generator draws their seeds, a hash of each element's index
makes the mask (the fused kernels form d_c and d_h in place).

Example:
    >>> import torch
    >>> from lstmkit.ops.spec import RNNSpec
    >>> from lstmkit.ops.weights import LayerWeights
    >>> spec = RNNSpec("lstm", 3, 4, peephole=True, bias=False)
    >>> w = LayerWeights(torch.randn(16, 3), torch.randn(16, 4),
    ...                  w_ci=torch.zeros(4), w_cf=torch.zeros(4), w_co=torch.zeros(4))
    >>> gi = input_projection(spec, torch.randn(2, 3), w)
    >>> h, (h, c) = lstm_step(spec, gi, (torch.zeros(2, 4), torch.zeros(2, 4)), w)
    >>> h.shape
    torch.Size([2, 4])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from . import cpu
from .spec import RNNSpec
from .weights import LayerWeights

LN_EPS = 1e-5  # layer norm's epsilon, torch.nn.LayerNorm's default


def hard_sigmoid(v: Tensor) -> Tensor:
    """Keras 3's hard sigmoid, relu6(x + 3) / 6: 0 below -3, 1 above 3, x / 6 + 1/2 between.

    (Keras 2 used 0.2 x + 0.5 on [-2.5, 2.5].) Written out rather than F.hardsigmoid, whose
    float64 gradient uses a float32 1/6.
    """
    return torch.clamp(v / 6 + 0.5, 0.0, 1.0)


# Keras's activations by name; "identity" serves the NIAF and NOAF ablations.
ACTIVATION_FNS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "relu": torch.relu,
    "identity": lambda v: v,
}


_M32 = 0xFFFFFFFF


def _mul32(x: Tensor, c: int) -> Tensor:
    """(x * c) mod 2^32 for x < 2^32 in int64, without overflowing int64."""
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & _M32


def _hash32(x: Tensor) -> Tensor:
    """An integer hash of 32-bit values held in int64 (the one Keep::at in variant_cells.h uses)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


class HashedKeep(NamedTuple):
    """Keep masks (zoneout's: 1 keeps the previous value; weight drop's) from each element's index.

    Element i of the flat (T, B, S) masks is 1 where ``hash(seed + i) >> 8 < thr``, so a
    mask is kept with probability ``thr / 2^24``. The fused kernels form these values in
    place, as they need them, instead of reading (T, B, S) masks (drawing those with torch's
    generator cost as much as the whole forward pass); the seed comes from torch's generator,
    so ``torch.manual_seed`` makes them reproducible.

    Example:
        >>> keep = HashedKeep.draw(0.5, (3, 2, 4), torch.float32)
        >>> keep.tensor().shape
        torch.Size([3, 2, 4])
    """

    code: Tensor  # (2,) int64: the seed and thr
    shape: tuple[int, int, int]
    dtype: torch.dtype

    @staticmethod
    def draw(z: float, shape: tuple[int, int, int], dtype: torch.dtype, device=None) -> HashedKeep:
        seed = torch.randint(0, 2**32, (1,), dtype=torch.int64, device=device)
        thr = seed.new_full((1,), round(z * 2**24))
        return HashedKeep(torch.cat([seed, thr]), tuple(shape), dtype)

    def tensor(self) -> Tensor:
        """The masks, (T, B, S), 0 or 1."""
        count = self.shape[0] * self.shape[1] * self.shape[2]
        return keep_values(self.code, count, self.dtype).view(self.shape)


def keep_values(code: Tensor, count: int, dtype: torch.dtype) -> Tensor:
    """Elements [0, count) of the hashed keep masks of ``code`` = (seed, thr), 0 or 1: with
    lstmkit's C++ operator when it is loaded (on the CPU), else with torch ops."""
    if code.device.type == "cpu" and dtype in (torch.float32, torch.float64) and cpu.loaded():
        return torch.ops.lstmkit.keep_mask(code, count, dtype)
    return hashed_keep_values(code, count, dtype)


def hashed_keep_values(code: Tensor, count: int, dtype: torch.dtype) -> Tensor:
    """:func:`keep_values` with torch ops (any device and dtype)."""
    index = torch.arange(count, dtype=torch.int64, device=code.device)
    bits = _hash32((index + code[0]) & _M32)
    return ((bits >> 8) < code[1]).to(dtype)


class Noise(NamedTuple):
    """The random parts of a sequence (or, after :meth:`at`, of one step).

    Attributes:
        recurrent_mask: (B, P or H) scaled 0/1 mask on h_{t-1} before W_hh, or None.
        keep_c: zoneout of c: (T, B, H) 0/1 masks in training (1 keeps c_{t-1}; a
            :class:`HashedKeep`), the probability z_c in evaluation, or None when off. After
            ``at(t)``: (B, H).
        keep_h: the same for h, (T, B, P or H).
    """

    recurrent_mask: Tensor | None = None
    keep_c: HashedKeep | Tensor | float | None = None
    keep_h: HashedKeep | Tensor | float | None = None

    def at(self, t: int) -> Noise:
        """The noise of step ``t`` (of :meth:`materialised` noise)."""
        return Noise(self.recurrent_mask, _step_of(self.keep_c, t), _step_of(self.keep_h, t))

    def materialised(self) -> Noise:
        """The same noise with hashed zoneout masks as (T, B, S) tensors."""
        return Noise(self.recurrent_mask, _tensor_of(self.keep_c), _tensor_of(self.keep_h))


NO_NOISE = Noise()


def _step_of(keep: Tensor | float | None, t: int) -> Tensor | float | None:
    return keep[t] if isinstance(keep, Tensor) else keep


def _tensor_of(keep: HashedKeep | Tensor | float | None) -> Tensor | float | None:
    return keep.tensor() if isinstance(keep, HashedKeep) else keep


def changes_step(spec: RNNSpec) -> bool:
    """Whether ``spec`` needs the variant step (weight drop and NP do not change it)."""
    options = spec.variant_options()
    options.pop("weight_drop", None)
    if options.get("ablation") == "NP":
        del options["ablation"]
    return bool(options)


# ----------------------------------------------------------------------------- noise


def draw_noise(spec: RNNSpec, steps: int, state: tuple[Tensor, ...], training: bool) -> Noise:
    """The masks of one layer-direction over ``steps`` steps; state gives (B, S) shapes."""
    z_c, z_h = spec.zoneout
    if not training:
        return Noise(None, z_c or None, z_h or None)
    h = state[0]  # (B, P or H)
    mask = None
    if spec.recurrent_dropout:
        keep = 1.0 - spec.recurrent_dropout
        mask = torch.empty_like(h).bernoulli_(keep) / keep  # (B, S): one per sequence
    keep_c = keep_h = None
    if z_c:
        keep_c = HashedKeep.draw(z_c, (steps, *state[1].shape), h.dtype, h.device)  # (T, B, H)
    if z_h:
        keep_h = HashedKeep.draw(z_h, (steps, *h.shape), h.dtype, h.device)  # (T, B, S)
    return Noise(mask, keep_c, keep_h)


def drop_weights(spec: RNNSpec, weights: list[LayerWeights], training: bool) -> list[LayerWeights]:
    """Weight drop: W_hh of every layer-direction through inverted dropout, in training.

    The mask is a hashed keep mask (:class:`HashedKeep`, keep probability 1 - p) scaled by
    1 / (1 - p): drawing it with torch's generator took milliseconds per call.
    """
    if not (training and spec.weight_drop):
        return weights
    keep = 1.0 - spec.weight_drop
    dropped = []
    for w in weights:
        shape = (1, *w.w_hh.shape)  # as one step of (T, B, S) masks
        mask = HashedKeep.draw(keep, shape, w.w_hh.dtype, w.w_hh.device).tensor()
        dropped.append(w._replace(w_hh=w.w_hh * (mask.view_as(w.w_hh) / keep)))
    return dropped


def _zone(prev: Tensor, new: Tensor, keep: Tensor | float | None) -> Tensor:
    """Zoneout: keep the previous value where ``keep`` is 1 (or with weight z in evaluation)."""
    return new if keep is None else keep * prev + (1 - keep) * new


# ----------------------------------------------------------------------------- projections


def _layer_norm(v: Tensor, gain: Tensor, bias: Tensor) -> Tensor:
    """LN over the last dimension. Written out: F.layer_norm gives the same values, but its
    CPU kernel parallelises over rows, which costs far more than it saves on the small
    (B, G*H) slices a recurrent step normalises."""
    mean = v.mean(dim=-1, keepdim=True)
    var = (v - mean).square().mean(dim=-1, keepdim=True)  # biased, as in Ba et al.
    return (v - mean) * torch.rsqrt(var + LN_EPS) * gain + bias


def _plus(v: Tensor, bias: Tensor | None) -> Tensor:
    return v if bias is None else v + bias


def input_projection(spec: RNNSpec, x: Tensor, w: LayerWeights) -> Tensor:
    """W_ih x + b_ih, or LN(W_ih x) + b_ih with layer_norm. x: (..., I) -> (..., G*H)."""
    if not spec.layer_norm:
        return F.linear(x, w.w_ih, w.b_ih)
    return _plus(_layer_norm(F.linear(x, w.w_ih), w.ln_ih_w, w.ln_ih_b), w.b_ih)


def recurrent_projection(spec: RNNSpec, h: Tensor, w: LayerWeights) -> Tensor:
    """W_hh h + b_hh, or LN(W_hh h) + b_hh with layer_norm. h: (B, S) -> (B, G*H)."""
    if not spec.layer_norm:
        return F.linear(h, w.w_hh, w.b_hh)
    return _plus(_layer_norm(F.linear(h, w.w_hh), w.ln_hh_w, w.ln_hh_b), w.b_hh)


# ----------------------------------------------------------------------------- LSTM


def _peep(a: Tensor, p: Tensor | None, c: Tensor) -> Tensor:
    """A gate's pre-activation plus its peephole term p ⊙ c, if it has one."""
    return a if p is None else a + p * c


def _input_and_forget(
    spec: RNNSpec, a_i: Tensor, a_f: Tensor, c: Tensor, w: LayerWeights
) -> tuple[Tensor | float, Tensor | float]:
    """The input and forget gates, as the ablation or coupling defines them."""
    sig = ACTIVATION_FNS[spec.recurrent_activation]
    if spec.ablation == "NIG":
        return 1.0, sig(_peep(a_f, w.w_cf, c))
    if spec.ablation == "NFG":
        return sig(_peep(a_i, w.w_ci, c)), 1.0
    if spec.ablation == "CIFG":  # Greff et al.: the forget gate follows the input gate
        i = sig(_peep(a_i, w.w_ci, c))
        return i, 1 - i
    if spec.coupled_gates:  # the input gate follows the forget gate
        f = sig(_peep(a_f, w.w_cf, c))
        return 1 - f, f
    return sig(_peep(a_i, w.w_ci, c)), sig(_peep(a_f, w.w_cf, c))


def lstm_step(
    spec: RNNSpec,
    gi: Tensor,
    state: tuple[Tensor, ...],
    w: LayerWeights,
    noise: Noise = NO_NOISE,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One variant LSTM step. gi: (B, 4H) from :func:`input_projection`; state (h, c) or,
    for FGR, (h, c, q) with q (B, 3H) the gates (i, f, o) of the last step.

    Returns (h_t, new state); h_t (B, P or H) is the step's output.
    """
    h, c = state[0], state[1]
    h_in = h if noise.recurrent_mask is None else h * noise.recurrent_mask
    a_i, a_f, a_g, a_o = (gi + recurrent_projection(spec, h_in, w)).chunk(4, dim=-1)  # (B, H)
    if spec.ablation == "FGR":
        r_i, r_f, r_o = F.linear(state[2], w.w_gg).chunk(3, dim=-1)  # each (B, H)
        a_i, a_f, a_o = a_i + r_i, a_f + r_f, a_o + r_o
    i, f = _input_and_forget(spec, a_i, a_f, c, w)
    g = ACTIVATION_FNS["identity" if spec.ablation == "NIAF" else spec.activation](a_g)
    c_new = f * c + i * g
    o = 1.0
    if spec.ablation != "NOG":
        o = ACTIVATION_FNS[spec.recurrent_activation](_peep(a_o, w.w_co, c_new))
    c_out = _layer_norm(c_new, w.ln_c_w, w.ln_c_b) if spec.layer_norm else c_new
    h_new = o * ACTIVATION_FNS["identity" if spec.ablation == "NOAF" else spec.activation](c_out)
    if w.w_hr is not None:
        h_new = F.linear(h_new, w.w_hr)  # (B, P)
    h_t, c_t = _zone(h, h_new, noise.keep_h), _zone(c, c_new, noise.keep_c)
    if spec.ablation == "FGR":
        return h_t, (h_t, c_t, torch.cat([i, f, o], dim=-1))  # q: (B, 3H)
    return h_t, (h_t, c_t)


# ----------------------------------------------------------------------------- GRU


def gru_step(
    spec: RNNSpec,
    gi: Tensor,
    state: tuple[Tensor, ...],
    w: LayerWeights,
    noise: Noise = NO_NOISE,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One variant GRU step. gi: (B, 3H) from :func:`input_projection`, state (h,)."""
    h = state[0]
    h_in = h if noise.recurrent_mask is None else h * noise.recurrent_mask
    sig, act = ACTIVATION_FNS[spec.recurrent_activation], ACTIVATION_FNS[spec.activation]
    x_r, x_z, x_n = gi.chunk(3, dim=-1)  # each (B, H)
    if spec.reset_after:
        h_r, h_z, h_n = recurrent_projection(spec, h_in, w).chunk(3, dim=-1)
        r, z = sig(x_r + h_r), sig(x_z + h_z)
        n = act(x_n + r * h_n)
    else:
        w_r, w_z, w_n = w.w_hh.chunk(3, dim=0)  # each (H, H)
        b_r, b_z, b_n = (None, None, None) if w.b_hh is None else w.b_hh.chunk(3)
        r = sig(x_r + F.linear(h_in, w_r, b_r))
        z = sig(x_z + F.linear(h_in, w_z, b_z))
        n = act(x_n + F.linear(r * h_in, w_n, b_n))
    h_t = _zone(h, (1 - z) * n + z * h, noise.keep_h)
    return h_t, (h_t,)
