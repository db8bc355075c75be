// Registration of the operators with torch's dispatcher, and their autograd.
//
//   lstmkit::rnn      one layer (1 or 2 directions), differentiable: what lstmkit calls
//   lstmkit::rnn_fwd  the forward pass; with save=True it also returns the workspace the
//                     backward pass reads (gate activations, states)
//   lstmkit::rnn_bwd  the backward pass
//
// The autograd kernel of lstmkit::rnn calls rnn_fwd / rnn_bwd through the dispatcher, so
// tracers (torch.compile, torch.export) see those ops and use their fake implementations,
// registered in Python (lstmkit/ops/fused.py).
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <atomic>

#include "layer.h"
#include "products.h"
#include "team.h"
#include "variant_layer.h"

namespace lstmkit {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using FwdSig = decltype(rnn_fwd_cpu);
using BwdSig = decltype(rnn_bwd_cpu);

const c10::TypedOperatorHandle<FwdSig>& fwd_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("lstmkit::rnn_fwd", "").typed<FwdSig>();
  return op;
}

const c10::TypedOperatorHandle<BwdSig>& bwd_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("lstmkit::rnn_bwd", "").typed<BwdSig>();
  return op;
}

std::tuple<Tensor, Tensor, Tensor> rnn_variant_cpu(const Tensor& x, const Tensor& h0,
                                                   const OptTensor& c0, TensorList w_ih,
                                                   TensorList w_hh, TensorList b_ih,
                                                   TensorList b_hh, TensorList w_hr,
                                                   const OptTensor& lengths, int64_t cell,
                                                   TensorList var) {
  auto [out, h_n, c_n, ws] =
      rnn_fwd_cpu(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell, false, var);
  return {out, h_n, c_n};
}

std::tuple<Tensor, Tensor, Tensor> rnn_cpu(const Tensor& x, const Tensor& h0,
                                           const OptTensor& c0, TensorList w_ih,
                                           TensorList w_hh, TensorList b_ih, TensorList b_hh,
                                           TensorList w_hr, const OptTensor& lengths,
                                           int64_t cell) {
  return rnn_variant_cpu(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell, {});
}

Tensors concat(std::initializer_list<TensorList> lists) {
  Tensors all;
  for (TensorList l : lists) all.insert(all.end(), l.begin(), l.end());
  return all;
}

// Sizes of the weight lists, kept to split the saved tensors again.
struct Counts {
  int64_t D, b_ih, b_hh, w_hr;
};

