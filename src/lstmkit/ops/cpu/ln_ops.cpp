// The operators of the layer-normalised LSTM and GRU: lstmkit::ln_fwd / lstmkit::ln_bwd
// (their autograd is registered in Python, lstmkit/ops/fused_ln.py) and lstmkit::linear,
// the input projection. The time loops are in ln_loop.cpp.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "layer.h"
#include "ln_loop.h"
#include "memory.h"
#include "products.h"
#include "variant_layer.h"

namespace lstmkit {
namespace {

inline int64_t round_up_to(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Saved per direction: act | zhat | rstd_hh | hs | (LSTM) cs | cn | chat | rstd_c, (GRU) hn
// | mean_ih | rstd_ih (the input side's statistics, read by the backward in Python).
struct LnLayout {
  int64_t act, zhat, rstd_hh, hs, cs, cn, chat, rstd_c, hn, mean_ih, rstd_ih, total;
};

LnLayout ln_layout(int64_t T_, int64_t B, int64_t H, bool lstm) {
  const int64_t TB = T_ * B, GH = (lstm ? 4 : 3) * H;
  LnLayout l;
  l.act = 0, l.zhat = TB * GH, l.rstd_hh = 2 * TB * GH, l.hs = l.rstd_hh + TB;
  l.cs = l.hs + (T_ + 1) * B * H;
  l.cn = l.cs + (lstm ? (T_ + 1) * B * H : 0);
  l.chat = l.cn + (lstm ? TB * H : 0);
  l.rstd_c = l.chat + (lstm ? TB * H : 0);
  l.hn = l.rstd_c + (lstm ? TB : 0);
  l.mean_ih = l.hn + (lstm ? 0 : TB * H);
  l.rstd_ih = l.mean_ih + TB;
  l.total = l.rstd_ih + TB;
  return l;
}

struct LnDims {
  int64_t T_, B, H, GH, D;
  bool lstm;
};

LnDims ln_dims(at::IntArrayRef gx, const Tensor& h0, const Tensor& w_hh, int64_t code) {
  TORCH_CHECK(is_variant(code), "lstmkit::ln_fwd: a variant LSTM or GRU cell code");
  LnDims d;
  d.lstm = base_kind(code) == kLSTM;
  TORCH_CHECK(w_hh.dim() == 3 && gx.size() == 3 && h0.dim() == 3,
              "lstmkit::ln_fwd: gx (T, B, D*G*H), h0 (D, B, H), w_hh (D, G*H, H)");
  d.D = w_hh.size(0), d.GH = w_hh.size(1), d.H = w_hh.size(2);
  d.T_ = gx[0], d.B = gx[1];
  TORCH_CHECK(d.GH == (d.lstm ? 4 : 3) * d.H && gx[2] == d.D * d.GH,
              "lstmkit::ln_fwd: gx and w_hh do not match");
  TORCH_CHECK(h0.sizes() == at::IntArrayRef({d.D, d.B, d.H}), "lstmkit::ln_fwd: h0 (D, B, H)");
  return d;
}

// The pointers of direction k into the workspace and the parameters.
template <typename T>
LnArgs<T> ln_args(const LnDims& d, int64_t k, const Tensor& ws, const Tensor& w_hh,
                  const Tensor& g_hh, const Tensor& b_hh, const Tensor& g_c, const Tensor& b_c,
                  const OptTensor& lengths, const Variant<T>* var, bool save) {
  const LnLayout l = ln_layout(save ? d.T_ : 1, d.B, d.H, d.lstm);
  T* base = ws[k].data_ptr<T>();
  LnArgs<T> a{};
  a.T_ = d.T_, a.B = d.B, a.H = d.H, a.GH = d.GH, a.ld = d.D * d.GH;
  a.lstm = d.lstm, a.reverse = k == 1, a.save = save;
  a.w_hh = w_hh[k].data_ptr<T>();
  a.g_hh = g_hh[k].data_ptr<T>(), a.b_hh = b_hh[k].data_ptr<T>();
  a.g_c = d.lstm ? g_c[k].data_ptr<T>() : nullptr;
  a.b_c = d.lstm ? b_c[k].data_ptr<T>() : nullptr;
  a.act = base + l.act, a.zhat = base + l.zhat, a.rstd_hh = base + l.rstd_hh;
  a.hs = base + l.hs;
  a.cs = d.lstm ? base + l.cs : nullptr, a.cn = d.lstm ? base + l.cn : nullptr;
  a.chat = d.lstm ? base + l.chat : nullptr, a.rstd_c = d.lstm ? base + l.rstd_c : nullptr;
  a.hn = d.lstm ? nullptr : base + l.hn;
  a.mean_ih = base + l.mean_ih, a.rstd_ih = base + l.rstd_ih;
  a.lengths = lengths ? lengths->data_ptr<int64_t>() : nullptr;
  a.var = var;
  return a;
}

template <typename T>
void ln_forward(const LnDims& d, const Tensor& gx, const Tensor& g_ih, const Tensor& b_ih,
                const Tensor& h0, const OptTensor& c0, const Tensor& w_hh, const Tensor& g_hh,
                const Tensor& b_hh, const Tensor& g_c, const Tensor& b_c,
                const OptTensor& lengths, int64_t code, TensorList var, bool save, Tensor& out,
                Tensor& ws) {
  const int N = Simd<T>::N;
  Tensors keep;
  const auto vars = make_variants<T>(code, var, d.D, d.T_, d.B, d.H, false, keep, Tensor());
  const int64_t panel = round_up_to(d.H, N) * d.GH;
  Tensor work = kept_empty({d.D, panel + d.B * d.GH + d.B * d.H}, gx.options());
  std::vector<LnArgs<T>> args;
  for (int64_t k = 0; k < d.D; ++k) {
    LnArgs<T> a = ln_args<T>(d, k, ws, w_hh, g_hh, b_hh, g_c, b_c, lengths, &vars[k], save);
    a.gx = gx.data_ptr<T>() + k * d.GH;
    a.g_ih = g_ih[k].data_ptr<T>(), a.b_ih = b_ih[k].data_ptr<T>();
    a.out = out.data_ptr<T>() + k * d.H, a.out_ld = d.D * d.H;
    a.packed = work[k].data_ptr<T>(), a.raw = a.packed + panel;
    const int64_t first = (save && k == 1) ? d.T_ : 0;  // slot of the initial state
    std::copy_n(h0[k].data_ptr<T>(), d.B * d.H, a.hs + first * d.B * d.H);
    if (d.lstm) std::copy_n(c0->select(0, k).data_ptr<T>(), d.B * d.H, a.cs + first * d.B * d.H);
    if (vars[k].rmask) {
      a.masked = a.raw + d.B * d.GH;
      for (int64_t i = 0; i < d.B * d.H; ++i) a.masked[i] = a.hs[first * d.B * d.H + i] * vars[k].rmask[i];
    }
    args.push_back(a);
  }
  run_ln<T>(true, args, ln_threads(d.B, d.H, d.GH, d.D, N));
}

std::tuple<Tensor, Tensor, Tensor, Tensor> ln_fwd_cpu(
    const Tensor& gx, const Tensor& g_ih, const Tensor& b_ih, const Tensor& h0,
    const OptTensor& c0, const Tensor& w_hh, const Tensor& g_hh, const Tensor& b_hh,
    const Tensor& g_c, const Tensor& b_c, const OptTensor& lengths, int64_t cell,
    TensorList var, bool save) {
  const LnDims d = ln_dims(gx.sizes(), h0, w_hh, cell);
  for (const Tensor* p : {&g_ih, &b_ih, &g_hh, &b_hh})
    TORCH_CHECK(p->sizes() == at::IntArrayRef({d.D, d.GH}),
                "lstmkit::ln_fwd: gains and biases must be (D, G*H) = (", d.D, ", ", d.GH,
                "), got ", p->sizes());
  TORCH_CHECK(!d.lstm || (c0 && c0->sizes() == h0.sizes()), "lstmkit::ln_fwd: c0 (D, B, H)");
  const LnLayout l = ln_layout(save ? d.T_ : 1, d.B, d.H, d.lstm);
  Tensor ws = kept_empty({d.D, l.total}, gx.options());
  Tensor out = kept_empty({d.T_, d.B, d.D * d.H}, gx.options());
  const Tensor gxc = gx.contiguous(), h0c = h0.contiguous(), w = w_hh.contiguous();
  const Tensor ghh = g_hh.contiguous(), bhh = b_hh.contiguous();
  const Tensor gih = g_ih.contiguous(), bih = b_ih.contiguous();
  const Tensor gc = g_c.contiguous(), bc = b_c.contiguous();
  const OptTensor c0c = c0 ? OptTensor(c0->contiguous()) : std::nullopt;
  const OptTensor len = lengths ? OptTensor(lengths->to(at::kLong).contiguous()) : std::nullopt;
  if (gx.scalar_type() == at::kFloat) {
    ln_forward<float>(d, gxc, gih, bih, h0c, c0c, w, ghh, bhh, gc, bc, len, cell, var, save,
                      out, ws);
  } else {
    ln_forward<double>(d, gxc, gih, bih, h0c, c0c, w, ghh, bhh, gc, bc, len, cell, var, save,
                       out, ws);
  }
  // The final state: slot T (forward) or 0 (reverse) of hs / cs; without saving, T % 2.
  Tensor h_n = at::empty({d.D, d.B, d.H}, gx.options());
  Tensor c_n = at::empty({d.lstm ? d.D : 0, d.B, d.H}, gx.options());
  for (int64_t k = 0; k < d.D; ++k) {
    const int64_t last = save ? (k == 1 ? 0 : d.T_) : d.T_ % 2;
    auto slot = [&](int64_t offset) {
      return ws[k].narrow(0, offset + last * d.B * d.H, d.B * d.H).view({d.B, d.H});
    };
    h_n[k].copy_(slot(l.hs));
    if (d.lstm) c_n[k].copy_(slot(l.cs));
  }
  return {out, h_n, c_n, ws};
}

// Direction k's peephole gradients, appended to ``out``: p_i, p_f from c_{t-1} (TB, H),
// p_o from c' (TB, H); da: (TB, 4H) pre-activation gradients.
void peephole_grads(TensorList var, int64_t k, const Tensor& da, const Tensor& c_prev,
                    const Tensor& cn, int64_t H, Tensors& out) {
  const Tensor* e = var.data() + k * kVarPerDirection;
  for (int j = 0; j < 3; ++j) {
    if (e[j].numel() == 0) continue;
    const Tensor& c = j == 2 ? cn : c_prev;
    out.push_back((da.narrow(1, (j == 2 ? 3 : j) * H, H) * c).sum(0));
  }
}

// One gradient per extra tensor: the peepholes' (in order) where there is one, else empty.
Tensors var_grads(TensorList var, const Tensors& peeps, bool lstm, const at::TensorOptions& opts) {
  Tensors grads;
  size_t next = 0;
  for (size_t i = 0; i < var.size(); ++i) {
    const bool peep = lstm && i % kVarPerDirection < 3 && var[i].numel() > 0;
    grads.push_back(peep ? peeps[next++] : at::empty({0}, opts));
  }
  return grads;
}

template <typename T>
void ln_backward(const LnDims& d, const Tensor& gout, const Tensor& w_hh, const Tensor& g_hh,
                 const Tensor& b_hh, const Tensor& g_c, const Tensor& b_c,
                 const OptTensor& lengths, const Tensor& ws, int64_t code, TensorList var,
                 Tensor& dgx, Tensor& dz, Tensor& dhh, Tensor& dh, Tensor& dc,
                 Tensor& sums) {
  const int N = Simd<T>::N;
  const int threads = ln_threads(d.B, d.H, d.GH, d.D, N);
  sums = at::zeros({d.D, threads, 2 * d.GH + 2 * d.H}, gout.options());
  Tensors keep;
  const auto vars = make_variants<T>(code, var, d.D, d.T_, d.B, d.H, false, keep, Tensor());
  const int64_t panel = round_up_to(d.H, N) * d.GH;
  Tensor work = kept_empty({d.D, panel + d.B * d.H}, gout.options());
  std::vector<LnArgs<T>> args;
  for (int64_t k = 0; k < d.D; ++k) {
    LnArgs<T> a = ln_args<T>(d, k, ws, w_hh, g_hh, b_hh, g_c, b_c, lengths, &vars[k], true);
    a.dout = gout.data_ptr<T>() + k * d.H, a.dout_ld = d.D * d.H;
    a.dh = dh[k].data_ptr<T>(), a.dc = d.lstm ? dc[k].data_ptr<T>() : nullptr;
    a.dgi = dgx.data_ptr<T>() + k * d.GH;
    a.dz = dz[k].data_ptr<T>();
    a.dhh = d.lstm ? nullptr : dhh[k].data_ptr<T>();
    a.packed = work[k].data_ptr<T>(), a.dh_direct = a.packed + panel;
    a.sums = sums[k].data_ptr<T>(), a.sums_ld = sums.size(2);
    args.push_back(a);
  }
  run_ln<T>(false, args, threads);
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensors> ln_bwd_cpu(
    const Tensor& grad_out, const Tensor& grad_h_n, const OptTensor& grad_c_n,
    const Tensor& w_hh, const Tensor& g_hh, const Tensor& b_hh, const Tensor& g_c,
    const Tensor& b_c, const OptTensor& lengths, const Tensor& ws, int64_t cell,
    TensorList var) {
  const auto opts = grad_out.options();
  const int64_t cols = w_hh.dim() == 3 ? w_hh.size(0) * w_hh.size(1) : 0;
  const LnDims d = ln_dims({grad_out.size(0), grad_out.size(1), cols}, grad_h_n, w_hh, cell);
  const LnLayout l = ln_layout(d.T_, d.B, d.H, d.lstm);
  TORCH_CHECK(ws.dim() == 2 && ws.size(0) == d.D && ws.size(1) == l.total,
              "lstmkit::ln_bwd: workspace does not match the layer");
  const int64_t TB = d.T_ * d.B, H = d.H, GH = d.GH;
  Tensor dgx = kept_empty({d.T_, d.B, d.D * GH}, opts);
  Tensor dz = kept_empty({d.D, TB, GH}, opts);
  Tensor dhh = kept_empty({d.lstm ? 0 : d.D, TB, GH}, opts);
  Tensor dh = grad_h_n.contiguous().clone();
  Tensor dc = (d.lstm && grad_c_n) ? grad_c_n->contiguous().clone()
                                   : at::zeros({d.lstm ? d.D : 0, d.B, H}, opts);
  const Tensor gout = grad_out.contiguous(), w = w_hh.contiguous();
  const Tensor ghh = g_hh.contiguous(), bhh = b_hh.contiguous();
  const Tensor gc = g_c.contiguous(), bc = b_c.contiguous();
  const OptTensor len = lengths ? OptTensor(lengths->to(at::kLong).contiguous()) : std::nullopt;
  Tensor sums;  // (D, workers, 2 GH + 2 H)
  if (grad_out.scalar_type() == at::kFloat) {
    ln_backward<float>(d, gout, w, ghh, bhh, gc, bc, len, ws, cell, var, dgx, dz, dhh, dh,
                       dc, sums);
  } else {
    ln_backward<double>(d, gout, w, ghh, bhh, gc, bc, len, ws, cell, var, dgx, dz, dhh, dh,
                        dc, sums);
  }
  // The gains' and biases' gradients: the workers' sums over the steps, added up.
  const Tensor total = sums.sum(1);  // (D, 2 GH + 2 H)
  const Tensor dg = total.narrow(1, 0, GH), db = total.narrow(1, GH, GH);
  const Tensor none = at::empty({0, H}, opts);  // the GRU has no c
  const Tensor dgc = d.lstm ? total.narrow(1, 2 * GH, H) : none;
  const Tensor dbc = d.lstm ? total.narrow(1, 2 * GH + H, H) : none;
  // Sums over all steps after the loop: dW_hh = dz^T h̃, the peepholes' gradients.
  Tensors dw, dvar;
  const Tensor dgi = dgx.view({TB, d.D, GH});
  for (int64_t k = 0; k < d.D; ++k) {
    const Tensor hs = ws[k].narrow(0, l.hs, (d.T_ + 1) * d.B * H).view({d.T_ + 1, d.B, H});
    const Tensor h_prev = hs.narrow(0, k == 1 ? 1 : 0, d.T_);  // (T, B, H)
    const Tensor h_in = recurrent_input(var, k, h_prev).reshape({TB, H});
    dw.push_back(product(dz[k], true, h_in, false));  // (GH, H)
    if (!d.lstm) continue;
    const Tensor da = dgi.select(1, k);  // (TB, GH)
    const Tensor cs = ws[k].narrow(0, l.cs, (d.T_ + 1) * d.B * H).view({d.T_ + 1, d.B, H});
    const Tensor c_prev = cs.narrow(0, k == 1 ? 1 : 0, d.T_).reshape({TB, H});
    const Tensor cn = ws[k].narrow(0, l.cn, TB * H).view({TB, H});
    peephole_grads(var, k, da, c_prev, cn, H, dvar);
  }
  return {dgx, dh, dc, at::stack(dw), dg, db, dgc, dbc, var_grads(var, dvar, d.lstm, opts)};
}

// x (..., I) w^T: the input projection of all steps (products.h).
Tensor linear_cpu(const Tensor& x, const Tensor& w) {
  const Tensor x2 = x.reshape({-1, x.size(-1)});  // (T * B, I)
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = w.size(0);
  return product(x2, false, w, true).view(shape);
}

}  // namespace
}  // namespace lstmkit

TORCH_LIBRARY_FRAGMENT(lstmkit, m) {
  m.def("linear(Tensor x, Tensor w) -> Tensor");
  // The layer-normalised LSTM / GRU (variant cell code); gx = W_ih x of all directions side
  // by side (normalised in the loop: g_ih LN(gx) + b_ih), the gains, biases and w_hh stacked
  // over directions. ln_bwd returns dL/d(g_ih LN(gx) + b_ih); the rest of the input side's
  // backward is torch's layer-norm backward, with the statistics the workspace keeps.
  m.def(
      "ln_fwd(Tensor gx, Tensor g_ih, Tensor b_ih, Tensor h0, Tensor? c0, Tensor w_hh, "
      "Tensor g_hh, Tensor b_hh, Tensor g_c, Tensor b_c, Tensor? lengths, int cell, "
      "Tensor[] var, bool save) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "ln_bwd(Tensor grad_out, Tensor grad_h_n, Tensor? grad_c_n, Tensor w_hh, Tensor g_hh, "
      "Tensor b_hh, Tensor g_c, Tensor b_c, Tensor? lengths, Tensor ws, int cell, "
      "Tensor[] var) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, "
      "Tensor[])");
}

TORCH_LIBRARY_IMPL(lstmkit, CPU, m) {
  m.impl("linear", &lstmkit::linear_cpu);
  m.impl("ln_fwd", &lstmkit::ln_fwd_cpu);
  m.impl("ln_bwd", &lstmkit::ln_bwd_cpu);
}
