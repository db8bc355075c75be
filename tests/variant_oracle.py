"""An independent implementation of the LSTM / GRU variants, written from the papers.

Nothing here calls lstmkit's ops (only :func:`capture_masks` watches which random masks
they draw, so that training mode can be checked too): every gate is computed from its own
weight slice, one sequence at a time (variable lengths are handled by running each
sequence alone at its own length), layer normalisation is written out with its mean and
variance, and the activations are their formulas. The oracle copies a module's parameters
under the same names, so ``helpers.assert_parity`` can compare outputs, final states and
every gradient.

Sources of the equations:
- peepholes: Gers & Schmidhuber (2000); i, f peep at c_{t-1}, o at c_t.
- the Greff et al. (2017) ablations, base = the peephole LSTM ("vanilla" in the paper):
  NIG i = 1, NFG f = 1, NOG o = 1, NIAF g(x) = x, NOAF h(x) = x, NP no peepholes,
  CIFG f = 1 - i, FGR adds R_{jk} (gate j at t-1 -> gate k at t) for j, k in {i, f, o}.
- coupled_gates (this library's option): i = 1 - f.
- layer norm: Ba et al. (2016), LN of W_x x and of W_h h separately (each over all gates),
  and of c_t before the output nonlinearity.
- zoneout: Krueger et al. (2017), h_t uses the un-zoned new cell, expectation in evaluation.
- recurrent dropout: Gal & Ghahramani (2016), mask on h_{t-1} in the recurrent product.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmkit.ops import variants

EPS = 1e-5

ACT = {
    "tanh": torch.tanh,
    "sigmoid": lambda v: 1 / (1 + torch.exp(-v)),
    "hard_sigmoid": lambda v: torch.clamp(v / 6 + 0.5, 0.0, 1.0),
    "relu": lambda v: torch.clamp(v, min=0.0),
    "identity": lambda v: v,
}


def layer_norm(v: Tensor, gain: Tensor, bias: Tensor) -> Tensor:
    mean = v.sum() / v.numel()
    var = ((v - mean) ** 2).sum() / v.numel()
    return (v - mean) / torch.sqrt(var + EPS) * gain + bias


class Captured:
    """Masks the library drew, per layer-direction k, in call order: ``noises`` (recurrent
    mask (B, S), zoneout keep masks (T, B, H)) and ``w_hh_masks`` (the weight-drop mask of
    W_hh, 0 or 1 / (1 - p) per entry)."""

    def __init__(self):
        self.noises = []
        self.w_hh_masks = []


def capture_masks(monkeypatch) -> Captured:
    """Record every mask lstmkit draws from now on (the draws themselves are unchanged)."""
    cap = Captured()
    draw, drop = variants.draw_noise, variants.drop_weights

    def spy_draw(spec, steps, state, training):
        noise = draw(spec, steps, state, training)
        cap.noises.append(noise)
        return noise

    def spy_drop(spec, weights, training):
        dropped = drop(spec, weights, training)
        if dropped is not weights:
            scale = 1 / (1 - spec.weight_drop)
            cap.w_hh_masks.extend((d.w_hh.detach() != 0).to(d.w_hh.dtype) * scale for d in dropped)
        return dropped

    monkeypatch.setattr(variants, "draw_noise", spy_draw)
    monkeypatch.setattr(variants, "drop_weights", spy_drop)
    return cap


class Oracle(nn.Module):
    """A copy of an lstmkit LSTM / GRU / cell computing the variant equations by hand.

    ``captured`` supplies the training-mode masks (else the module runs as in evaluation:
    zoneout by its expectation, no recurrent dropout, no weight drop).
    """

    def __init__(self, module: nn.Module, captured: Captured | None = None):
        super().__init__()
        self.spec = module.spec
        self.batch_first = getattr(module, "batch_first", False)
        self.captured = captured
        for name, p in module.named_parameters():
            self.register_parameter(name, nn.Parameter(p.detach().clone()))

    # -- parameters of one layer-direction, by stem --------------------------------------
    def params(self, k: int | None) -> dict[str, Tensor | None]:
        names = [
            "weight_ih",
            "weight_hh",
            "bias_ih",
            "bias_hh",
            "weight_hr",
            "weight_ci",
            "weight_cf",
            "weight_co",
            "weight_gg",
            "ln_ih_weight",
            "ln_ih_bias",
            "ln_hh_weight",
            "ln_hh_bias",
            "ln_c_weight",
            "ln_c_bias",
        ]
        if k is None:  # a cell
            return {n: getattr(self, n, None) for n in names}
        D = 2 if self.spec.bidirectional else 1
        sfx = f"_l{k // D}" + ("_reverse" if k % D else "")
        p = {n: getattr(self, n + sfx, None) for n in names}
        if self.captured is not None and self.captured.w_hh_masks:
            p["weight_hh"] = p["weight_hh"] * self.captured.w_hh_masks[k]  # DropConnect
        return p

    # -- one step --------------------------------------------------------------------------
    def keep(self, k, which, t, b, z):
        """Zoneout's d for unit vector at step t of sequence b: the mask or z."""
        if self.captured is None or not self.captured.noises:
            return z
        mask = getattr(self.captured.noises[k], which)
        if mask is None or isinstance(mask, float):
            return z
        return (mask if isinstance(mask, torch.Tensor) else mask.tensor())[t, b]

    def rec_mask(self, k, b):
        if self.captured is None or not self.captured.noises:
            return 1.0
        m = self.captured.noises[k].recurrent_mask
        return 1.0 if m is None else m[b]

    def projections(self, p, x, y_in, G):
        """Per-gate W x and R y (lists of G vectors), layer-normalised when asked."""
        H = self.spec.hidden_size
        wx = [p["weight_ih"][j * H : (j + 1) * H] @ x for j in range(G)]
        ry = [p["weight_hh"][j * H : (j + 1) * H] @ y_in for j in range(G)]
        if self.spec.layer_norm:
            wx = list(layer_norm(torch.cat(wx), p["ln_ih_weight"], p["ln_ih_bias"]).split(H))
            ry = list(layer_norm(torch.cat(ry), p["ln_hh_weight"], p["ln_hh_bias"]).split(H))
        for j in range(G):
            if p["bias_ih"] is not None:
                wx[j] = wx[j] + p["bias_ih"][j * H : (j + 1) * H]
                ry[j] = ry[j] + p["bias_hh"][j * H : (j + 1) * H]
        return wx, ry

    def lstm_step(self, p, x, state, d_c, d_h, m):
        """Greff et al.'s notation: z block input, y output, q the gates at t-1."""
        s = self.spec
        y, c = state[0], state[1]
        sig, act = ACT[s.recurrent_activation], ACT[s.activation]
        g_in = ACT["identity"] if s.ablation == "NIAF" else act
        h_out = ACT["identity"] if s.ablation == "NOAF" else act
        wx, ry = self.projections(p, x, y * m, 4)
        # torch's gate order i, f, g, o; g is Greff et al.'s block input z
        pre = {g: wx[j] + ry[j] for j, g in enumerate("ifzo")}
        if s.ablation == "FGR":
            H = s.hidden_size
            q = dict(zip("ifo", state[2].split(H), strict=True))
            for a, k in enumerate("ifo"):
                for b, j in enumerate("ifo"):
                    block = p["weight_gg"][a * H : (a + 1) * H, b * H : (b + 1) * H]  # R_{jk}
                    pre[k] = pre[k] + block @ q[j]
        peep = {g: (p[f"weight_c{g}"] if p[f"weight_c{g}"] is not None else 0.0) for g in "ifo"}
        z = g_in(pre["z"])
        i = sig(pre["i"] + peep["i"] * c)
        f = sig(pre["f"] + peep["f"] * c)
        if s.ablation == "NIG":
            i = torch.ones_like(c)
        if s.ablation == "NFG":
            f = torch.ones_like(c)
        if s.ablation == "CIFG":
            f = 1 - i
        if s.coupled_gates:
            i = 1 - f
        c_new = z * i + c * f
        o = sig(pre["o"] + peep["o"] * c_new)
        if s.ablation == "NOG":
            o = torch.ones_like(c)
        c_shown = layer_norm(c_new, p["ln_c_weight"], p["ln_c_bias"]) if s.layer_norm else c_new
        y_new = h_out(c_shown) * o
        if p["weight_hr"] is not None:
            y_new = p["weight_hr"] @ y_new
        c_t = d_c * c + (1 - d_c) * c_new
        y_t = d_h * y + (1 - d_h) * y_new
        if s.ablation == "FGR":
            return (y_t, c_t, torch.cat([i, f, o]))
        return (y_t, c_t)

    def gru_step(self, p, x, state, d_c, d_h, m):
        s = self.spec
        H = s.hidden_size
        h = state[0]
        sig, act = ACT[s.recurrent_activation], ACT[s.activation]
        if s.reset_after:
            wx, rh = self.projections(p, x, h * m, 3)
            r = sig(wx[0] + rh[0])
            z = sig(wx[1] + rh[1])
            n = act(wx[2] + r * rh[2])
        else:  # Cho et al. (2014): the reset gate scales h before W_hn
            W, R = p["weight_ih"], p["weight_hh"]
            b_i = p["bias_ih"] if p["bias_ih"] is not None else torch.zeros(3 * H).to(x)
            b_h = p["bias_hh"] if p["bias_hh"] is not None else torch.zeros(3 * H).to(x)
            hm = h * m
            r = sig(W[:H] @ x + b_i[:H] + R[:H] @ hm + b_h[:H])
            z = sig(W[H : 2 * H] @ x + b_i[H : 2 * H] + R[H : 2 * H] @ hm + b_h[H : 2 * H])
            n = act(W[2 * H :] @ x + b_i[2 * H :] + R[2 * H :] @ (r * hm) + b_h[2 * H :])
        h_new = (1 - z) * n + z * h
        return (d_h * h + (1 - d_h) * h_new,)

    def step(self, k, x, state, t, b):
        s = self.spec
        z_c, z_h = s.zoneout
        d_c = self.keep(k, "keep_c", t, b, z_c)
        d_h = self.keep(k, "keep_h", t, b, z_h)
        fn = self.lstm_step if s.mode == "lstm" else self.gru_step
        return fn(self.params(k), x, state, d_c, d_h, self.rec_mask(k, b))

    # -- sequences ---------------------------------------------------------------------------
    def run_sequence(self, k, xs, state, b, reverse):
        """One sequence (n, I) of batch row b through layer-direction k."""
        n = xs.shape[0]
        order = range(n - 1, -1, -1) if reverse else range(n)
        outs = [None] * n
        for t in order:
            state = self.step(k, xs[t], state, t, b)
            outs[t] = state[0]
        return torch.stack(outs), state

    def forward(self, x, hx=None, lengths=None):
        s = self.spec
        if self.batch_first:
            x = x.transpose(0, 1)
        T, B = x.shape[0], x.shape[1]
        D = 2 if s.bidirectional else 1
        sizes = s.state_sizes()
        if hx is None:
            hx = tuple(x.new_zeros(s.num_layers * D, B, n) for n in sizes)
        hx = tuple(hx) if isinstance(hx, tuple | list) else (hx,)
        if len(hx) < len(sizes):
            hx = (*hx, x.new_zeros(s.num_layers * D, B, sizes[2]))
        lens = [T] * B if lengths is None else [int(n) for n in lengths]
        finals = [[[] for _ in range(s.num_layers * D)] for _ in sizes]  # [state][k][b]
        layer_in = x
        for layer in range(s.num_layers):
            rows = []
            for b in range(B):
                n = lens[b]
                parts = []
                for d in range(D):
                    k = layer * D + d
                    state = tuple(h[k, b] for h in hx)
                    out, state = self.run_sequence(k, layer_in[:n, b], state, b, d == 1)
                    parts.append(out)
                    for j, st in enumerate(state):
                        finals[j][k].append(st)
                row = torch.cat(parts, dim=-1)  # (n, D*S)
                pad = row.new_zeros(T - n, row.shape[-1])
                rows.append(torch.cat([row, pad]))
            layer_in = torch.stack(rows, dim=1)  # (T, B, D*S)
        states = tuple(torch.stack([torch.stack(f) for f in fs]) for fs in finals)
        out = layer_in.transpose(0, 1) if self.batch_first else layer_in
        if s.mode == "lstm":
            return out, states
        return out, states[0]

    def cell(self, x, hx=None):
        """One step of a cell (parameters without suffix): x (B, I)."""
        sizes = self.spec.state_sizes()
        B = x.shape[0]
        if hx is None:
            hx = tuple(x.new_zeros(B, n) for n in sizes)
        hx = tuple(hx) if isinstance(hx, tuple | list) else (hx,)
        fn = self.lstm_step if self.spec.mode == "lstm" else self.gru_step
        z_c, z_h = self.spec.zoneout
        p = self.params(None)
        rows = [fn(p, x[b], tuple(h[b] for h in hx), z_c, z_h, 1.0) for b in range(B)]
        return tuple(torch.stack([r[j] for r in rows]) for j in range(len(sizes)))