struct RnnFunction : public torch::autograd::Function<RnnFunction> {
  static variable_list forward(AutogradContext* ctx, const Tensor& x, const Tensor& h0,
                               const OptTensor& c0, TensorList w_ih, TensorList w_hh,
                               TensorList b_ih, TensorList b_hh, TensorList w_hr,
                               const OptTensor& lengths, int64_t cell, TensorList var) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [out, h_n, c_n, ws] =
        fwd_op().call(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell, true, var);
    ctx->mark_non_differentiable({ws});
    Tensors saved = concat({{x, h0, c0.value_or(Tensor()), lengths.value_or(Tensor()), ws},
                            w_ih, w_hh, b_ih, b_hh, w_hr, var});
    ctx->save_for_backward(saved);
    ctx->saved_data["cell"] = cell;
    ctx->saved_data["counts"] = std::vector<int64_t>{int64_t(w_ih.size()), int64_t(b_ih.size()),
                                                     int64_t(b_hh.size()), int64_t(w_hr.size()),
                                                     int64_t(var.size())};
    return {out, h_n, c_n};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // create_graph=True runs the backward pass with grad mode on; this one is not itself
    // differentiable, so say so instead of returning gradients without a graph.
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "lstmkit::rnn: the fused kernels do not support double backward "
                "(create_graph=True); use impl='reference' for higher-order gradients");
    const Tensors saved = ctx->get_saved_variables();
    const auto c = ctx->saved_data["counts"].toIntVector();
    const int64_t D = c[0];
    const Tensor &x = saved[0], &h0 = saved[1], &ws = saved[4];
    const OptTensor c0 = saved[2].defined() ? OptTensor(saved[2]) : std::nullopt;
    const OptTensor lengths = saved[3].defined() ? OptTensor(saved[3]) : std::nullopt;
    auto take = [&, pos = size_t(5)](int64_t n) mutable {
      Tensors part(saved.begin() + pos, saved.begin() + pos + n);
      pos += n;
      return part;
    };
    const Tensors w_ih = take(D), w_hh = take(D), b_ih = take(c[1]), b_hh = take(c[2]),
                  w_hr = take(c[3]), var = take(c[4]);
    // Edges: x, h0, [c0], then every weight in order.
    const size_t first_w = c0 ? 3 : 2;
    const size_t num_w = w_ih.size() + w_hh.size() + b_ih.size() + b_hh.size() + w_hr.size();
    bool need_w = false;
    for (size_t i = 0; i < num_w; ++i) need_w = need_w || ctx->needs_input_grad(first_w + i);
    const OptTensor grad_c = c0 ? OptTensor(grads[2]) : std::nullopt;
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dvar] =
        bwd_op().call(grads[0], grads[1], grad_c, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr,
                      lengths, ws, ctx->saved_data["cell"].toInt(), ctx->needs_input_grad(0),
                      need_w, var);
    // One entry per forward argument, undefined where there is no gradient.
    variable_list result{ctx->needs_input_grad(0) ? dx : Tensor(), dh0, c0 ? dc0 : Tensor()};
    for (const Tensors* list : {&dw_ih, &dw_hh, &db_ih, &db_hh, &dw_hr})
      for (const Tensor& g : *list) result.push_back(need_w ? g : Tensor());
    result.push_back(Tensor());  // lengths
    result.push_back(Tensor());  // cell
    // var: (H,) gradients of the peepholes; (0,) for the rest, which never need one
    for (const Tensor& g : dvar) result.push_back(g);
    return result;
  }
};

std::tuple<Tensor, Tensor, Tensor> rnn_variant_autograd(
    const Tensor& x, const Tensor& h0, const OptTensor& c0, TensorList w_ih, TensorList w_hh,
    TensorList b_ih, TensorList b_hh, TensorList w_hr, const OptTensor& lengths, int64_t cell,
    TensorList var) {
  auto needs = [](const Tensor& t) { return t.defined() && t.requires_grad(); };
  bool any = needs(x) || needs(h0) || (c0 && needs(*c0));
  for (TensorList l : {w_ih, w_hh, b_ih, b_hh, w_hr, var})
    for (const Tensor& t : l) any = any || needs(t);
  if (!(any && at::GradMode::is_enabled())) {
    at::AutoDispatchBelowADInplaceOrView guard;
    if (var.empty()) {
      static const auto op = c10::Dispatcher::singleton()
                                 .findSchemaOrThrow("lstmkit::rnn", "")
                                 .typed<decltype(rnn_cpu)>();
      return op.call(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell);
    }
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("lstmkit::rnn_variant", "")
                               .typed<decltype(rnn_variant_cpu)>();
    return op.call(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell, var);
  }
  auto out = RnnFunction::apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell, var);
  return {out[0], out[1], out[2]};
}

std::tuple<Tensor, Tensor, Tensor> rnn_autograd(const Tensor& x, const Tensor& h0,
                                                const OptTensor& c0, TensorList w_ih,
                                                TensorList w_hh, TensorList b_ih,
                                                TensorList b_hh, TensorList w_hr,
                                                const OptTensor& lengths, int64_t cell) {
  return rnn_variant_autograd(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, cell, {});
}

// Whether the kernels may run on ``t`` directly: a dense CPU tensor that needs no gradient
// here, with no tensor subclass, functionalization or vmap in between (fake tensors of the
// tracers, for one; the caller checks for modes). Undefined tensors pass.
bool plain_inference(const Tensor& t) {
  using c10::DispatchKey;
  static const c10::DispatchKeySet allowed({DispatchKey::CPU, DispatchKey::AutogradCPU,
                                            DispatchKey::ADInplaceOrView,
                                            DispatchKey::AutocastCPU});
  if (!t.defined()) return true;
  return allowed.has_all(t.key_set()) && !(t.requires_grad() && at::GradMode::is_enabled());
}

}  // namespace

