// The variant cells' per-unit math (lstmkit.ops.variants holds the equations). LSTM:
// peepholes, coupled gates, the Greff et al. ablations NIG, NFG, NOG, NIAF, NOAF, CIFG,
// other activations, zoneout and recurrent dropout; GRU: other activations, zoneout and
// recurrent dropout. For recurrent dropout the recurrent product reads h_{t-1} * m from a
// buffer of its own, which the cell writes (the drivers use it through FwdStep::h_in).
// Everything here is element-wise per unit, so it runs in the same drivers (forward.cpp,
// backward.cpp) as the plain cells, with its options read at run time.
//
// Cell code of a variant (see cells.h): kLSTMVariant or kGRUVariant | gate_mode << 4
// | no_output << 7 | act_g << 8 | act_h << 11 | act_gate << 14 | fgr << 17, activations
// numbered as Act.
//
// FGR (the gate recurrence of Greff et al.): the recurrent input is z = [h, q], q = [i, f, o]
// of the last step, so the cell writes q beside h into the state slot (h_ld = 4H), and in
// the backward pass reads dL/dq (the q part of the carried dL/dz) and adds it to dL/di,
// dL/df, dL/do.
#pragma once

#include <cstdint>

#include "cells.h"
#include "simd.h"

namespace lstmkit {

enum Act : int { kTanh = 0, kSigmoid = 1, kHardSigmoid = 2, kRelu = 3, kIdentity = 4 };

// How the input and forget gates are made.
enum GateMode : int { kBothGates = 0, kNoInput = 1, kNoForget = 2, kForgetIsOneMinusInput = 3,
                      kInputIsOneMinusForget = 4 };

// The keep values of zoneout for one state (1 keeps the previous value): off (0), one
// constant (the expectation, in evaluation), given 0/1 masks (T, B, H), or masks formed from
// each element's flat index i = (t * B + b) * H + u: 1 where hash(seed + i) >> 8 < thr
// (probability thr / 2^24; lstmkit.ops.variants.HashedKeep forms the same with torch ops).
template <typename T>
struct Keep {
  bool on = false;
  const T* mask = nullptr;
  T z = 0;
  bool hashed = false;
  uint32_t seed = 0, thr = 0;

  // Lanes [0, n) of the values of elements index, index + 1, ...
  vec<T> at(int64_t index, int n) const {
    if (!on) return vec<T>{};
    if (mask) return load_n(mask + index, n);
    if (!hashed) return splat<T>(z);
    constexpr int N = Simd<T>::N;
    typename Simd<T>::U x;
    for (int l = 0; l < N; ++l) x[l] = uint32_t(l);
    x += uint32_t(index) + seed;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return -__builtin_convertvector((x >> 8) < thr, vec<T>);  // lanes -1 / 0 -> 1 / 0
  }
};

template <typename T>
struct Variant {
  int gate_mode = kBothGates;
  bool no_output = false;  // NOG: o = 1
  bool fgr = false;        // FGR: q = [i, f, o] is part of the state (cells.h: is_fgr)
  int act_g = kTanh, act_h = kTanh, act_gate = kSigmoid;
  const T* p_i = nullptr;  // (H,) peephole weights, nullptr when the gate has none
  const T* p_f = nullptr;
  const T* p_o = nullptr;
  Keep<T> keep_c, keep_h;  // zoneout of c and of h
  const T* rmask = nullptr;  // (B, H) recurrent dropout mask on h_{t-1}, or nullptr
  T* masked = nullptr;       // (2, B, H) h * rmask in turn, read by the recurrent product
  int64_t step_stride = 0;  // B * H: one step of a mask
  bool direct = true;       // write dL/dh_{t-1}'s direct part (false with a projection)

  void decode(int64_t code) {
    gate_mode = int((code >> 4) & 7);
    no_output = (code >> 7) & 1;
    act_g = int((code >> 8) & 7);
    act_h = int((code >> 11) & 7);
    act_gate = int((code >> 14) & 7);
    fgr = is_fgr(code);
  }
};

// Forced inline: called per vector inside the loops.
template <typename T>
__attribute__((always_inline)) inline vec<T> activate(int act, vec<T> x) {
  switch (act) {
    case kTanh: return vtanh<T>(x);
    case kSigmoid: return vsigmoid<T>(x);
    case kHardSigmoid: return vmin<T>(vmax<T>(x / T(6) + T(0.5), vec<T>{}), splat<T>(T(1)));
    case kRelu: return vrelu<T>(x);
    default: return x;
  }
}

// The derivative of an activation, from its output y.
template <typename T>
__attribute__((always_inline)) inline vec<T> slope(int act, vec<T> y) {
  const vec<T> zero{}, one = splat<T>(T(1));
  switch (act) {
    case kTanh: return one - y * y;
    case kSigmoid: return y * (one - y);
    case kHardSigmoid: return (y > zero) & (y < one) ? splat<T>(T(1) / T(6)) : zero;
    case kRelu: return y > zero ? one : zero;
    default: return one;
  }
}

struct VariantLSTMCell {
  static constexpr int G = 4;
  static constexpr bool kDirect = true;  // zoneout of h passes dL/dh_t to h_{t-1} directly

