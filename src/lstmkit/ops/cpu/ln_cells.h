// The layer-normalised LSTM and GRU (lstmkit.ops.variants holds the equations): the per-row
// statistics and the per-unit math of one step, forward and backward.
//
// Per step and batch row the recurrent product z = W_hh h̃ is normalised over its whole G*H
// row, ẑ = (z - mean) / sqrt(var + eps), and enters as γ_hh ẑ + β (β: the LN bias plus
// b_hh); the input side W_ih x (``gx``) is computed before the loop and normalised in it, row
// by row as a step reads it (γ_ih LN(W_ih x) + β_ih, its statistics saved). The LSTM
// also normalises c' over its H units before the output activation. Because a row's
// statistics couple all units while the workers split the units, the drivers (ln_loop.cpp)
// meet at a barrier before every normalisation; each worker then computes the row sums it
// needs over the whole row itself (a few flops per element, against the G*H flops per
// element of the product) and applies them to its own units.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "variant_cells.h"

namespace lstmkit {

constexpr double kLnEps = 1e-5;  // torch.nn.LayerNorm's default, as lstmkit.ops.variants

template <typename T>
inline T hsum(vec<T> v) {
  T s = 0;
  for (int i = 0; i < Simd<T>::N; ++i) s += v[i];
  return s;
}

// Sum of x[0 .. len) and of x * y (y may be nullptr: then the plain sum only).
template <typename T>
inline void row_sums(const T* x, const T* y, int64_t len, T& sx, T& sxy) {
  constexpr int N = Simd<T>::N;
  vec<T> a{}, b{};
  int64_t i = 0;
  for (; i + N <= len; i += N) {
    const vec<T> v = load(x + i);
    a += v;
    if (y) b += v * load(y + i);
  }
  sx = hsum<T>(a), sxy = y ? hsum<T>(b) : T(0);
  for (; i < len; ++i) {
    sx += x[i];
    if (y) sxy += x[i] * y[i];
  }
}

// Mean and 1 / sqrt(var + eps) of a row (biased variance, two passes).
template <typename T>
inline void row_stats(const T* x, int64_t len, T& mean, T& rstd) {
  T sum, unused;
  row_sums<T>(x, nullptr, len, sum, unused);
  mean = sum / T(len);
  constexpr int N = Simd<T>::N;
  vec<T> acc{};
  int64_t i = 0;
  for (; i + N <= len; i += N) {
    const vec<T> d = load(x + i) - mean;
    acc += d * d;
  }
  T sq = hsum<T>(acc);
  for (; i < len; ++i) sq += (x[i] - mean) * (x[i] - mean);
  rstd = T(1) / std::sqrt(sq / T(len) + T(kLnEps));
}

// One direction of one layer; rows of gx / dgi are ld apart (all directions side by side).
template <typename T>
struct LnArgs {
  int64_t T_, B, H, GH, ld;
  bool lstm, reverse;
  bool save;  // keep every step for the backward pass; else one step and two state slots

