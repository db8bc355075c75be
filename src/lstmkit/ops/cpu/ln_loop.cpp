// The layer-normalised LSTM and GRU (ln_cells.h): the time loops, forward and backward, and
// the operators lstmkit::ln_fwd / lstmkit::ln_bwd (their autograd is registered in Python,
// lstmkit/ops/fused_ln.py).
//
// The input side LN(W_ih x) + b_ih arrives computed for all steps (gx). Per step and
// direction, the workers of a team each own a range of units (and the same columns of h):
//   forward:  1. W_hh h̃ for their units into a (B, G*H) scratch      barrier
//             2. row statistics, gates (LSTM: and c')                 barrier (LSTM)
//             3. LSTM: statistics of c', h = o φ(LN(c'))              barrier
//   backward: 1. LSTM: row sums of dL/dĉ; gate gradients              barrier
//             2. row sums of the LN backward, dL/d(W_hh h̃)            barrier
//             3. dL/dh_{t-1} for their columns = dz W_hh + direct     barrier
// dW_hh and the gains' and biases' gradients are sums over all steps, done after the loop.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "gemm.h"
#include "layer.h"
#include "ln_cells.h"
#include "team.h"
#include "variant_layer.h"

namespace lstmkit {
namespace {

using at::Tensor;
using at::TensorList;
using OptTensor = std::optional<Tensor>;
using Tensors = std::vector<Tensor>;

struct Range {
  int64_t begin, end;
};

inline Range share(int64_t n, int index, int size) {
  return {n * index / size, n * (index + 1) / size};
}

inline int64_t blocks(int64_t n, int lanes) { return (n + lanes - 1) / lanes; }

inline int64_t round_up_to(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Saved per direction: act | zhat | rstd_hh | hs | (LSTM) cs | cn | chat | rstd_c, (GRU) hn.
struct LnLayout {
  int64_t act, zhat, rstd_hh, hs, cs, cn, chat, rstd_c, hn, total;
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
  l.total = l.hn + (lstm ? 0 : TB * H);
  return l;
}

int ln_threads(int64_t B, int64_t H, int64_t GH, int64_t D, int lanes) {
  const int avail = at::in_parallel_region() ? 1 : at::get_num_threads();
  constexpr int64_t kFlopsPerThread = int64_t(1) << 18;  // as layer.cpp: ~4 us per step
  const int64_t most = std::max<int64_t>(1, blocks(H, lanes));
  const int64_t per_dir = std::clamp<int64_t>(2 * B * GH * H / kFlopsPerThread, 1, most);
  return int(std::min<int64_t>(avail, per_dir * D));
}

// Pack this worker's units of W_hh for the forward product (the G gates of a unit block
// together) and, in the backward pass, its columns of W_hh for dz W_hh.
template <typename T>
void pack_forward(const LnArgs<T>& a, Range units) {
  constexpr int N = Simd<T>::N;
  const int G = int(a.GH / a.H);
  const int64_t H = a.H;
  for (int64_t ub = units.begin; ub < units.end; ++ub) {
    auto col = [H](int64_t u, int g) { return g * H + u; };
    pack_panel(a.w_hh, H, 1, H, H, int(ub), 1, G, col, a.packed + ub * N * G * H);
  }
}

template <typename T>
void forward_worker(const LnArgs<T>& a, const Worker& w) {
  constexpr int N = Simd<T>::N;
  const int64_t B = a.B, H = a.H, GH = a.GH;
  const int G = int(GH / H);
  const Range units = share(blocks(H, N), w.index, w.size);
  pack_forward(a, units);
  std::vector<T> mean(B), rstd(B);
  Tile<T> tile;
  for (int64_t s = 0; s < a.T_; ++s) {
    const int64_t t = a.reverse ? a.T_ - 1 - s : s;
    const T* h_in = a.masked ? a.masked : a.hs + a.prev(t) * B * H;
    for (int64_t ub = units.begin; ub < units.end; ++ub) {  // 1. W_hh h̃, own units
      const int64_t u0 = ub * N;
      const int n = int(std::min<int64_t>(N, H - u0));
      for (int64_t row = 0; row < B; row += kMaxRows) {
        const int mr = int(std::min<int64_t>(kMaxRows, B - row));
        tile_product(h_in + row * H, H, H, a.packed + ub * N * G * H, mr, G, tile);
        for (int r = 0; r < mr; ++r)
          for (int g = 0; g < G; ++g) store_n(a.raw + (row + r) * GH + g * H + u0, tile.acc[r][g], n);
      }
    }
    w.sync();
    for (int64_t b = 0; b < B; ++b) row_stats(a.raw + b * GH, GH, mean[b], rstd[b]);
    if (w.index == 0) std::copy(rstd.begin(), rstd.end(), a.rstd_hh + a.row(t, 0));
    for (int64_t b = 0; b < B; ++b) {  // 2. gates of own units
      for (int64_t ub = units.begin; ub < units.end; ++ub) {
        const int n = int(std::min<int64_t>(N, H - ub * N));
        if (a.lstm) {
          ln_lstm_gates(a, t, b, ub * N, n, mean[b], rstd[b]);
        } else {
          ln_gru_step(a, t, b, ub * N, n, mean[b], rstd[b]);
        }
      }
    }
    if (a.lstm) {  // 3. h = o φ(LN(c'))
      w.sync();
      for (int64_t b = 0; b < B; ++b) row_stats(a.cn + a.row(t, b) * H, H, mean[b], rstd[b]);
      if (w.index == 0) std::copy(rstd.begin(), rstd.end(), a.rstd_c + a.row(t, 0));
      for (int64_t b = 0; b < B; ++b)
        for (int64_t ub = units.begin; ub < units.end; ++ub)
          ln_lstm_output(a, t, b, ub * N, int(std::min<int64_t>(N, H - ub * N)), mean[b],
                         rstd[b]);
    }
    w.sync();
  }
}

// LSTM: the row sums of dĉ = γ_c dy and of dĉ ĉ over all units, for rows inside the sequence.
template <typename T>
void output_sums(const LnArgs<T>& a, int64_t t, std::vector<T>& s1, std::vector<T>& s2) {
  constexpr int N = Simd<T>::N;
  for (int64_t b = 0; b < a.B; ++b) {
    vec<T> x{}, y{};
    for (int64_t u0 = 0; ln_valid(a.lengths, t, b) && u0 < a.H; u0 += N) {
      const int n = int(std::min<int64_t>(N, a.H - u0));
      const vec<T> dch = ln_out_grad(a, t, b, u0, n).dy * load_n(a.g_c + u0, n);
      x += dch;
      y += dch * load_n(a.chat + (t * a.B + b) * a.H + u0, n);
    }
    s1[b] = hsum<T>(x), s2[b] = hsum<T>(y);
  }
}

// The LN backward of the recurrent side for own units: dz = rstd (γ da - mean(γ da)
// - ẑ mean(γ da ẑ)) over the G*H row; da is dgi (LSTM) or dhh (GRU).
template <typename T>
void recurrent_ln_backward(const LnArgs<T>& a, int64_t t, Range units) {
  constexpr int N = Simd<T>::N;
  const int64_t B = a.B, H = a.H, GH = a.GH;
  const int G = int(GH / H);
  std::vector<T> dg(GH);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t TB = t * B + b;
    const T* da = a.lstm ? a.dgi + TB * a.ld : a.dhh + TB * GH;
    const T* zh = a.zhat + TB * GH;
    for (int64_t k = 0; k < GH; ++k) dg[k] = da[k] * a.g_hh[k];
    T s1, s2;
    row_sums<T>(dg.data(), zh, GH, s1, s2);
    const T m1 = s1 / T(GH), m2 = s2 / T(GH), rs = a.rstd_hh[TB];
    for (int64_t ub = units.begin; ub < units.end; ++ub) {
      const int64_t u0 = ub * N;
      const int n = int(std::min<int64_t>(N, H - u0));
      for (int g = 0; g < G; ++g) {
        const int64_t at = g * H + u0;
        const vec<T> d = rs * (load_n(dg.data() + at, n) - m1 - load_n(zh + at, n) * m2);
        store_n(a.dz + TB * GH + at, d, n);
      }
    }
  }
}

// dL/dh_{t-1} for own columns: (dz W_hh) * mask + the direct part.
template <typename T>
void carry(const LnArgs<T>& a, int64_t t, Range cols) {
  constexpr int N = Simd<T>::N;
  const int64_t B = a.B, H = a.H, GH = a.GH;
  Tile<T> tile;
  for (int64_t cb = cols.begin; cb < cols.end; cb += kMaxBlocks) {
    const int nb = int(std::min<int64_t>(kMaxBlocks, cols.end - cb));
    for (int64_t row = 0; row < B; row += kMaxRows) {
      const int mr = int(std::min<int64_t>(kMaxRows, B - row));
      tile_product(a.dz + (t * B + row) * GH, GH, GH, a.packed + cb * N * GH, mr, nb, tile);
      for (int r = 0; r < mr; ++r) {
        const int64_t b = row + r;
        for (int j = 0; j < nb; ++j) {
          const int64_t c0 = (cb + j) * N;
          const int n = int(std::min<int64_t>(N, H - c0));
          vec<T> through = tile.acc[r][j];
          if (a.var->rmask) through = through * load_n(a.var->rmask + b * H + c0, n);
          store_n(a.dh + b * H + c0, through + load_n(a.dh_direct + b * H + c0, n), n);
        }
      }
    }
  }
}

// A row past its length: no gate gradient; dL/dh and dL/dc pass through.
template <typename T>
void pass_row(const LnArgs<T>& a, int64_t t, int64_t b, int64_t u0, int n) {
  const int64_t TB = t * a.B + b;
  for (int g = 0; g < int(a.GH / a.H); ++g) {
    store_n(a.dgi + TB * a.ld + g * a.H + u0, vec<T>{}, n);
    if (a.dhh) store_n(a.dhh + TB * a.GH + g * a.H + u0, vec<T>{}, n);
  }
  if (a.dy) store_n(a.dy + TB * a.H + u0, vec<T>{}, n);
  store_n(a.dh_direct + b * a.H + u0, load_n(a.dh + b * a.H + u0, n), n);
}

template <typename T>
void backward_worker(const LnArgs<T>& a, const Worker& w) {
  constexpr int N = Simd<T>::N;
  const int64_t B = a.B, H = a.H, GH = a.GH;
  const Range units = share(blocks(H, N), w.index, w.size);
  auto same = [](int64_t u, int) { return u; };
  for (int64_t cb = units.begin; cb < units.end; cb += kMaxBlocks) {
    const int nb = int(std::min<int64_t>(kMaxBlocks, units.end - cb));
    pack_panel(a.w_hh, 1, H, GH, H, int(cb), nb, 1, same, a.packed + cb * N * GH);
  }
  std::vector<T> s1(B), s2(B);
  w.sync();  // dh (the final state's gradient) is in place for every unit
  for (int64_t s = 0; s < a.T_; ++s) {
    const int64_t t = a.reverse ? s : a.T_ - 1 - s;
    if (a.lstm) output_sums(a, t, s1, s2);
    for (int64_t b = 0; b < B; ++b) {  // 1. gate gradients of own units
      for (int64_t ub = units.begin; ub < units.end; ++ub) {
        const int64_t u0 = ub * N;
        const int n = int(std::min<int64_t>(N, H - u0));
        if (!ln_valid(a.lengths, t, b)) {
          pass_row(a, t, b, u0, n);
        } else if (a.lstm) {
          ln_lstm_backward(a, t, b, u0, n, s1[b], s2[b]);
        } else {
          ln_gru_backward(a, t, b, u0, n);
        }
      }
    }
    w.sync();
    recurrent_ln_backward(a, t, units);  // 2.
    w.sync();
    carry(a, t, units);  // 3.
    w.sync();
  }
}

template <typename T>
void run_ln(bool forward, std::vector<LnArgs<T>>& dirs, int threads) {
  run_team(int(dirs.size()), threads, [&](const Worker& w) {
    if (forward) {
      forward_worker<T>(dirs[w.group], w);
    } else {
      backward_worker<T>(dirs[w.group], w);
    }
  });
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
  a.lengths = lengths ? lengths->data_ptr<int64_t>() : nullptr;
  a.var = var;
  return a;
}

template <typename T>
void ln_forward(const LnDims& d, const Tensor& gx, const Tensor& h0, const OptTensor& c0,
                const Tensor& w_hh, const Tensor& g_hh, const Tensor& b_hh, const Tensor& g_c,
                const Tensor& b_c, const OptTensor& lengths, int64_t code, TensorList var,
                bool save, Tensor& out, Tensor& ws) {
  const int N = Simd<T>::N;
  Tensors keep;
  const auto vars = make_variants<T>(code, var, d.D, d.T_, d.B, d.H, false, keep, Tensor());
  const int64_t panel = round_up_to(d.H, N) * d.GH;
  Tensor work = at::empty({d.D, panel + d.B * d.GH + d.B * d.H}, gx.options());
  std::vector<LnArgs<T>> args;
  for (int64_t k = 0; k < d.D; ++k) {
    LnArgs<T> a = ln_args<T>(d, k, ws, w_hh, g_hh, b_hh, g_c, b_c, lengths, &vars[k], save);
    a.gx = gx.data_ptr<T>() + k * d.GH;
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
    const Tensor& gx, const Tensor& h0, const OptTensor& c0, const Tensor& w_hh,
    const Tensor& g_hh, const Tensor& b_hh, const Tensor& g_c, const Tensor& b_c,
    const OptTensor& lengths, int64_t cell, TensorList var, bool save) {
  const LnDims d = ln_dims(gx.sizes(), h0, w_hh, cell);
  TORCH_CHECK(!d.lstm || (c0 && c0->sizes() == h0.sizes()), "lstmkit::ln_fwd: c0 (D, B, H)");
  const LnLayout l = ln_layout(save ? d.T_ : 1, d.B, d.H, d.lstm);
  Tensor ws = at::empty({d.D, l.total}, gx.options());
  Tensor out = at::empty({d.T_, d.B, d.D * d.H}, gx.options());
  const Tensor gxc = gx.contiguous(), h0c = h0.contiguous(), w = w_hh.contiguous();
  const Tensor ghh = g_hh.contiguous(), bhh = b_hh.contiguous();
  const Tensor gc = g_c.contiguous(), bc = b_c.contiguous();
  const OptTensor c0c = c0 ? OptTensor(c0->contiguous()) : std::nullopt;
  const OptTensor len = lengths ? OptTensor(lengths->to(at::kLong).contiguous()) : std::nullopt;
  if (gx.scalar_type() == at::kFloat) {
    ln_forward<float>(d, gxc, h0c, c0c, w, ghh, bhh, gc, bc, len, cell, var, save, out, ws);
  } else {
    ln_forward<double>(d, gxc, h0c, c0c, w, ghh, bhh, gc, bc, len, cell, var, save, out,
                       ws);
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

template <typename T>
void ln_backward(const LnDims& d, const Tensor& gout, const Tensor& w_hh, const Tensor& g_hh,
                 const Tensor& b_hh, const Tensor& g_c, const Tensor& b_c,
                 const OptTensor& lengths, const Tensor& ws, int64_t code, TensorList var,
                 Tensor& dgx, Tensor& dz, Tensor& dhh, Tensor& dy, Tensor& dh, Tensor& dc) {
  const int N = Simd<T>::N;
  Tensors keep;
  const auto vars = make_variants<T>(code, var, d.D, d.T_, d.B, d.H, false, keep, Tensor());
  const int64_t panel = round_up_to(d.H, N) * d.GH;
  Tensor work = at::empty({d.D, panel + d.B * d.H}, gout.options());
  std::vector<LnArgs<T>> args;
  for (int64_t k = 0; k < d.D; ++k) {
    LnArgs<T> a = ln_args<T>(d, k, ws, w_hh, g_hh, b_hh, g_c, b_c, lengths, &vars[k], true);
    a.dout = gout.data_ptr<T>() + k * d.H, a.dout_ld = d.D * d.H;
    a.dh = dh[k].data_ptr<T>(), a.dc = d.lstm ? dc[k].data_ptr<T>() : nullptr;
    a.dgi = dgx.data_ptr<T>() + k * d.GH;
    a.dz = dz[k].data_ptr<T>();
    a.dhh = d.lstm ? nullptr : dhh[k].data_ptr<T>();
    a.dy = d.lstm ? dy[k].data_ptr<T>() : nullptr;
    a.packed = work[k].data_ptr<T>(), a.dh_direct = a.packed + panel;
    args.push_back(a);
  }
  run_ln<T>(false, args, ln_threads(d.B, d.H, d.GH, d.D, N));
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
  Tensor dgx = at::empty({d.T_, d.B, d.D * GH}, opts);
  Tensor dz = at::empty({d.D, TB, GH}, opts);
  Tensor dhh = at::empty({d.lstm ? 0 : d.D, TB, GH}, opts);
  Tensor dy = at::empty({d.lstm ? d.D : 0, TB, H}, opts);
  Tensor dh = grad_h_n.contiguous().clone();
  Tensor dc = (d.lstm && grad_c_n) ? grad_c_n->contiguous().clone()
                                   : at::zeros({d.lstm ? d.D : 0, d.B, H}, opts);
  const Tensor gout = grad_out.contiguous(), w = w_hh.contiguous();
  const Tensor ghh = g_hh.contiguous(), bhh = b_hh.contiguous();
  const Tensor gc = g_c.contiguous(), bc = b_c.contiguous();
  const OptTensor len = lengths ? OptTensor(lengths->to(at::kLong).contiguous()) : std::nullopt;
  if (grad_out.scalar_type() == at::kFloat) {
    ln_backward<float>(d, gout, w, ghh, bhh, gc, bc, len, ws, cell, var, dgx, dz, dhh, dy, dh, dc);
  } else {
    ln_backward<double>(d, gout, w, ghh, bhh, gc, bc, len, ws, cell, var, dgx, dz, dhh, dy, dh,
                        dc);
  }
  // Sums over all steps: dW_hh = dz^T h̃, the gains' and biases' gradients, the peepholes'.
  Tensors dw, dg, db, dgc, dbc, dvar;
  const Tensor dgi = dgx.view({TB, d.D, GH});
  for (int64_t k = 0; k < d.D; ++k) {
    const Tensor hs = ws[k].narrow(0, l.hs, (d.T_ + 1) * d.B * H).view({d.T_ + 1, d.B, H});
    const Tensor h_prev = hs.narrow(0, k == 1 ? 1 : 0, d.T_);  // (T, B, H)
    const Tensor h_in = recurrent_input(var, k, h_prev).reshape({TB, H});
    dw.push_back(at::mm(dz[k].t(), h_in));  // (GH, H)
    const Tensor da = d.lstm ? dgi.select(1, k) : dhh[k];  // (TB, GH)
    const Tensor zhat = ws[k].narrow(0, l.zhat, TB * GH).view({TB, GH});
    dg.push_back((da * zhat).sum(0));
    db.push_back(da.sum(0));
    if (!d.lstm) continue;
    const Tensor chat = ws[k].narrow(0, l.chat, TB * H).view({TB, H});
    dgc.push_back((dy[k] * chat).sum(0));
    dbc.push_back(dy[k].sum(0));
    const Tensor* e = var.data() + k * kVarPerDirection;
    const Tensor cs = ws[k].narrow(0, l.cs, (d.T_ + 1) * d.B * H).view({d.T_ + 1, d.B, H});
    const Tensor c_prev = cs.narrow(0, k == 1 ? 1 : 0, d.T_).reshape({TB, H});
    const Tensor cn = ws[k].narrow(0, l.cn, TB * H).view({TB, H});
    for (int j = 0; j < 3; ++j) {  // peepholes into i, f (from c_{t-1}) and o (from c')
      if (e[j].numel() == 0) continue;
      const Tensor& c = j == 2 ? cn : c_prev;
      dvar.push_back((da.narrow(1, (j == 2 ? 3 : j) * H, H) * c).sum(0));
    }
  }
  // One entry per extra tensor: the peepholes' gradients in order, empty for the rest.
  Tensors grads;
  size_t next = 0;
  for (size_t i = 0; i < var.size(); ++i) {
    const bool peep = d.lstm && i % kVarPerDirection < 3 && var[i].numel() > 0;
    grads.push_back(peep ? dvar[next++] : at::empty({0}, opts));
  }
  auto stack = [&](const Tensors& ts, int64_t size) {
    return ts.empty() ? at::empty({0, size}, opts) : at::stack(ts);
  };
  return {dgx, dh, dc, at::stack(dw), stack(dg, GH), stack(db, GH), stack(dgc, H), stack(dbc, H),
          grads};
}

// x (..., I) w^T: the input projection of all steps, through oneDNN where it pays.
Tensor linear_cpu(const Tensor& x, const Tensor& w) {
  const Tensor x2 = x.reshape({-1, x.size(-1)});  // (T * B, I)
  OptTensor y = dnn_linear(x2, w, std::nullopt);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = w.size(0);
  return (y ? *y : at::mm(x2, w.t())).view(shape);
}

}  // namespace
}  // namespace lstmkit

TORCH_LIBRARY_FRAGMENT(lstmkit, m) {
  m.def("linear(Tensor x, Tensor w) -> Tensor");
  // The layer-normalised LSTM / GRU (variant cell code); gx = LN(W_ih x) + b_ih of all
  // directions side by side, w_hh / g_hh / b_hh / g_c / b_c stacked over directions.
  m.def(
      "ln_fwd(Tensor gx, Tensor h0, Tensor? c0, Tensor w_hh, Tensor g_hh, Tensor b_hh, "
      "Tensor g_c, Tensor b_c, Tensor? lengths, int cell, Tensor[] var, bool save) -> "
      "(Tensor, Tensor, Tensor, Tensor)");
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