  template <typename T>
  static void forward(const FwdStep<T>& s, int64_t b, int64_t u0, int n, const vec<T>* acc) {
    const Variant<T>& v = *s.var;
    T* gi = s.gates + b * s.GH + u0;
    const int64_t H = s.H;
    const vec<T> one = splat<T>(T(1));
    const vec<T> cp = load_n(s.c_prev + b * H + u0, n);
    auto gate = [&](vec<T> a, const T* p, vec<T> c) {
      return activate<T>(v.act_gate, p ? a + load_n(p + u0, n) * c : a);
    };
    const vec<T> a_i = acc[0] + load_n(gi, n), a_f = acc[1] + load_n(gi + H, n);
    vec<T> i = one, f = one;
    if (v.gate_mode != kNoInput && v.gate_mode != kInputIsOneMinusForget) i = gate(a_i, v.p_i, cp);
    if (v.gate_mode != kNoForget && v.gate_mode != kForgetIsOneMinusInput) f = gate(a_f, v.p_f, cp);
    if (v.gate_mode == kForgetIsOneMinusInput) f = one - i;
    if (v.gate_mode == kInputIsOneMinusForget) i = one - f;
    const vec<T> g = activate<T>(v.act_g, acc[2] + load_n(gi + 2 * H, n));
    const vec<T> c = f * cp + i * g;
    const vec<T> o = v.no_output ? one : gate(acc[3] + load_n(gi + 3 * H, n), v.p_o, c);
    const vec<T> h = o * activate<T>(v.act_h, c);
    const int64_t at = s.t * v.step_stride + b * H + u0;
    vec<T> c_t = c;
    if (v.keep_c.on) {
      const vec<T> k = v.keep_c.at(at, n);
      c_t = k * cp + (one - k) * c;
    }
    store_n(s.c_new + b * H + u0, c_t, n);
    if (s.r) {
      store_n(s.r + b * H + u0, h, n);  // no zoneout of h with a projection
    } else {
      vec<T> h_t = h;
      if (v.keep_h.on) {
        const vec<T> k = v.keep_h.at(at, n);
        h_t = k * load_n(s.h_prev + b * s.h_ld + u0, n) + (one - k) * h;
      }
      T* z = s.h_new + b * s.h_ld + u0;
      store_n(z, h_t, n);
      store_n(s.out + b * s.out_ld + u0, h_t, n);
      if (v.fgr) {  // q_t = [i, f, o] beside h_t
        store_n(z + H, i, n);
        store_n(z + 2 * H, f, n);
        store_n(z + 3 * H, o, n);
      }
      if (v.rmask) {
        const int64_t at_h = b * s.h_ld + u0;
        store_n(s.h_in_new + at_h, h_t * load_n(v.rmask + at_h, n), n);
      }
    }
    if (s.save) {
      store_n(gi, i, n);
      store_n(gi + H, f, n);
      store_n(gi + 2 * H, g, n);
      store_n(gi + 3 * H, o, n);
    }
  }

  template <typename T>
  static void backward(const BwdStep<T>& s, int64_t b, int64_t u0, int n, vec<T> dh) {
    const Variant<T>& v = *s.var;
    const int64_t H = s.H;
    const vec<T> zero{}, one = splat<T>(T(1));
    const T* a = s.gates + b * s.GH + u0;
    const vec<T> i = load_n(a, n), f = load_n(a + H, n);
    const vec<T> g = load_n(a + 2 * H, n), o = load_n(a + 3 * H, n);
    const vec<T> cp = load_n(s.c_prev + b * H + u0, n);
    const vec<T> c = f * cp + i * g;  // the cell before zoneout
    const vec<T> y = activate<T>(v.act_h, c);
    const int64_t at = s.t * v.step_stride + b * H + u0;
    vec<T> direct = zero;
    if (v.keep_h.on) {
      const vec<T> k = v.keep_h.at(at, n);
      direct = k * dh;
      dh = (one - k) * dh;
    }
    T* dcp = s.dc + b * H + u0;
    vec<T> dc_t = load_n(dcp, n), dc_prev = zero;
    if (v.keep_c.on) {
      const vec<T> k = v.keep_c.at(at, n);
      dc_prev = k * dc_t;
      dc_t = (one - k) * dc_t;
    }
    vec<T> dq_i = zero, dq_f = zero, dq_o = zero;  // FGR: dL/dq_t, q_t = [i, f, o]
    if (v.fgr) {
      const T* dz = s.dz + b * s.h_ld + u0;
      dq_i = load_n(dz + H, n), dq_f = load_n(dz + 2 * H, n), dq_o = load_n(dz + 3 * H, n);
      store_n(s.dh_direct + b * s.h_ld + H + u0, zero, n);  // q_{t-1} reaches q_t only via W
      store_n(s.dh_direct + b * s.h_ld + 2 * H + u0, zero, n);
      store_n(s.dh_direct + b * s.h_ld + 3 * H + u0, zero, n);
    }
    const vec<T> da_o = v.no_output ? zero : (dh * y + dq_o) * slope<T>(v.act_gate, o);
    vec<T> dc = dc_t + dh * o * slope<T>(v.act_h, y);
    if (v.p_o) dc = dc + da_o * load_n(v.p_o + u0, n);
    const vec<T> di = dc * g + dq_i, df = dc * cp + dq_f;
    vec<T> da_i = zero, da_f = zero;
    switch (v.gate_mode) {
      case kNoInput: da_f = df * slope<T>(v.act_gate, f); break;
      case kNoForget: da_i = di * slope<T>(v.act_gate, i); break;
      case kForgetIsOneMinusInput: da_i = (di - df) * slope<T>(v.act_gate, i); break;
      case kInputIsOneMinusForget: da_f = (df - di) * slope<T>(v.act_gate, f); break;
      default:
        da_i = di * slope<T>(v.act_gate, i);
        da_f = df * slope<T>(v.act_gate, f);
    }
    dc_prev = dc_prev + dc * f;
    if (v.p_i) dc_prev = dc_prev + da_i * load_n(v.p_i + u0, n);
    if (v.p_f) dc_prev = dc_prev + da_f * load_n(v.p_f + u0, n);
    T* d = s.dgi + b * s.GH + u0;
    store_n(d, da_i, n);
    store_n(d + H, da_f, n);
    store_n(d + 2 * H, dc * i * slope<T>(v.act_g, g), n);
    store_n(d + 3 * H, da_o, n);
    store_n(dcp, dc_prev, n);
    if (v.direct) store_n(s.dh_direct + b * s.h_ld + u0, direct, n);
  }
};

// The GRU (reset after the recurrent product) with other activations, zoneout of h and
// recurrent dropout: r = σ(a_r), z = σ(a_z), n = φ(x_n + r ⊙ (W_hn h̃ + b_hn)),
// h' = (1 - z) n + z h_{t-1}, h_t = k h_{t-1} + (1 - k) h'. act_g is φ, act_gate σ.
struct VariantGRUCell {
  static constexpr int G = 3;
  static constexpr bool kDirect = true;

