// The per-unit math of each cell, forward and backward: the only place that knows the gates.
//
// The drivers (forward.cpp, backward.cpp) run the time loop, the matrix products and the
// masking for lengths; for every (batch row, block of N units) they call a cell's
//
//     forward(step, b, u0, n, acc)   acc[g] = (W_hh h_{t-1})[gate g, units u0 .. u0+n)
//     backward(step, b, u0, n, dh)   dh = dL/d(cell output) for those units
//
// only for rows whose step is inside the sequence. A new variant of a cell (peepholes,
// coupled gates, ...) is a new struct here with the same two functions (and, if it has
// per-unit parameters of its own, new pointers in FwdStep / BwdStep).
#pragma once

#include <cstdint>

#include "simd.h"

namespace lstmkit {

enum CellKind : int64_t {
  kLSTM = 0, kGRU = 1, kRNNTanh = 2, kRNNRelu = 3, kLSTMVariant = 4, kGRUVariant = 5
};

// A cell code is its kind in the low 4 bits; a variant LSTM adds its options above them
// (variant_cells.h). base_kind: the kind whose storage layout it shares.
inline int64_t cell_kind(int64_t code) { return code & 15; }
inline bool is_variant(int64_t code) {
  return cell_kind(code) == kLSTMVariant || cell_kind(code) == kGRUVariant;
}
inline int64_t base_kind(int64_t code) {
  const int64_t kind = cell_kind(code);
  return kind == kLSTMVariant ? int64_t(kLSTM) : kind == kGRUVariant ? int64_t(kGRU) : kind;
}
// A variant LSTM with the gate recurrence of the FGR ablation (bit 17, variant_cells.h). Its
// recurrent input is z = [h, q] (P = 4H): q = [i, f, o] of the last step, and W_hh is
// [W_hh | W_gg with zero rows for g], (4H, 4H), so the gates' recurrence is one product.
inline bool is_fgr(int64_t code) {
  return cell_kind(code) == kLSTMVariant && ((code >> 17) & 1);
}

template <typename T>
struct Variant;  // the options and extra tensors of a variant LSTM or GRU (variant_cells.h)

// Pointers of one time step of one direction; rows are batch entries.
template <typename T>
struct FwdStep {
  int64_t H, GH;
  T* gates;          // (B, GH): input projection (+ foldable biases); activations if save
  const T* pre;      // what the plain cells add to acc: ``gates``, or the biases (pre_ld 0)
  int64_t pre_ld;    // row stride of pre: GH, or 0 (the same biases for every row)
  const T* h_prev;   // (B, P)
  int64_t h_ld;      // row stride of h_prev and h_new (P)
  T* h_new;          // (B, P); unused by an LSTM with projection (phase two writes it)
  T* out;            // (B, ...) this direction's columns of the output
  int64_t out_ld;
  const T* c_prev;   // (B, H) LSTM
  T* c_new;          // (B, H) LSTM
  T* r;              // (B, H) LSTM with projection: o * tanh(c) before the projection
  T* extra;          // (B, H) GRU: W_hn h + b_hn, saved for the backward pass
  const T* b_hn;     // (H,) GRU or nullptr
  bool save;
  const Variant<T>* var = nullptr;  // variant LSTM only
  int64_t t = 0;                    // the step's time index
  const T* h_in = nullptr;          // (B, P) what W_hh multiplies when it is not h_prev
  T* h_in_new = nullptr;            // (B, P) the same for the next step
};

template <typename T>
struct BwdStep {
  int64_t H, GH;
  const T* gates;    // (B, GH) saved activations
  const T* extra;    // (B, H) GRU
  const T* h_prev;   // (B, P)
  int64_t h_ld;
  const T* c_prev;   // (B, H)
  const T* c_new;    // (B, H)
  T* dc;             // (B, H) carried dL/dc, updated in place
  T* dgi;            // (B, GH) dL/d(pre-activation), input side
  T* dgh;            // (B, GH) recurrent side (differs from dgi only for the GRU)
  T* dh_direct;      // (B, H) the part of dL/dh_{t-1} that does not go through W_hh,
                     // written by cells with kDirect (the driver zeroes it for the others)
  const T* dz = nullptr;  // (B, P) carried dL/dz_t of an FGR cell: its q part is read here
  const Variant<T>* var = nullptr;  // variant LSTM only
  int64_t t = 0;
};

struct LSTMCell {
  static constexpr int G = 4;
  static constexpr bool kDirect = false;  // dL/dh_{t-1} only through W_hh

