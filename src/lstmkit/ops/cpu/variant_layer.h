// The variant cells' parts of a layer outside the time loop: reading their extra tensors into
// a Variant per direction, and the gradients of the LSTM's peephole weights.
//
// Extra tensors (``var``), six per direction: p_i, p_f, p_o, keep_c, keep_h, rmask. A
// peephole weight is (H,), or empty when the gate has none; a keep tensor is empty (no
// zoneout), one element (the keep probability in evaluation), (T, B, H) 0/1 masks or the
// (2,) int64 (seed, thr) of masks formed from a hash (training, variant_cells.h: Keep);
// rmask is empty or the (B, H) recurrent dropout mask (training).
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "variant_cells.h"

namespace lstmkit {

constexpr int64_t kVarPerDirection = 6;

// The recurrent dropout mask of direction k, or an undefined tensor.
inline at::Tensor recurrent_mask(at::TensorList var, int64_t k) {
  if (var.empty() || var[k * kVarPerDirection + 5].numel() == 0) return at::Tensor();
  return var[k * kVarPerDirection + 5];
}

// What W_hh multiplies: h (any leading dims, then (B, P)) times the mask, or h itself.
inline at::Tensor recurrent_input(at::TensorList var, int64_t k, const at::Tensor& h) {
  const at::Tensor m = recurrent_mask(var, k);
  return m.defined() ? h * m : h;
}

// The Keep of hashed masks from their code, the int64 (seed, thr).
template <typename T>
Keep<T> hashed_keep(const at::Tensor& code) {
  TORCH_CHECK(code.scalar_type() == at::kLong && code.numel() == 2,
              "lstmkit: hashed masks take their code as the int64 (seed, thr), got ",
              code.scalar_type(), " ", code.sizes());
  const at::Tensor c = code.contiguous();
  Keep<T> keep;
  keep.on = keep.hashed = true;
  keep.seed = uint32_t(c.data_ptr<int64_t>()[0]), keep.thr = uint32_t(c.data_ptr<int64_t>()[1]);
  return keep;
}

template <typename T>
std::vector<Variant<T>> make_variants(int64_t code, at::TensorList var, int64_t D, int64_t T_,
                                      int64_t B, int64_t H, bool proj,
                                      std::vector<at::Tensor>& keep, const at::Tensor& h0) {
  std::vector<Variant<T>> out;
  if (!is_variant(code)) return out;
  TORCH_CHECK(int64_t(var.size()) == kVarPerDirection * D,
              "lstmkit::rnn: a variant LSTM needs 6 extra tensors per direction, got ",
              var.size());
  auto hold = [&keep](const at::Tensor& t) {
    keep.push_back(t.contiguous());
    return static_cast<const T*>(keep.back().data_ptr<T>());
  };
  for (int64_t k = 0; k < D; ++k) {
    Variant<T> v;
    v.decode(code);
    const at::Tensor* e = var.data() + k * kVarPerDirection;
    const T** peeps[3] = {&v.p_i, &v.p_f, &v.p_o};
    for (int j = 0; j < 3; ++j) {
      if (e[j].numel() == 0) continue;
      TORCH_CHECK(e[j].numel() == H, "lstmkit::rnn: a peephole weight must be (H,)");
      *peeps[j] = hold(e[j]);
    }
    for (int j = 0; j < 2; ++j) {
      const at::Tensor& m = e[3 + j];
      if (m.numel() == 0) continue;
      TORCH_CHECK(j == 0 || !proj, "lstmkit::rnn: no zoneout of h with a projection");
      Keep<T>& keep_j = j == 0 ? v.keep_c : v.keep_h;
      if (m.scalar_type() == at::kLong) {
        keep_j = hashed_keep<T>(m);
        continue;
      }
      TORCH_CHECK(m.numel() == 1 || m.numel() == T_ * B * H,
                  "lstmkit::rnn: a zoneout mask must be (T, B, H) or one probability");
      keep_j.on = true;
      if (m.numel() == 1) {
        keep_j.z = m.item<T>();
      } else {
        keep_j.mask = hold(m);
      }
    }
    const at::Tensor m = recurrent_mask(var, k);
    if (m.defined()) {
      TORCH_CHECK(!proj && m.numel() == B * H, "lstmkit::rnn: a recurrent mask must be (B, H)");
      v.rmask = hold(m);
      if (h0.defined()) {  // forward: two slots of h * mask, the initial state's filled
        keep.push_back(at::empty({2, B, H}, m.options()));
        keep.back().select(0, k == 1 ? T_ % 2 : 0).copy_(h0[k] * m);
        v.masked = keep.back().data_ptr<T>();
      }
    }
    v.step_stride = B * H;
    v.direct = !proj;
    out.push_back(v);
  }
  return out;
}

// dL/dp for the peephole weights of every direction (empty where there is none):
// dp_i = sum dA_i * c_{t-1}, dp_f = sum dA_f * c_{t-1}, dp_o = sum dA_o * c'_t with
// c'_t = f * c_{t-1} + i * g the cell before zoneout. gates: (TB, 4H) saved activations,
// c_prev: (TB, H), dgi: (TB, 4H).
inline std::vector<at::Tensor> peephole_grads(at::TensorList var, int64_t k,
                                              const at::Tensor& gates, const at::Tensor& c_prev,
                                              const at::Tensor& dgi, int64_t H) {
  std::vector<at::Tensor> grads;
  const at::Tensor* e = var.data() + k * kVarPerDirection;
  for (int j = 0; j < int(kVarPerDirection); ++j) {
    if (j >= 3 || e[j].numel() == 0) {
      grads.push_back(at::empty({0}, dgi.options()));
      continue;
    }
    const int64_t gate = j == 2 ? 3 : j;  // i, f, o among i, f, g, o
    at::Tensor c = c_prev;
    if (j == 2) {  // c' = f * c_{t-1} + i * g
      c = gates.narrow(1, H, H) * c_prev + gates.narrow(1, 0, H) * gates.narrow(1, 2 * H, H);
    }
    grads.push_back((dgi.narrow(1, gate * H, H) * c).sum(0));
  }
  return grads;
}

}  // namespace lstmkit
