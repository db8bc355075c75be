// One layer on the CPU: the parts that are large GEMMs, and the time loops in between.
//
// Forward:  G = X W_ih^T + biases, one GEMM over all T * B rows per direction, then the
//           time loop (forward.cpp) with threads split over directions and units. A cell
//           call with few rows (T = 1, B <= 4) skips the GEMM: the loop's workers form their
//           own units' gates (gemv.h). So does a plain LSTM or RNN whose workers each run
//           whole rows (stacks_input): its loop multiplies [x_t, h_{t-1}] by [W_ih; W_hh].
// Backward: the time loop of the gradients (backward.cpp), then dX = dG W_ih,
//           dW_ih = dG^T X, dW_hh = dG^T H_prev, dW_hr = dH^T R and the bias sums, each one
//           GEMM or reduction over all steps.
// The GEMMs run on the loops' own micro-kernel (matmul.h, through products.cpp).
#include "layer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>

#include "cells.h"
#include "products.h"
#include "gemm.h"
#include "memory.h"
#include "recurrent.h"
#include "team.h"
#include "variant_layer.h"

namespace lstmkit {
namespace {

int gate_count(int64_t cell) { return cell == kLSTM ? 4 : cell == kGRU ? 3 : 1; }

struct Dims {
  int64_t T, B, I, H, P, GH, D;
  int64_t O;  // output columns per direction: P, or H for FGR (whose P = 4H holds q too)
  bool proj;
};

Dims dims_of(const Tensor& x, const Tensor& h0, TensorList w_ih, TensorList w_hh,
             TensorList w_hr, int64_t code) {
  const int64_t cell = base_kind(code);
  TORCH_CHECK(x.dim() == 3, "lstmkit::rnn: x must be (T, B, I), got ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "lstmkit::rnn: float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(cell >= kLSTM && cell <= kRNNRelu, "lstmkit::rnn: unknown cell ", cell);
  TORCH_CHECK(w_ih.size() == 1 || w_ih.size() == 2, "lstmkit::rnn: 1 or 2 directions");
  TORCH_CHECK(w_hh.size() == w_ih.size(), "lstmkit::rnn: one w_hh per direction");
  Dims d;
  d.T = x.size(0), d.B = x.size(1), d.I = x.size(2), d.D = int64_t(w_ih.size());
  d.GH = w_ih[0].size(0), d.H = d.GH / gate_count(cell), d.P = w_hh[0].size(1);
  d.proj = !w_hr.empty();
  TORCH_CHECK(!d.proj || (cell == kLSTM && w_hr.size() == w_ih.size()),
              "lstmkit::rnn: w_hr only for an LSTM, one per direction");
  TORCH_CHECK(h0.dim() == 3 && h0.size(0) == d.D && h0.size(1) == d.B && h0.size(2) == d.P,
              "lstmkit::rnn: h0 must be (D, B, P), got ", h0.sizes());
  d.O = is_fgr(code) ? d.H : d.P;
  TORCH_CHECK(!is_fgr(code) || (!d.proj && d.P == 4 * d.H),
              "lstmkit::rnn: an FGR LSTM takes [W_hh | W_gg] as one (4H, 4H) w_hh and no "
              "w_hr, got w_hh ", w_hh[0].sizes());
  return d;
}

// Saved for the backward pass, per direction: gates | GRU extra | hs | cs | rs.
struct Layout {
  int64_t gates, extra, hs, cs, rs, total;
};

Layout layout_of(const Dims& d, int64_t cell) {
  Layout l;
  l.gates = 0;
  l.extra = l.gates + d.T * d.B * d.GH;
  l.hs = l.extra + (cell == kGRU ? d.T * d.B * d.H : 0);
  l.cs = l.hs + (d.T + 1) * d.B * d.P;
  l.rs = l.cs + (cell == kLSTM ? (d.T + 1) * d.B * d.H : 0);
  l.total = l.rs + (d.proj ? d.T * d.B * d.H : 0);
  return l;
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Threads for a time loop: a direction is split only when a step has enough work to pay for
// a barrier per step (about 2 us of it); two directions go to two threads whenever there are
// two. Far less pays for a sequence of one row, a product bound by reading W_hh that two
// workers read in half the time, and for one whose rows are split (no barrier per step):
// measured at B = 1, H = 64 and 128, and B = 8, H = 32 (not at B = 4, H = 64: slower).
int loop_threads(const Dims& d, int64_t step_flops, int lanes, bool one_step = false) {
  const int avail = at::in_parallel_region() ? 1 : at::get_num_threads();
  const bool light = !one_step && (d.B == 1 || (!d.proj && split_rows(d.B, 2, kMaxRows)));
  const int64_t per_thread = int64_t(1) << (light ? 14 : 17);  // FLOPs a step
  const int64_t most = std::max<int64_t>(1, (std::min(d.H, d.P) + lanes - 1) / lanes);
  const int64_t per_dir = std::clamp<int64_t>(step_flops / per_thread, 1, most);
  return int(std::min<int64_t>(avail, per_dir * d.D));
}

// The biases that fold into the input side's gates, (GH,), or none: all of b_hh for LSTM
// and RNN; for the GRU only its r and z parts (b_hn is applied inside r * (W_hn h + b_hn)).
OptTensor folded_bias(TensorList b_ih, TensorList b_hh, int64_t k, int64_t cell, int64_t H) {
  if (b_ih.empty()) return std::nullopt;
  if (cell != kGRU) return b_ih[k] + b_hh[k];
  Tensor bias = b_ih[k].clone();
  bias.narrow(0, 0, 2 * H).add_(b_hh[k].narrow(0, 0, 2 * H));
  return bias;
}

// G = X W_ih^T + the folded biases, written into ``gates``.
void input_projection(const Tensor& x2, const Tensor& w_ih, TensorList b_ih, TensorList b_hh,
                      int64_t k, int64_t cell, int64_t H, const Tensor& gates) {
  const OptTensor bias = folded_bias(b_ih, b_hh, k, cell, H);
  product(x2, false, w_ih, true, bias, gates);  // (T * B, I) x (I, GH)
}

// Whether a layer's time loop multiplies x_t by W_ih itself, in the same products as h_{t-1}
// by W_hh (FwdArgs::stacked), instead of forming the input projection first: for a plain
// LSTM or Elman RNN whose workers each run whole rows (the rows split among several, or all
// of at least two row tiles for a lone worker, as each direction of a bidirectional layer
// on two threads) and whose stacked weights stay within kStackedBytes. A step then reads
// twice the weights but no projection, and the input product runs in the time loop's
// micro-kernel. Measured in one process, the two ways in turn (LSTM, T = 100), stacked /
// projection first: forward 0.79-0.93 at B = 8 to 128, H = 64 to 256 (rows split between
// two threads); bidirectional, a thread per direction, 0.69-0.95 forward and 0.91-0.97 with
// backward; on one thread 0.86-0.92 forward. At H = 512 (8 MB of weights, read from L3
// every step) 0.96-1.05, so it stops at 2 MB.
constexpr int64_t kStackedBytes = int64_t(1) << 21;

bool stacks_input(const Dims& d, int64_t code, int threads, int64_t elem_bytes) {
  const bool plain = code == kLSTM || code == kRNNTanh || code == kRNNRelu;
  const int workers = std::max(1, threads / int(d.D));  // per direction
  const bool own_rows = workers == 1 ? d.B >= 2 * kMaxRows : split_rows(d.B, workers, kMaxRows);
  return plain && !d.proj && d.T > 1 && own_rows &&
         (d.I + d.P) * d.GH * elem_bytes <= kStackedBytes;
}

template <typename T>
struct FwdBuffers {
  Tensors keep;  // contiguous copies that must outlive the loop
  const T* hold(const Tensor& t) {
    keep.push_back(t.contiguous());
    return keep.back().data_ptr<T>();
  }
};

template <typename T>
void forward_loop(const Dims& d, int64_t cell, bool save, const Tensor& x2, const Tensor& h0,
                  const OptTensor& c0, TensorList w_ih, TensorList w_hh, TensorList b_ih,
                  TensorList b_hh, TensorList w_hr, const OptTensor& lengths, Tensor& out,
                  Tensor& h_n, Tensor& c_n, Tensor& ws, int64_t code, TensorList var) {
  const Layout l = layout_of(d, cell);
  const int64_t B = d.B, H = d.H, P = d.P, GH = d.GH;
  const int N = simd_lanes(std::is_same_v<T, double>);
  // A single step (a cell call): W_hh h0 goes into the same matrix products as W_ih x, and
  // the loop only applies the gate math; packing W_hh would cost more than the step.
  // With few rows, the workers form the gates themselves (gemv.h): no GEMM calls; the GRU
  // too, its W_hn h kept apart (r multiplies it).
  const bool direct = d.T == 1 && !d.proj && B <= kMaxRows;
  const bool folded = direct || (d.T == 1 && !d.proj && cell != kGRU);
  const int64_t flops = 2 * B * GH * P + (d.proj ? 2 * B * H * P : 0);
  const int64_t direct_flops = 2 * B * GH * (d.I + P);
  const int threads =
      direct ? loop_threads(d, direct_flops, N, true) : folded ? 1 : loop_threads(d, flops, N);
  const bool stacked = stacks_input(d, code, threads, sizeof(T));
  const int64_t depth = stacked ? d.I + P : P;  // rows of K in a panel of W_hh
  const int64_t panel_hh = round_up(H, N) * (GH / H) * depth, panel_hr = round_up(P, N) * H;
  // Without saving, the scratch of a direction: gates | 2 h slots | 2 c slots | r; a stacked
  // loop forms no input projection, and its cells write the gates only when saving.
  const int64_t gate_rows = stacked ? 0 : d.T * B;
  const int64_t scratch = save ? 0 : gate_rows * GH + 2 * B * P + 2 * B * H + B * H;
  const int64_t width = scratch + panel_hh + panel_hr;
  Tensor work = kept_empty({d.D, width}, x2.options());
  FwdBuffers<T> buf;
  const auto vars = make_variants<T>(code, var, d.D, d.T, B, H, d.proj, buf.keep, h0);
  std::vector<FwdArgs<T>> args(d.D);
  for (int64_t k = 0; k < d.D; ++k) {
    T* base = save ? ws[k].data_ptr<T>() : work[k].data_ptr<T>();
    T* gates = base;
    T* hs = save ? base + l.hs : gates + gate_rows * GH;
    T* cs = save ? base + l.cs : hs + 2 * B * P;
    T* rs = save ? base + l.rs : cs + 2 * B * H;
    FwdArgs<T>& a = args[k];
    if (direct) {
      a.direct = true, a.I = d.I, a.x = buf.hold(x2), a.w_ih = buf.hold(w_ih[k]);
      a.h_in = buf.hold(recurrent_input(var, k, h0[k]));
      a.b_ih = b_ih.empty() ? nullptr : buf.hold(b_ih[k]);
      a.b_hh = b_hh.empty() ? nullptr : buf.hold(b_hh[k]);
      if (cell == kGRU) {
        buf.keep.push_back(at::empty({B, H}, x2.options()));
        a.rec_n = buf.keep.back().template data_ptr<T>();
      }
    } else if (stacked) {
      a.stacked = true, a.I = d.I, a.x = x2.data_ptr<T>(), a.w_ih = buf.hold(w_ih[k]);
      const OptTensor bias = folded_bias(b_ih, b_hh, k, cell, H);
      a.bias = buf.hold(bias ? *bias : at::zeros({GH}, x2.options()));
    } else {
      Tensor g = at::from_blob(gates, {d.T * B, GH}, x2.options());  // (T * B, GH)
      input_projection(x2, w_ih[k], b_ih, b_hh, k, cell, H, g);
      if (folded) product(recurrent_input(var, k, h0[k]), false, w_hh[k], true, {}, g, true);
    }
    const int64_t first = (k == 1 && save) ? d.T : 0;  // slot of the initial state
    std::copy_n(h0[k].data_ptr<T>(), B * P, hs + first * B * P);
    if (cell == kLSTM) std::copy_n(c0->select(0, k).data_ptr<T>(), B * H, cs + first * B * H);
    a.T_ = d.T, a.B = B, a.H = H, a.P = P, a.GH = GH;
    a.proj = d.proj, a.reverse = k == 1, a.save = save, a.folded = folded;
    a.gates = gates;
    a.extra = (save && cell == kGRU) ? base + l.extra : nullptr;
    a.w_hh = buf.hold(w_hh[k]);
    a.w_hr = d.proj ? buf.hold(w_hr[k]) : nullptr;
    a.b_hn = (cell == kGRU && !b_hh.empty()) ? buf.hold(b_hh[k].narrow(0, 2 * H, H)) : nullptr;
    a.hs = hs, a.cs = cell == kLSTM ? cs : nullptr, a.rs = d.proj ? rs : nullptr;
    a.out = out.data_ptr<T>() + k * d.O, a.out_ld = d.D * d.O;
    a.h_n = h_n[k].data_ptr<T>();
    a.c_n = cell == kLSTM ? c_n[k].data_ptr<T>() : nullptr;
    a.lengths = lengths ? lengths->data_ptr<int64_t>() : nullptr;
    a.packed = work[k].data_ptr<T>() + scratch;
    a.packed_r = a.packed + panel_hh;
    a.var = vars.empty() ? nullptr : &vars[k];
  }
  run_forward<T>(code, args.data(), int(d.D), threads);
  for (int64_t k = 0; k < d.D; ++k) {  // the state after the last step
    const int64_t last = save ? (k == 1 ? 0 : d.T) : d.T % 2;
    std::copy_n(args[k].hs + last * B * P, B * P, args[k].h_n);
    if (cell == kLSTM) std::copy_n(args[k].cs + last * B * H, B * H, args[k].c_n);
  }
}

// One step of a plain cell for a few rows (cell_direct below): x (B, I), h (B, H), c (B, H)
// into h1, c1. The kernel of forward_loop's direct step, set up from pointers; scratch:
// gates (B, GH) | h slots (2, B, H) | c slots (2, B, H) | the GRU's W_hn h (B, H).
template <typename T>
void direct_step(const Tensor& x, const Tensor& h, const OptTensor& c, const Tensor& w_ih,
                 const Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh, int64_t cell,
                 Tensor& h1, Tensor& c1) {
  const int64_t B = x.size(0), I = x.size(1), GH = w_ih.size(0), H = h.size(1);
  static thread_local std::vector<T> scratch;
  scratch.resize(B * GH + 5 * B * H);
  T* gates = scratch.data();
  T* hs = gates + B * GH;
  T* cs = hs + 2 * B * H;
  std::copy_n(h.data_ptr<T>(), B * H, hs);
  if (c) std::copy_n(c->data_ptr<T>(), B * H, cs);
  FwdArgs<T> a{};
  a.T_ = 1, a.B = B, a.H = H, a.P = H, a.GH = GH, a.folded = true, a.direct = true;
  a.gates = gates, a.hs = hs, a.cs = c ? cs : nullptr;
  a.out = h1.data_ptr<T>(), a.out_ld = H, a.h_n = a.out;
  a.I = I, a.x = x.data_ptr<T>(), a.h_in = h.data_ptr<T>();
  a.w_ih = w_ih.data_ptr<T>(), a.w_hh = w_hh.data_ptr<T>();
  a.b_ih = b_ih ? b_ih->data_ptr<T>() : nullptr, a.b_hh = b_hh ? b_hh->data_ptr<T>() : nullptr;
  if (cell == kGRU) a.rec_n = cs + 2 * B * H, a.b_hn = a.b_hh ? a.b_hh + 2 * H : nullptr;
  const Dims d{1, B, I, H, H, GH, 1, H, false};
  const int threads = loop_threads(d, 2 * B * GH * (I + H), Simd<T>::N, true);
  run_forward<T>(cell, &a, 1, threads);
  if (c) std::copy_n(cs + B * H, B * H, c1.data_ptr<T>());
}

}  // namespace

bool fits_direct_cell(const Tensor& x, const Tensor& h, const OptTensor& c, const Tensor& w_ih,
                      const Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh,
                      int64_t cell) {
  if (cell < kLSTM || cell > kRNNRelu || x.dim() != 2 || h.dim() != 2) return false;
  const int64_t B = x.size(0), I = x.size(1), H = h.size(1), GH = gate_count(cell) * H;
  const auto dtype = x.scalar_type();
  const auto fits = [&](const Tensor& t, at::IntArrayRef sizes) {
    return t.scalar_type() == dtype && t.sizes() == sizes && t.is_contiguous();
  };
  return (dtype == at::kFloat || dtype == at::kDouble) && B >= 1 && B <= kMaxRows &&
         fits(x, {B, I}) && fits(h, {B, H}) && fits(w_ih, {GH, I}) && fits(w_hh, {GH, H}) &&
         (cell == kLSTM ? c && fits(*c, {B, H}) : !c) && bool(b_ih) == bool(b_hh) &&
         (!b_ih || (fits(*b_ih, {GH}) && fits(*b_hh, {GH})));
}

std::tuple<Tensor, Tensor> cell_direct(const Tensor& x, const Tensor& h, const OptTensor& c,
                                       const Tensor& w_ih, const Tensor& w_hh,
                                       const OptTensor& b_ih, const OptTensor& b_hh,
                                       int64_t cell) {
  Tensor h1 = at::empty_like(h), c1 = c ? at::empty_like(*c) : at::empty({0}, h.options());
  if (x.scalar_type() == at::kFloat) {
    direct_step<float>(x, h, c, w_ih, w_hh, b_ih, b_hh, cell, h1, c1);
  } else {
    direct_step<double>(x, h, c, w_ih, w_hh, b_ih, b_hh, cell, h1, c1);
  }
  return {h1, c1};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> rnn_fwd_cpu(
    const Tensor& x, const Tensor& h0, const OptTensor& c0, TensorList w_ih, TensorList w_hh,
    TensorList b_ih, TensorList b_hh, TensorList w_hr, const OptTensor& lengths, int64_t cell,
    bool save, TensorList var) {
  const int64_t code = cell;
  cell = base_kind(code);
  const Dims d = dims_of(x, h0, w_ih, w_hh, w_hr, code);
  TORCH_CHECK(cell != kLSTM || (c0 && c0->sizes() == at::IntArrayRef({d.D, d.B, d.H})),
              "lstmkit::rnn: an LSTM needs c0 (D, B, H)");
  const Tensor x2 = x.contiguous().view({d.T * d.B, d.I});  // (T * B, I)
  const Tensor h0c = h0.contiguous();
  const OptTensor c0c = c0 ? OptTensor(c0->contiguous()) : std::nullopt;
  const OptTensor len = lengths ? OptTensor(lengths->to(at::kLong).contiguous()) : std::nullopt;
  Tensor out = kept_empty({d.T, d.B, d.D * d.O}, x.options());
  Tensor h_n = at::empty({d.D, d.B, d.P}, x.options());
  Tensor c_n = at::empty({cell == kLSTM ? d.D : 0, d.B, d.H}, x.options());
  Tensor ws = kept_empty({save ? d.D : 0, layout_of(d, cell).total}, x.options());
  if (x.scalar_type() == at::kFloat) {
    forward_loop<float>(d, cell, save, x2, h0c, c0c, w_ih, w_hh, b_ih, b_hh, w_hr, len, out,
                        h_n, c_n, ws, code, var);
  } else {
    forward_loop<double>(d, cell, save, x2, h0c, c0c, w_ih, w_hh, b_ih, b_hh, w_hr, len, out,
                         h_n, c_n, ws, code, var);
  }
  return {out, h_n, c_n, ws};
}

namespace {

template <typename T>
void backward_loop(const Dims& d, int64_t cell, const Tensor& gout, const Tensor& ghn,
                   const OptTensor& gcn, TensorList w_hh, TensorList w_hr,
                   const OptTensor& lengths, const Tensor& ws, Tensor& dgi, Tensor& dgh,
                   Tensor& dh_proj, Tensor& dh0, Tensor& dc0, int64_t code, TensorList var) {
  const Layout l = layout_of(d, cell);
  const int64_t B = d.B, H = d.H, P = d.P, GH = d.GH;
  const int N = simd_lanes(std::is_same_v<T, double>);
  const int64_t panel_hh = round_up(P, N) * GH, panel_hr = round_up(H, N) * P;
  Tensor work = kept_empty({d.D, 2 * B * P + panel_hh + panel_hr}, gout.options());
  FwdBuffers<T> buf;
  const auto vars = make_variants<T>(code, var, d.D, d.T, B, H, d.proj, buf.keep, Tensor());
  std::vector<BwdArgs<T>> args(d.D);
  for (int64_t k = 0; k < d.D; ++k) {
    const T* base = ws[k].data_ptr<T>();
    BwdArgs<T>& a = args[k];
    a.T_ = d.T, a.B = B, a.H = H, a.P = P, a.GH = GH;
    a.proj = d.proj, a.reverse = k == 1;
    a.gates = base + l.gates;
    a.extra = cell == kGRU ? base + l.extra : nullptr;
    a.hs = base + l.hs;
    a.cs = cell == kLSTM ? base + l.cs : nullptr;
    a.rs = d.proj ? base + l.rs : nullptr;
    a.w_hh = buf.hold(w_hh[k]);
    a.w_hr = d.proj ? buf.hold(w_hr[k]) : nullptr;
    a.dout = gout.data_ptr<T>() + k * d.O, a.dout_ld = d.D * d.O;
    a.dh_n = ghn[k].data_ptr<T>();
    a.dc_n = gcn ? gcn->select(0, k).data_ptr<T>() : nullptr;
    a.dgi = dgi[k].data_ptr<T>();
    a.dgh = dgh[k].data_ptr<T>();
    a.dh_proj = d.proj ? dh_proj[k].data_ptr<T>() : nullptr;
    a.dh0 = dh0[k].data_ptr<T>();
    a.dc0 = cell == kLSTM ? dc0[k].data_ptr<T>() : nullptr;
    T* scratch = work[k].data_ptr<T>();
    a.dh_direct = scratch, a.dh_step = scratch + B * P;
    a.lengths = lengths ? lengths->data_ptr<int64_t>() : nullptr;
    a.packed = scratch + 2 * B * P, a.packed_r = a.packed + panel_hh;
    a.var = vars.empty() ? nullptr : &vars[k];
  }
  const int64_t flops = 2 * B * GH * P + (d.proj ? 2 * B * H * P : 0);
  run_backward<T>(code, args.data(), int(d.D), loop_threads(d, flops, N));
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor, Tensors, Tensors, Tensors, Tensors, Tensors, Tensors>
rnn_bwd_cpu(
    const Tensor& grad_out, const Tensor& grad_h_n, const OptTensor& grad_c_n, const Tensor& x,
    const Tensor& h0, const OptTensor& c0, TensorList w_ih, TensorList w_hh, TensorList b_ih,
    TensorList b_hh, TensorList w_hr, const OptTensor& lengths, const Tensor& ws, int64_t cell,
    bool need_input, bool need_weights, TensorList var) {
  const int64_t code = cell;
  cell = base_kind(code);
  const Dims d = dims_of(x, h0, w_ih, w_hh, w_hr, code);
  const Layout l = layout_of(d, cell);
  TORCH_CHECK(ws.dim() == 2 && ws.size(0) == d.D && ws.size(1) == l.total,
              "lstmkit::rnn_bwd: workspace does not match the layer");
  const auto opts = x.options();
  const int64_t TB = d.T * d.B;
  const Tensor gout = grad_out.contiguous(), ghn = grad_h_n.contiguous();
  const OptTensor gcn = (cell == kLSTM && grad_c_n) ? OptTensor(grad_c_n->contiguous())
                                                    : std::nullopt;
  const OptTensor len = lengths ? OptTensor(lengths->to(at::kLong).contiguous()) : std::nullopt;
  const int64_t sides = cell == kGRU ? 2 : 1;  // the GRU's recurrent side differs
  const Tensor dg = kept_empty({sides, d.D, TB, d.GH}, opts);
  Tensor dgi = dg[0];                           // (D, T*B, GH)
  Tensor dgh = dg[sides - 1];
  Tensor dh_proj = kept_empty({d.proj ? d.D : 0, TB, d.P}, opts);         // (D, T*B, P)
  Tensor dh0 = at::empty({d.D, d.B, d.P}, opts);
  Tensor dc0 = at::empty({cell == kLSTM ? d.D : 0, d.B, d.H}, opts);
  if (x.scalar_type() == at::kFloat) {
    backward_loop<float>(d, cell, gout, ghn, gcn, w_hh, w_hr, len, ws, dgi, dgh, dh_proj, dh0,
                         dc0, code, var);
  } else {
    backward_loop<double>(d, cell, gout, ghn, gcn, w_hh, w_hr, len, ws, dgi, dgh, dh_proj, dh0,
                          dc0, code, var);
  }
  const Tensor x2 = x.contiguous().view({TB, d.I});  // (T * B, I)
  Tensor dx = at::empty({0}, opts);
  if (need_input) {
    dx = kept_empty({TB, d.I}, opts);
    for (int64_t k = 0; k < d.D; ++k) {  // dx = sum over directions of dG W_ih, (T * B, I)
      product(dgi[k], false, w_ih[k], false, {}, dx, k > 0);
    }
    dx = dx.view({d.T, d.B, d.I});
  }
  Tensors dw_ih, dw_hh, db_ih, db_hh, dw_hr, dvar;
  for (int64_t k = 0; k < d.D && cell == kLSTM && !var.empty(); ++k) {  // peephole weights
    const Tensor cs = ws[k].narrow(0, l.cs, (d.T + 1) * d.B * d.H).view({d.T + 1, d.B, d.H});
    const Tensor c_prev = cs.narrow(0, k == 1 ? 1 : 0, d.T).reshape({TB, d.H});  // (TB, H)
    const Tensor gates = ws[k].narrow(0, l.gates, TB * d.GH).view({TB, d.GH});
    for (Tensor& g : peephole_grads(var, k, gates, c_prev, dgi[k], d.H)) dvar.push_back(g);
  }
  while (dvar.size() < var.size()) dvar.push_back(at::empty({0}, opts));  // no gradient
  for (int64_t k = 0; k < d.D; ++k) {
    if (!need_weights) {
      dw_ih.push_back(at::empty({0}, opts)), dw_hh.push_back(at::empty({0}, opts));
      if (!b_ih.empty()) db_ih.push_back(at::empty({0}, opts));
      if (!b_hh.empty()) db_hh.push_back(at::empty({0}, opts));
      if (d.proj) dw_hr.push_back(at::empty({0}, opts));
      continue;
    }
    // The state before each step: slots [0, T) forward, [1, T + 1) reverse.
    const Tensor hs = ws[k].narrow(0, l.hs, (d.T + 1) * d.B * d.P).view({d.T + 1, d.B, d.P});
    const Tensor h_prev = hs.narrow(0, k == 1 ? 1 : 0, d.T).reshape({TB, d.P});
    dw_ih.push_back(product(dgi[k], true, x2, false));  // (GH, I)
    const Tensor h_in = recurrent_input(var, k, h_prev.view({d.T, d.B, d.P})).view({TB, d.P});
    dw_hh.push_back(product(dgh[k], true, h_in, false));  // (GH, P)
    if (!b_ih.empty()) db_ih.push_back(dgi[k].sum(0));
    if (!b_hh.empty()) {  // the same sum where dgh is dgi (all but the GRU): a copy of it
      db_hh.push_back(sides == 1 && !b_ih.empty() ? db_ih.back().clone() : dgh[k].sum(0));
    }
    if (d.proj) {
      const Tensor rs = ws[k].narrow(0, l.rs, TB * d.H).view({TB, d.H});
      dw_hr.push_back(product(dh_proj[k], true, rs, false));  // (P, H)
    }
  }
  return {dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dvar};
}

}  // namespace lstmkit
