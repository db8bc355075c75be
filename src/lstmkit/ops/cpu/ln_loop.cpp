// The layer-normalised LSTM and GRU (ln_cells.h): the time loops, forward and backward.
//
// The input side W_ih x arrives computed for all steps (gx). Per step and direction, the
// workers of a team each own a range of units (and the same columns of h):
//   forward:  1. W_hh h̃ for their units into a (B, G*H) scratch      barrier
//             2. row statistics (of W_hh h̃ and of the step's rows of W_ih x, normalised
//                here as well), gates (LSTM: and c')                  barrier (LSTM)
//             3. LSTM: statistics of c', h = o φ(LN(c'))              barrier
//   backward: 1. LSTM: row sums of dL/dĉ; gate gradients              barrier
//             2. row sums of the LN backward, dL/d(W_hh h̃)            barrier
//             3. dL/dh_{t-1} for their columns = dz W_hh + direct     barrier
// With enough rows (split_rows in team.h) the workers split the batch instead: the row
// statistics are then a worker's own, and no barrier is needed.
// The gains' and biases' gradients are summed in the loop, per worker; dW_hh, a sum over all
// steps too, is one product after the loop (ln_ops.cpp).
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "gemm.h"
#include "ln_loop.h"
#include "team.h"

namespace lstmkit {
namespace {

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
  const bool by_rows = split_rows(B, w.size, kMaxRows);
  const Range own = share(blocks(H, N), w.index, w.size);
  const Range units = by_rows ? Range{0, blocks(H, N)} : own;
  const Range rows = by_rows ? row_share(B, w.index, w.size, kMaxRows) : Range{0, B};
  // Who writes the per-row statistics: by rows each worker its own, else the first.
  const Range stats = by_rows || w.index == 0 ? rows : Range{0, 0};
  pack_forward(a, own);  // a panel per unit block: any split of them will do
  if (by_rows) w.sync();  // every panel is packed: each worker reads all of them
  std::vector<T> mean(B), rstd(B);
  std::vector<RowStats<T>> st(B);
  Tile<T> tile;
  for (int64_t s = 0; s < a.T_; ++s) {
    const int64_t t = a.reverse ? a.T_ - 1 - s : s;
    const T* h_in = a.masked ? a.masked : a.hs + a.prev(t) * B * H;
    for (int64_t ub = units.begin; ub < units.end; ++ub) {  // 1. W_hh h̃, own units
      const int64_t u0 = ub * N;
      const int n = int(std::min<int64_t>(N, H - u0));
      for (int64_t row = rows.begin; row < rows.end; row += kMaxRows) {
        const int mr = int(std::min<int64_t>(kMaxRows, rows.end - row));
        tile_product(h_in + row * H, H, H, a.packed + ub * N * G * H, mr, G, tile);
        for (int r = 0; r < mr; ++r)
          for (int g = 0; g < G; ++g) store_n(a.raw + (row + r) * GH + g * H + u0, tile.acc[r][g], n);
      }
    }
    if (!by_rows) w.sync();
    for (int64_t b = rows.begin; b < rows.end; ++b) {
      RowStats<T>& r = st[b];
      row_stats(a.raw + b * GH, GH, r.mean_hh, r.rstd_hh);
      row_stats(a.gx + (t * B + b) * a.ld, GH, r.mean_ih, r.rstd_ih);
    }
    for (int64_t b = stats.begin; b < stats.end; ++b) {
      a.rstd_hh[a.row(t, b)] = st[b].rstd_hh;
      a.mean_ih[a.row(t, b)] = st[b].mean_ih, a.rstd_ih[a.row(t, b)] = st[b].rstd_ih;
    }
    for (int64_t b = rows.begin; b < rows.end; ++b) {  // 2. gates of own units
      for (int64_t ub = units.begin; ub < units.end; ++ub) {
        const int n = int(std::min<int64_t>(N, H - ub * N));
        if (a.lstm) {
          ln_lstm_gates(a, t, b, ub * N, n, st[b]);
        } else {
          ln_gru_step(a, t, b, ub * N, n, st[b]);
        }
      }
    }
    if (a.lstm) {  // 3. h = o φ(LN(c'))
      if (!by_rows) w.sync();
      for (int64_t b = rows.begin; b < rows.end; ++b)
        row_stats(a.cn + a.row(t, b) * H, H, mean[b], rstd[b]);
      std::copy(rstd.begin() + stats.begin, rstd.begin() + stats.end,
                a.rstd_c + a.row(t, stats.begin));
      for (int64_t b = rows.begin; b < rows.end; ++b)
        for (int64_t ub = units.begin; ub < units.end; ++ub)
          ln_lstm_output(a, t, b, ub * N, int(std::min<int64_t>(N, H - ub * N)), mean[b],
                         rstd[b]);
    }
    if (!by_rows) w.sync();
  }
}

// LSTM: the row sums of dĉ = γ_c dy and of dĉ ĉ over all units, for rows inside the sequence.
template <typename T>
void output_sums(const LnArgs<T>& a, int64_t t, Range rows, std::vector<T>& s1,
                 std::vector<T>& s2) {
  constexpr int N = Simd<T>::N;
  for (int64_t b = rows.begin; b < rows.end; ++b) {
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
// - ẑ mean(γ da ẑ)) over the G*H row; da is dgi (LSTM) or dhh (GRU). Adds da ẑ and da to
// the worker's sums (dL/dγ_hh, dL/dβ_hh). dg: (GH,) scratch.
template <typename T>
void recurrent_ln_backward(const LnArgs<T>& a, int64_t t, Range units, Range rows, T* sums,
                           std::vector<T>& dg) {
  constexpr int N = Simd<T>::N;
  const int64_t B = a.B, H = a.H, GH = a.GH;
  const int G = int(GH / H);
  for (int64_t b = rows.begin; b < rows.end; ++b) {
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
        const vec<T> z = load_n(zh + at, n), d_a = load_n(da + at, n);
        store_n(a.dz + TB * GH + at, rs * (load_n(dg.data() + at, n) - m1 - z * m2), n);
        store_n(sums + at, load_n(sums + at, n) + d_a * z, n);
        store_n(sums + GH + at, load_n(sums + GH + at, n) + d_a, n);
      }
    }
  }
}

// dL/dh_{t-1} for own columns: (dz W_hh) * mask + the direct part.
template <typename T>
void carry(const LnArgs<T>& a, int64_t t, Range cols, Range rows) {
  constexpr int N = Simd<T>::N;
  const int64_t B = a.B, H = a.H, GH = a.GH;
  Tile<T> tile;
  for (int64_t cb = cols.begin; cb < cols.end; cb += kMaxBlocks) {
    const int nb = int(std::min<int64_t>(kMaxBlocks, cols.end - cb));
    for (int64_t row = rows.begin; row < rows.end; row += kMaxRows) {
      const int mr = int(std::min<int64_t>(kMaxRows, rows.end - row));
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
  store_n(a.dh_direct + b * a.H + u0, load_n(a.dh + b * a.H + u0, n), n);
}

template <typename T>
void backward_worker(const LnArgs<T>& a, const Worker& w) {
  constexpr int N = Simd<T>::N;
  const int64_t B = a.B, H = a.H, GH = a.GH;
  const bool by_rows = split_rows(B, w.size, kMaxRows);
  const int64_t unit_blocks = blocks(H, N);
  const Range units = by_rows ? Range{0, unit_blocks} : share(unit_blocks, w.index, w.size);
  const Range rows = by_rows ? row_share(B, w.index, w.size, kMaxRows) : Range{0, B};
  // The columns whose panels this worker packs.
  const Range packs = by_rows ? panel_share(unit_blocks, kMaxBlocks, w.index, w.size) : units;
  auto same = [](int64_t u, int) { return u; };
  for (int64_t cb = packs.begin; cb < packs.end; cb += kMaxBlocks) {
    const int nb = int(std::min<int64_t>(kMaxBlocks, packs.end - cb));
    pack_panel(a.w_hh, 1, H, GH, H, int(cb), nb, 1, same, a.packed + cb * N * GH);
  }
  std::vector<T> s1(B), s2(B), dg(GH);
  T* sums = a.sums + w.index * a.sums_ld;
  w.sync();  // dh (the final state's gradient) is in place for every unit; panels packed
  for (int64_t s = 0; s < a.T_; ++s) {
    const int64_t t = a.reverse ? s : a.T_ - 1 - s;
    if (a.lstm) output_sums(a, t, rows, s1, s2);
    for (int64_t b = rows.begin; b < rows.end; ++b) {  // 1. gate gradients of own units
      for (int64_t ub = units.begin; ub < units.end; ++ub) {
        const int64_t u0 = ub * N;
        const int n = int(std::min<int64_t>(N, H - u0));
        if (!ln_valid(a.lengths, t, b)) {
          pass_row(a, t, b, u0, n);
        } else if (a.lstm) {
          ln_lstm_backward(a, t, b, u0, n, s1[b], s2[b], sums + 2 * GH);
        } else {
          ln_gru_backward(a, t, b, u0, n);
        }
      }
    }
    if (!by_rows) w.sync();
    recurrent_ln_backward(a, t, units, rows, sums, dg);  // 2.
    if (!by_rows) w.sync();
    carry(a, t, units, rows);  // 3.
    if (!by_rows) w.sync();
  }
}

}  // namespace

int ln_threads(int64_t B, int64_t H, int64_t GH, int64_t D, int lanes) {
  const int avail = at::in_parallel_region() ? 1 : at::get_num_threads();
  constexpr int64_t kFlopsPerThread = int64_t(1) << 18;  // as layer.cpp: ~4 us per step
  const int64_t most = std::max<int64_t>(1, blocks(H, lanes));
  const int64_t per_dir = std::clamp<int64_t>(2 * B * GH * H / kFlopsPerThread, 1, most);
  return int(std::min<int64_t>(avail, per_dir * D));
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

template void run_ln<float>(bool, std::vector<LnArgs<float>>&, int);
template void run_ln<double>(bool, std::vector<LnArgs<double>>&, int);

}  // namespace lstmkit