  template <typename T>
  static void forward(const FwdStep<T>& s, int64_t b, int64_t u0, int n, const vec<T>* acc) {
    T* gi = s.gates + b * s.GH + u0;
    const T* pi = s.pre + b * s.pre_ld + u0;
    const int64_t H = s.H;
    const vec<T> i = vsigmoid<T>(acc[0] + load_n(pi, n));
    const vec<T> f = vsigmoid<T>(acc[1] + load_n(pi + H, n));
    const vec<T> g = vtanh<T>(acc[2] + load_n(pi + 2 * H, n));
    const vec<T> o = vsigmoid<T>(acc[3] + load_n(pi + 3 * H, n));
    const vec<T> c = f * load_n(s.c_prev + b * H + u0, n) + i * g;
    const vec<T> h = o * vtanh<T>(c);
    store_n(s.c_new + b * H + u0, c, n);
    if (s.r) {
      store_n(s.r + b * H + u0, h, n);
    } else {
      store_n(s.h_new + b * s.h_ld + u0, h, n);
      store_n(s.out + b * s.out_ld + u0, h, n);
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
    const int64_t H = s.H;
    const T* a = s.gates + b * s.GH + u0;
    const vec<T> i = load_n(a, n), f = load_n(a + H, n);
    const vec<T> g = load_n(a + 2 * H, n), o = load_n(a + 3 * H, n);
    const vec<T> tc = vtanh<T>(load_n(s.c_new + b * H + u0, n));
    T* dcp = s.dc + b * H + u0;
    const vec<T> dc = load_n(dcp, n) + dh * o * (T(1) - tc * tc);
    T* d = s.dgi + b * s.GH + u0;
    store_n(d, dc * g * i * (T(1) - i), n);
    store_n(d + H, dc * load_n(s.c_prev + b * H + u0, n) * f * (T(1) - f), n);
    store_n(d + 2 * H, dc * i * (T(1) - g * g), n);
    store_n(d + 3 * H, dh * tc * o * (T(1) - o), n);
    store_n(dcp, dc * f, n);
  }
};

// GRU with the reset gate applied after the recurrent product (torch.nn.GRU):
// n = tanh(gi_n + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h.
struct GRUCell {
  static constexpr int G = 3;
  static constexpr bool kDirect = true;  // h' = ... + z * h: backward writes dh_direct

  template <typename T>
  static void forward(const FwdStep<T>& s, int64_t b, int64_t u0, int n, const vec<T>* acc) {
    T* gi = s.gates + b * s.GH + u0;
    const T* pi = s.pre + b * s.pre_ld + u0;
    const int64_t H = s.H;
    const vec<T> r = vsigmoid<T>(acc[0] + load_n(pi, n));
    const vec<T> z = vsigmoid<T>(acc[1] + load_n(pi + H, n));
    const vec<T> hn = s.b_hn ? acc[2] + load_n(s.b_hn + u0, n) : acc[2];
    const vec<T> nn = vtanh<T>(load_n(pi + 2 * H, n) + r * hn);
    const vec<T> hp = load_n(s.h_prev + b * s.h_ld + u0, n);
    const vec<T> h = (T(1) - z) * nn + z * hp;
    store_n(s.h_new + b * s.h_ld + u0, h, n);
    store_n(s.out + b * s.out_ld + u0, h, n);
    if (s.save) {
      store_n(gi, r, n);
      store_n(gi + H, z, n);
      store_n(gi + 2 * H, nn, n);
      store_n(s.extra + b * H + u0, hn, n);
    }
  }

  template <typename T>
  static void backward(const BwdStep<T>& s, int64_t b, int64_t u0, int n, vec<T> dh) {
    const int64_t H = s.H;
    const T* a = s.gates + b * s.GH + u0;
    const vec<T> r = load_n(a, n), z = load_n(a + H, n), nn = load_n(a + 2 * H, n);
    const vec<T> hn = load_n(s.extra + b * H + u0, n);
    const vec<T> hp = load_n(s.h_prev + b * s.h_ld + u0, n);
    const vec<T> dan = dh * (T(1) - z) * (T(1) - nn * nn);
    const vec<T> dar = dan * hn * r * (T(1) - r);
    const vec<T> daz = dh * (hp - nn) * z * (T(1) - z);
    T* di = s.dgi + b * s.GH + u0;
    T* dr = s.dgh + b * s.GH + u0;
    store_n(di, dar, n);
    store_n(di + H, daz, n);
    store_n(di + 2 * H, dan, n);
    store_n(dr, dar, n);
    store_n(dr + H, daz, n);
    store_n(dr + 2 * H, dan * r, n);
    store_n(s.dh_direct + b * s.h_ld + u0, dh * z, n);
  }
};

template <bool Relu>
struct ElmanCell {
  static constexpr int G = 1;
  static constexpr bool kDirect = false;

  template <typename T>
  static void forward(const FwdStep<T>& s, int64_t b, int64_t u0, int n, const vec<T>* acc) {
    const vec<T> pre = acc[0] + load_n(s.pre + b * s.pre_ld + u0, n);
    const vec<T> h = Relu ? vrelu<T>(pre) : vtanh<T>(pre);
    store_n(s.h_new + b * s.h_ld + u0, h, n);
    store_n(s.out + b * s.out_ld + u0, h, n);
    if (s.save) store_n(s.gates + b * s.GH + u0, h, n);
  }

  template <typename T>
  static void backward(const BwdStep<T>& s, int64_t b, int64_t u0, int n, vec<T> dh) {
    const vec<T> h = load_n(s.gates + b * s.GH + u0, n);
    vec<T> da;
    if constexpr (Relu) {
      da = h > splat<T>(T(0)) ? dh : vec<T>{};
    } else {
      da = dh * (T(1) - h * h);
    }
    store_n(s.dgi + b * s.GH + u0, da, n);
  }
};

}  // namespace lstmkit