bool runs_directly(const Tensor& x, const Tensor& h, const OptTensor& c, const Tensor& w_ih,
                   const Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh,
                   TensorList var) {
  // No mode: the thread adds no keys beyond the ones it always includes (BackendSelect,
  // ADInplaceOrView; inference mode leaves the latter out).
  const auto modes = c10::impl::tls_local_dispatch_key_set().included_;
  bool direct = c10::default_included_set.isSupersetOf(modes);
  for (const Tensor* t : {&x, &h, &w_ih, &w_hh}) direct = direct && plain_inference(*t);
  for (const OptTensor* t : {&c, &b_ih, &b_hh}) direct = direct && (!*t || plain_inference(**t));
  for (const Tensor& t : var) direct = direct && plain_inference(t);
  return direct;
}

// One step of a cell, x (B, I), h (B, P), c (B, H), as a sequence of one step of one
// direction. A composite: autograd and the tracers see the rnn / rnn_variant call inside it.
// When nothing needs a gradient, the tensors are plain CPU tensors and no mode is active, it
// calls a kernel itself, without the dispatcher: cell_direct (layer.h) for a plain cell with
// few rows, else the forward kernel of a sequence (its views made below autograd's keys,
// which costs less). Called from Python (bindings.cpp) or as lstmkit::cell. Returns
// (h', c'); c' is empty for the GRU and the RNN.
std::tuple<Tensor, Tensor> cell_step(const Tensor& x, const Tensor& h, const OptTensor& c,
                                     const Tensor& w_ih, const Tensor& w_hh,
                                     const OptTensor& b_ih, const OptTensor& b_hh, int64_t cell,
                                     TensorList var) {
  TORCH_CHECK(x.dim() == 2 && h.dim() == 2, "lstmkit::cell: x and h must be (B, I) and (B, P)");
  const bool direct = runs_directly(x, h, c, w_ih, w_hh, b_ih, b_hh, var);
  if (direct && var.empty() && fits_direct_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, cell))
    return cell_direct(x, h, c, w_ih, w_hh, b_ih, b_hh, cell);
  const Tensors bi = b_ih ? Tensors{*b_ih} : Tensors{}, bh = b_hh ? Tensors{*b_hh} : Tensors{};
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("lstmkit::rnn_variant", "")
                             .typed<decltype(rnn_variant_cpu)>();
  static const auto plain = c10::Dispatcher::singleton()
                                .findSchemaOrThrow("lstmkit::rnn", "")
                                .typed<decltype(rnn_cpu)>();
  std::optional<at::AutoDispatchBelowADInplaceOrView> below;  // views autograd never sees
  if (direct) below.emplace();
  const Tensor x1 = x.unsqueeze(0), h1 = h.unsqueeze(0);  // (1, B, I), (1, B, P)
  const OptTensor c0 = c ? OptTensor(c->unsqueeze(0)) : std::nullopt;
  const TensorList wi(w_ih), wh(w_hh);  // one-element views of the arguments
  auto [out, h_n, c_n] =
      direct        ? rnn_variant_cpu(x1, h1, c0, wi, wh, bi, bh, {}, std::nullopt, cell, var)
      : var.empty() ? plain.call(x1, h1, c0, wi, wh, bi, bh, {}, std::nullopt, cell)
                    : op.call(x1, h1, c0, wi, wh, bi, bh, {}, std::nullopt, cell, var);
  return {h_n.squeeze(0), c ? c_n.squeeze(0) : c_n.view({-1})};
}

namespace {

// The 0/1 values of hashed keep masks, code = (seed, thr), for the elements [0, numel) of
// their flat index: what the kernels form in place (variant_cells.h: Keep), for zoneout's
// masks outside the kernels and for weight drop's mask of W_hh.
template <typename T>
void fill_keep(const Tensor& code, Tensor& out) {
  constexpr int N = Simd<T>::N;
  const Keep<T> keep = hashed_keep<T>(code);
  T* o = out.data_ptr<T>();
  const int64_t numel = out.numel();
  at::parallel_for(0, blocks(numel, N), 4096, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int n = int(std::min<int64_t>(N, numel - b * N));
      store_n(o + b * N, keep.at(b * N, n), n);
    }
  });
}