  // Row b of step t in the per-step arrays (act, zhat, cn, chat, hn, the rstd).
  int64_t row(int64_t t, int64_t b) const { return (save ? t : 0) * B + b; }
  // The state slots before and after step t (see recurrent.h for the saved order).
  int64_t prev(int64_t t) const {
    return save ? t + (reverse ? 1 : 0) : (reverse ? T_ - 1 - t : t) % 2;
  }
  int64_t next(int64_t t) const {
    return save ? t + (reverse ? 0 : 1) : ((reverse ? T_ - 1 - t : t) + 1) % 2;
  }
  const T* gx;                        // (T, B, ld) this direction's first column: W_ih x
  const T *g_ih, *b_ih;               // (GH,) the input side's gain, LN bias + b_ih
  const T* w_hh;                      // (GH, H)
  const T *g_hh, *b_hh, *g_c, *b_c;   // (GH,) gain, LN bias + b_hh; LSTM (H,) gain, bias
  // saved (see ln_layout in ln_loop.cpp)
  T *act, *zhat, *rstd_hh, *hs, *cs, *cn, *chat, *rstd_c, *hn, *mean_ih, *rstd_ih;
  T* out;
  int64_t out_ld;
  const int64_t* lengths;
  T *packed, *raw, *masked;  // scratch: W_hh panels, (B, GH) W_hh h̃, (B, H) h * mask
  const Variant<T>* var;
  // backward
  const T* dout;
  int64_t dout_ld;
  T *dh, *dc, *dh_direct, *dgi, *dhh, *dz;
  // (workers, 2 GH + 2 H): each worker's sums over its steps, rows and units of dL/dγ_hh,
  // dL/dβ_hh | (LSTM) dL/dγ_c, dL/dβ_c; zero on entry.
  T* sums;
  int64_t sums_ld;
};

inline bool ln_valid(const int64_t* lengths, int64_t t, int64_t b) {
  return !lengths || t < lengths[b];
}

template <typename T>
inline vec<T> ld_n(const T* p, int64_t at, int n) {
  return p ? load_n(p + at, n) : vec<T>{};
}

// A row's statistics: of the recurrent product (hh) and of the input side (ih).
template <typename T>
struct RowStats {
  T mean_hh, rstd_hh, mean_ih, rstd_ih;
};

// The normalised input side at columns [at, at + n) of a row gx: γ_ih LN(W_ih x) + β_ih.
template <typename T>
inline vec<T> ln_input(const LnArgs<T>& a, const T* gx, int64_t at, int n,
                       const RowStats<T>& s) {
  const vec<T> xh = (load_n(gx + at, n) - s.mean_ih) * s.rstd_ih;
  return load_n(a.g_ih + at, n) * xh + load_n(a.b_ih + at, n);
}

// Forward, LSTM, phase 1: gates and c' of one row and block of units from the normalised
// recurrent product and input side. Rows past their length save c' = c_{t-1}.
template <typename T>
void ln_lstm_gates(const LnArgs<T>& a, int64_t t, int64_t b, int64_t u0, int n,
                   const RowStats<T>& st) {
  const Variant<T>& v = *a.var;
  const int64_t H = a.H, GH = a.GH, TB = t * a.B + b, SB = a.row(t, b);
  const T* gx = a.gx + TB * a.ld;
  const T* raw = a.raw + b * GH;
  vec<T> pre[4];
  for (int k = 0; k < 4; ++k) {
    const int64_t at = k * H + u0;
    const vec<T> z = (load_n(raw + at, n) - st.mean_hh) * st.rstd_hh;
    store_n(a.zhat + SB * GH + at, z, n);
    pre[k] = ln_input(a, gx, at, n, st) + load_n(a.g_hh + at, n) * z + load_n(a.b_hh + at, n);
  }
  const int64_t prev = a.prev(t);
  const vec<T> cp = load_n(a.cs + prev * a.B * H + b * H + u0, n);
  T* act = a.act + SB * GH + u0;
  if (!ln_valid(a.lengths, t, b)) {
    for (int k = 0; k < 4; ++k) store_n(act + k * H, vec<T>{}, n);
    store_n(a.cn + SB * H + u0, cp, n);
    return;
  }
  const vec<T> i = activate<T>(v.act_gate, pre[0] + ld_n(v.p_i, u0, n) * cp);
  const vec<T> f = activate<T>(v.act_gate, pre[1] + ld_n(v.p_f, u0, n) * cp);
  const vec<T> g = activate<T>(v.act_g, pre[2]);
  const vec<T> c = f * cp + i * g;
  const vec<T> o = activate<T>(v.act_gate, pre[3] + ld_n(v.p_o, u0, n) * c);
  store_n(act, i, n), store_n(act + H, f, n), store_n(act + 2 * H, g, n);
  store_n(act + 3 * H, o, n);
  store_n(a.cn + SB * H + u0, c, n);
}

// Writes the new state of one row and block: h_t (and the output, and h_t * mask), c_t.
template <typename T>
inline void ln_store_state(const LnArgs<T>& a, int64_t t, int64_t b, int64_t u0, int n,
                           vec<T> h, vec<T> c) {
  const int64_t H = a.H, at = a.next(t) * a.B * H + b * H + u0;
  store_n(a.hs + at, h, n);
  if (a.cs) store_n(a.cs + at, c, n);
  const bool ok = ln_valid(a.lengths, t, b);
  store_n(a.out + (t * a.B + b) * a.out_ld + u0, ok ? h : vec<T>{}, n);
  if (a.masked) store_n(a.masked + b * H + u0, h * load_n(a.var->rmask + b * H + u0, n), n);
}

// Forward, LSTM, phase 2: h' = o * φ(γ_c ĉ + β_c), zoneout, the new state.
template <typename T>
void ln_lstm_output(const LnArgs<T>& a, int64_t t, int64_t b, int64_t u0, int n, T mean,
                    T rstd) {
  const Variant<T>& v = *a.var;
  const int64_t H = a.H, TB = t * a.B + b, SB = a.row(t, b), prev = a.prev(t);
  const vec<T> one = splat<T>(T(1));
  const vec<T> c = load_n(a.cn + SB * H + u0, n);
  const vec<T> ch = (c - mean) * rstd;
  store_n(a.chat + SB * H + u0, ch, n);
  const vec<T> hp = load_n(a.hs + prev * a.B * H + b * H + u0, n);
  const vec<T> cp = load_n(a.cs + prev * a.B * H + b * H + u0, n);
  if (!ln_valid(a.lengths, t, b)) return ln_store_state(a, t, b, u0, n, hp, cp);
  const vec<T> y = load_n(a.g_c + u0, n) * ch + load_n(a.b_c + u0, n);
  const vec<T> h = load_n(a.act + SB * a.GH + 3 * H + u0, n) * activate<T>(v.act_h, y);
  const int64_t at = TB * H + u0;
  const vec<T> kc = v.keep_c.at(at, n);
  const vec<T> kh = v.keep_h.at(at, n);
  ln_store_state(a, t, b, u0, n, kh * hp + (one - kh) * h, kc * cp + (one - kc) * c);
}

// Forward, GRU: r, z, n and h_t of one row and block from the normalised product.
template <typename T>
void ln_gru_step(const LnArgs<T>& a, int64_t t, int64_t b, int64_t u0, int n,
                 const RowStats<T>& st) {
  const Variant<T>& v = *a.var;
  const int64_t H = a.H, GH = a.GH, TB = t * a.B + b, SB = a.row(t, b), prev = a.prev(t);
  const vec<T> one = splat<T>(T(1));
  const T* gx = a.gx + TB * a.ld;
  vec<T> hh[3];
  for (int k = 0; k < 3; ++k) {
    const int64_t at = k * H + u0;
    const vec<T> z = (load_n(a.raw + b * GH + at, n) - st.mean_hh) * st.rstd_hh;
    store_n(a.zhat + SB * GH + at, z, n);
    hh[k] = load_n(a.g_hh + at, n) * z + load_n(a.b_hh + at, n);
  }
  const vec<T> hp = load_n(a.hs + prev * a.B * H + b * H + u0, n);
  T* act = a.act + SB * GH + u0;
  if (!ln_valid(a.lengths, t, b)) {
    for (int k = 0; k < 3; ++k) store_n(act + k * H, vec<T>{}, n);
    store_n(a.hn + SB * H + u0, vec<T>{}, n);
    return ln_store_state(a, t, b, u0, n, hp, hp);
  }
  const vec<T> r = activate<T>(v.act_gate, ln_input(a, gx, u0, n, st) + hh[0]);
  const vec<T> z = activate<T>(v.act_gate, ln_input(a, gx, H + u0, n, st) + hh[1]);
  const vec<T> nn = activate<T>(v.act_g, ln_input(a, gx, 2 * H + u0, n, st) + r * hh[2]);
  const vec<T> kh = v.keep_h.at(TB * H + u0, n);
  const vec<T> h = (one - z) * nn + z * hp;
  store_n(act, r, n), store_n(act + H, z, n), store_n(act + 2 * H, nn, n);
  store_n(a.hn + SB * H + u0, hh[2], n);
  ln_store_state(a, t, b, u0, n, kh * hp + (one - kh) * h, hp);
}

// dL/dh_t of one row and block: carried + output gradient (only inside the sequence).
template <typename T>
inline vec<T> ln_dh(const LnArgs<T>& a, int64_t t, int64_t b, int64_t u0, int n) {
  const vec<T> carried = load_n(a.dh + b * a.H + u0, n);
  if (!ln_valid(a.lengths, t, b)) return carried;
  return carried + load_n(a.dout + (t * a.B + b) * a.dout_ld + u0, n);
}

// Backward, LSTM: dL/dy for y = γ_c ĉ + β_c, with φ(y) and dL/dh' (after zoneout).
template <typename T>
struct LnOutGrad {
  vec<T> dy, phi, dh_new, dh;
};

template <typename T>
inline LnOutGrad<T> ln_out_grad(const LnArgs<T>& a, int64_t t, int64_t b, int64_t u0, int n) {
  const Variant<T>& v = *a.var;
  const int64_t H = a.H, TB = t * a.B + b;
  LnOutGrad<T> g;
  g.dh = ln_dh(a, t, b, u0, n);
  const vec<T> kh = v.keep_h.at(TB * H + u0, n);
  g.dh_new = (splat<T>(T(1)) - kh) * g.dh;
  const vec<T> ch = load_n(a.chat + TB * H + u0, n);
  g.phi = activate<T>(v.act_h, load_n(a.g_c + u0, n) * ch + load_n(a.b_c + u0, n));
  const vec<T> o = load_n(a.act + TB * a.GH + 3 * H + u0, n);
  g.dy = g.dh_new * o * slope<T>(v.act_h, g.phi);
  return g;
}

// Backward, LSTM, one row and block inside the sequence; s1, s2: the row's sums of dĉ and
// dĉ ĉ over all H units (dĉ = γ_c dy). Adds dy ĉ and dy to the worker's sums_c (H dL/dγ_c,
// then H dL/dβ_c).
template <typename T>
void ln_lstm_backward(const LnArgs<T>& a, int64_t t, int64_t b, int64_t u0, int n, T s1,
                      T s2, T* sums_c) {
  const Variant<T>& v = *a.var;
  const int64_t H = a.H, GH = a.GH, TB = t * a.B + b, prev = t + (a.reverse ? 1 : 0);
  const vec<T> one = splat<T>(T(1));
  const LnOutGrad<T> g = ln_out_grad(a, t, b, u0, n);
  const vec<T> ch = load_n(a.chat + TB * H + u0, n);
  store_n(sums_c + u0, load_n(sums_c + u0, n) + g.dy * ch, n);
  store_n(sums_c + H + u0, load_n(sums_c + H + u0, n) + g.dy, n);
  const vec<T> dch = g.dy * load_n(a.g_c + u0, n);
  const T inv = T(1) / T(H);
  const vec<T> dln = a.rstd_c[TB] * (dch - s1 * inv - ch * (s2 * inv));
  const T* act = a.act + TB * GH + u0;
  const vec<T> i = load_n(act, n), f = load_n(act + H, n);
  const vec<T> gg = load_n(act + 2 * H, n), o = load_n(act + 3 * H, n);
  const vec<T> cp = load_n(a.cs + prev * a.B * H + b * H + u0, n);
  const vec<T> da_o = g.dh_new * g.phi * slope<T>(v.act_gate, o);
  const vec<T> kc = v.keep_c.at(TB * H + u0, n);
  const vec<T> dc_t = load_n(a.dc + b * H + u0, n);
  const vec<T> dcn = (one - kc) * dc_t + dln + da_o * ld_n(v.p_o, u0, n);
  const vec<T> da_i = dcn * gg * slope<T>(v.act_gate, i);
  const vec<T> da_f = dcn * cp * slope<T>(v.act_gate, f);
  const vec<T> dcp = kc * dc_t + dcn * f + da_i * ld_n(v.p_i, u0, n) + da_f * ld_n(v.p_f, u0, n);
  T* d = a.dgi + TB * a.ld + u0;
  store_n(d, da_i, n), store_n(d + H, da_f, n);
  store_n(d + 2 * H, dcn * i * slope<T>(v.act_g, gg), n);
  store_n(d + 3 * H, da_o, n);
  store_n(a.dc + b * H + u0, dcp, n);
  const vec<T> kh = v.keep_h.at(TB * H + u0, n);
  store_n(a.dh_direct + b * H + u0, kh * g.dh, n);
}

// Backward, GRU, one row and block inside the sequence: dgi (input side) and dhh (the
// normalised recurrent side, before its LN backward).
template <typename T>
void ln_gru_backward(const LnArgs<T>& a, int64_t t, int64_t b, int64_t u0, int n) {
  const Variant<T>& v = *a.var;
  const int64_t H = a.H, GH = a.GH, TB = t * a.B + b, prev = t + (a.reverse ? 1 : 0);
  const vec<T> one = splat<T>(T(1));
  const vec<T> dh = ln_dh(a, t, b, u0, n);
  const vec<T> kh = v.keep_h.at(TB * H + u0, n);
  const vec<T> dhn = (one - kh) * dh;
  const T* act = a.act + TB * GH + u0;
  const vec<T> r = load_n(act, n), z = load_n(act + H, n), nn = load_n(act + 2 * H, n);
  const vec<T> hn = load_n(a.hn + TB * H + u0, n);
  const vec<T> hp = load_n(a.hs + prev * a.B * H + b * H + u0, n);
  const vec<T> dan = dhn * (one - z) * slope<T>(v.act_g, nn);
  const vec<T> dar = dan * hn * slope<T>(v.act_gate, r);
  const vec<T> daz = dhn * (hp - nn) * slope<T>(v.act_gate, z);
  T* di = a.dgi + TB * a.ld + u0;
  T* dr = a.dhh + TB * GH + u0;
  store_n(di, dar, n), store_n(di + H, daz, n), store_n(di + 2 * H, dan, n);
  store_n(dr, dar, n), store_n(dr + H, daz, n), store_n(dr + 2 * H, dan * r, n);
  store_n(a.dh_direct + b * H + u0, kh * dh + dhn * z, n);
}

}  // namespace lstmkit
