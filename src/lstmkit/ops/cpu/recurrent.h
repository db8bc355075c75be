// The sequential part of a layer: the loop over time steps, forward and backward, for one
// or two directions at once. Everything that is not sequential (the input projection and
// the weight gradients) is done with large GEMMs in layer.cpp, but for ``stacked`` loops,
// which multiply x_t by W_ih themselves.
//
// State storage. With ``save`` (training), hs / cs have T + 1 slots in *time* order: slot 0
// holds the initial state of the forward direction and slot t + 1 the state after step t;
// the reverse direction uses slot T for its initial state and slot t for the state after
// step t. The state before step t is then slot t (forward) or t + 1 (reverse), so the
// backward pass finds all of them as one contiguous (T * B, P) matrix. Without ``save``,
// two slots are used in turn.
#pragma once

#include <cstdint>

namespace lstmkit {

template <typename T>
struct Variant;

template <typename T>
struct FwdArgs {
  int64_t T_, B, H, P, GH;
  bool proj, reverse, save;
  bool folded;         // gates already hold W_hh h0 too (one step, see layer.cpp)
  T* gates;            // (T, B, GH) input projection; activations when saving
  T* extra;            // (T, B, H) GRU: saved W_hn h + b_hn; nullptr unless saving
  const T* w_hh;       // (GH, P)
  const T* w_hr;       // (P, H) or nullptr
  const T* b_hn;       // (H,) GRU with bias, else nullptr
  T* hs;               // (T + 1 or 2, B, P) state slots, the initial state already in place
  T* cs;               // (T + 1 or 2, B, H) LSTM cell-state slots, likewise
  T* rs;               // (T or 1, B, H) LSTM with projection: h before the projection
  T* out;              // this direction's first column of the (T, B, D * P) output
  int64_t out_ld;      // D * P
  T* h_n;              // (B, P) final hidden state
  T* c_n;              // (B, H) final cell state (LSTM)
  const int64_t* lengths;  // (B,) or nullptr
  T* packed;           // scratch for W_hh in panels
  T* packed_r;         // scratch for W_hr in panels
  const Variant<T>* var = nullptr;  // variant LSTM options (variant_cells.h)
  // A cell call with few rows (``direct``, implies ``folded``): the workers form their own
  // units' gates, gates = x W_ih^T + h W_hh^T + bias, from the weights as torch stores them.
  bool direct = false;
  int64_t I = 0;
  const T* x = nullptr;     // (B, I)
  const T* w_ih = nullptr;  // (GH, I)
  const T* h_in = nullptr;  // (B, P) what W_hh multiplies
  const T* b_ih = nullptr;  // (GH,) or nullptr: gates += b_ih + b_hh
  const T* b_hh = nullptr;
  T* rec_n = nullptr;       // a GRU's (B, H) W_hn h, formed apart
  // The input product in the time loop (``stacked``, forward_loop decides): each panel holds
  // the unit block's rows of W_ih above those of W_hh, and a step multiplies [x_t, h_{t-1}]
  // by it (x and I as above, x (T, B, I)). No input projection is formed: the cells read
  // the biases, ``bias`` (GH,) = b_ih + b_hh or zeros, in its place; ``gates`` only receives
  // the activations when saving.
  bool stacked = false;
  const T* bias = nullptr;
};

template <typename T>
struct BwdArgs {
  int64_t T_, B, H, P, GH;
  bool proj, reverse;
  const T* gates;      // saved activations (T, B, GH)
  const T* extra;      // GRU (T, B, H)
  const T* hs;         // (T + 1, B, P)
  const T* cs;         // (T + 1, B, H)
  const T* rs;         // (T, B, H)
  const T* w_hh;
  const T* w_hr;
  const T* dout;       // this direction's first column of dL/d(output)
  int64_t dout_ld;
  const T* dh_n;       // (B, P)
  const T* dc_n;       // (B, H) or nullptr
  T* dgi;              // (T, B, GH) out: dL/d(pre-activation), input side
  T* dgh;              // (T, B, GH) out: recurrent side (== dgi except for the GRU)
  T* dh_proj;          // (T, B, P) out: dL/dh per step, for dL/dW_hr (projection only)
  T* dh0;              // (B, P) out, also the carried dL/dh
  T* dc0;              // (B, H) out, also the carried dL/dc (LSTM)
  T* dh_direct;        // (B, P) scratch
  T* dh_step;          // (B, P) scratch (projection only)
  const int64_t* lengths;
  T* packed;
  T* packed_r;
  const Variant<T>* var = nullptr;
};

template <typename T>
void run_forward(int64_t cell, FwdArgs<T>* dirs, int num_dirs, int threads);

template <typename T>
void run_backward(int64_t cell, BwdArgs<T>* dirs, int num_dirs, int threads);

// SIMD lanes of the build, for sizing the panel scratch.
int simd_lanes(bool is_double);

}  // namespace lstmkit