Tensor keep_mask(const Tensor& code, int64_t numel, at::ScalarType dtype) {
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble,
              "lstmkit::keep_mask: float32 or float64, got ", dtype);
  Tensor out = at::empty({numel}, code.options().dtype(dtype));
  if (dtype == at::kFloat) {
    fill_keep<float>(code, out);
  } else {
    fill_keep<double>(code, out);
  }
  return out;
}

// How many threads a time loop's team gets when it asks for ``threads`` (for tests: a
// build without OpenMP would quietly run every loop on one thread).
int64_t team_size(int64_t threads) {
  std::atomic<int> size{0};
  run_team(1, int(threads), [&](const Worker& w) {
    if (w.index == 0) size.store(w.size);
  });
  return size.load();
}

}  // namespace

}  // namespace lstmkit

#define LSTMKIT_RNN_ARGS                                                             \
  "Tensor x, Tensor h0, Tensor? c0, Tensor[] w_ih, Tensor[] w_hh, Tensor[] b_ih, " \
  "Tensor[] b_hh, Tensor[] w_hr, Tensor? lengths, int cell"

TORCH_LIBRARY(lstmkit, m) {
  m.def("rnn(" LSTMKIT_RNN_ARGS ") -> (Tensor, Tensor, Tensor)");
  // A variant LSTM or GRU: rnn with its extra tensors (variant_layer.h); var is empty for the
  // plain cells in rnn_fwd / rnn_bwd.
  m.def("rnn_variant(" LSTMKIT_RNN_ARGS ", Tensor[] var) -> (Tensor, Tensor, Tensor)");
  m.def("rnn_fwd(" LSTMKIT_RNN_ARGS
        ", bool save, Tensor[] var) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "rnn_bwd(Tensor grad_out, Tensor grad_h_n, Tensor? grad_c_n, Tensor x, Tensor h0, "
      "Tensor? c0, Tensor[] w_ih, Tensor[] w_hh, Tensor[] b_ih, Tensor[] b_hh, Tensor[] w_hr, "
      "Tensor? lengths, Tensor ws, int cell, bool need_input, bool need_weights, "
      "Tensor[] var) -> "
      "(Tensor, Tensor, Tensor, Tensor[], Tensor[], Tensor[], Tensor[], Tensor[], Tensor[])");
  m.def(
      "cell(Tensor x, Tensor h, Tensor? c, Tensor w_ih, Tensor w_hh, Tensor? b_ih, "
      "Tensor? b_hh, int cell, Tensor[] var) -> (Tensor, Tensor)");
  m.def("team_size(int threads) -> int", &lstmkit::team_size);
  m.def("keep_mask(Tensor code, int numel, ScalarType dtype) -> Tensor");
  // The large products of a layer (matmul.h), for tests and measurements.
  m.def("product(Tensor a, bool ta, Tensor b, bool tb, Tensor? bias) -> Tensor");
}

TORCH_LIBRARY_IMPL(lstmkit, CPU, m) {
  m.impl("rnn", &lstmkit::rnn_cpu);
  m.impl("rnn_variant", &lstmkit::rnn_variant_cpu);
  m.impl("rnn_fwd", &lstmkit::rnn_fwd_cpu);
  m.impl("rnn_bwd", &lstmkit::rnn_bwd_cpu);
  m.impl("keep_mask", &lstmkit::keep_mask);
  m.impl("product", [](const at::Tensor& a, bool ta, const at::Tensor& b, bool tb,
                       const std::optional<at::Tensor>& bias) {
    return lstmkit::product(a, ta, b, tb, bias);
  });
}

TORCH_LIBRARY_IMPL(lstmkit, CompositeImplicitAutograd, m) {
  m.impl("cell", &lstmkit::cell_step);
}

TORCH_LIBRARY_IMPL(lstmkit, Autograd, m) {
  m.impl("rnn", &lstmkit::rnn_autograd);
  m.impl("rnn_variant", &lstmkit::rnn_variant_autograd);
}