  template <typename T>
  static void forward(const FwdStep<T>& s, int64_t b, int64_t u0, int n, const vec<T>* acc) {
    const Variant<T>& v = *s.var;
    T* gi = s.gates + b * s.GH + u0;
    const int64_t H = s.H;
    const vec<T> one = splat<T>(T(1));
    const vec<T> r = activate<T>(v.act_gate, acc[0] + load_n(gi, n));
    const vec<T> z = activate<T>(v.act_gate, acc[1] + load_n(gi + H, n));
    const vec<T> hn = s.b_hn ? acc[2] + load_n(s.b_hn + u0, n) : acc[2];
    const vec<T> nn = activate<T>(v.act_g, load_n(gi + 2 * H, n) + r * hn);
    const int64_t at_h = b * s.h_ld + u0;
    const vec<T> hp = load_n(s.h_prev + at_h, n);
    vec<T> h = (one - z) * nn + z * hp;
    if (v.keep_h.on) {
      const vec<T> k = v.keep_h.at(s.t * v.step_stride + b * H + u0, n);
      h = k * hp + (one - k) * h;
    }
    store_n(s.h_new + at_h, h, n);
    store_n(s.out + b * s.out_ld + u0, h, n);
    if (v.rmask) store_n(s.h_in_new + at_h, h * load_n(v.rmask + at_h, n), n);
    if (s.save) {
      store_n(gi, r, n);
      store_n(gi + H, z, n);
      store_n(gi + 2 * H, nn, n);
      store_n(s.extra + b * H + u0, hn, n);
    }
  }

  template <typename T>
  static void backward(const BwdStep<T>& s, int64_t b, int64_t u0, int n, vec<T> dh) {
    const Variant<T>& v = *s.var;
    const int64_t H = s.H;
    const vec<T> one = splat<T>(T(1));
    const T* a = s.gates + b * s.GH + u0;
    const vec<T> r = load_n(a, n), z = load_n(a + H, n), nn = load_n(a + 2 * H, n);
    const vec<T> hn = load_n(s.extra + b * H + u0, n);
    const vec<T> hp = load_n(s.h_prev + b * s.h_ld + u0, n);
    vec<T> direct{};
    if (v.keep_h.on) {
      const vec<T> k = v.keep_h.at(s.t * v.step_stride + b * H + u0, n);
      direct = k * dh;
      dh = (one - k) * dh;
    }
    const vec<T> dan = dh * (one - z) * slope<T>(v.act_g, nn);
    const vec<T> dar = dan * hn * slope<T>(v.act_gate, r);
    const vec<T> daz = dh * (hp - nn) * slope<T>(v.act_gate, z);
    T* di = s.dgi + b * s.GH + u0;
    T* dr = s.dgh + b * s.GH + u0;
    store_n(di, dar, n);
    store_n(di + H, daz, n);
    store_n(di + 2 * H, dan, n);
    store_n(dr, dar, n);
    store_n(dr + H, daz, n);
    store_n(dr + 2 * H, dan * r, n);
    store_n(s.dh_direct + b * s.h_ld + u0, direct + dh * z, n);
  }
};

}  // namespace lstmkit
