// The forward time loop: per step, each worker multiplies h_{t-1} by its own panels of W_hh
// (the four gates of its units together), applies the cell's gate math to the tile while it
// is still in registers, and meets the other workers at the barrier.
//
// With enough rows (split_rows in team.h), the workers split the batch instead: each runs
// the whole recurrence of its own rows, reading every panel, and needs no barrier per step.
#include <algorithm>

#include "all_cells.h"
#include "gemm.h"
#include "gemv.h"
#include "recurrent.h"
#include "team.h"

namespace lstmkit {
namespace {

// A row whose step lies past its sequence's length keeps its state and outputs zeros.
template <typename T>
void keep_state(const FwdArgs<T>& a, const FwdStep<T>& s, int64_t b, int64_t u0, int n) {
  if (s.c_new) std::copy_n(s.c_prev + b * a.H + u0, n, s.c_new + b * a.H + u0);
  if (s.r) {
    if (a.save) std::fill_n(s.r + b * a.H + u0, n, T(0));  // no gradient flows to W_hr
    return;  // h itself is handled by the projection phase
  }
  for (int64_t g = 0; g < ((s.var && s.var->fgr) ? 4 : 1); ++g)  // h, and FGR's q = [i, f, o]
    std::copy_n(s.h_prev + b * s.h_ld + g * a.H + u0, n, s.h_new + b * s.h_ld + g * a.H + u0);
  if (s.h_in) std::copy_n(s.h_in + b * s.h_ld + u0, n, s.h_in_new + b * s.h_ld + u0);
  std::fill_n(s.out + b * s.out_ld + u0, n, T(0));
}

inline bool valid(const int64_t* lengths, int64_t t, int64_t b) {
  return !lengths || t < lengths[b];
}

template <typename T>
FwdStep<T> step_pointers(const FwdArgs<T>& a, int64_t s, int64_t t) {
  const int64_t B = a.B, H = a.H, P = a.P;
  const int64_t prev = a.save ? t + (a.reverse ? 1 : 0) : s % 2;
  const int64_t next = a.save ? t + (a.reverse ? 0 : 1) : (s + 1) % 2;
  FwdStep<T> st;
  st.H = H;
  st.GH = a.GH;
  st.gates = a.gates + t * B * a.GH;
  st.pre = a.stacked ? a.bias : st.gates;
  st.pre_ld = a.stacked ? 0 : a.GH;
  st.h_prev = a.hs + prev * B * P;
  st.h_ld = P;
  st.h_new = a.hs + next * B * P;
  st.out = a.out + t * B * a.out_ld;
  st.out_ld = a.out_ld;
  st.c_prev = a.cs ? a.cs + prev * B * H : nullptr;
  st.c_new = a.cs ? a.cs + next * B * H : nullptr;
  st.r = a.proj ? a.rs + (a.save ? t * B * H : 0) : nullptr;
  st.extra = a.extra ? a.extra + t * B * H : nullptr;
  st.b_hn = a.b_hn;
  st.save = a.save;
  st.var = a.var;
  st.t = t;
  if (a.var && a.var->masked) {  // recurrent dropout: two slots of h * mask in turn
    const int64_t in = a.reverse ? (t + 1) % 2 : t % 2;
    st.h_in = a.var->masked + in * B * P;
    st.h_in_new = a.var->masked + (1 - in) * B * P;
  }
  return st;
}

// h = W_hr r for this worker's columns of h (LSTM with projection).
template <typename T>
void project(const FwdArgs<T>& a, const FwdStep<T>& st, Range cols, int64_t t) {
  constexpr int N = Simd<T>::N;
  Tile<T> tile;
  for (int64_t pb = cols.begin; pb < cols.end; pb += kMaxBlocks) {
    const int nb = int(std::min<int64_t>(kMaxBlocks, cols.end - pb));
    const T* panel = a.packed_r + pb * N * a.H;
    for (int64_t row = 0; row < a.B; row += kMaxRows) {
      const int mr = int(std::min<int64_t>(kMaxRows, a.B - row));
      tile_product(st.r + row * a.H, a.H, a.H, panel, mr, nb, tile);
      for (int r = 0; r < mr; ++r) {
        const int64_t b = row + r;
        for (int j = 0; j < nb; ++j) {
          const int64_t p0 = (pb + j) * N;
          const int n = int(std::min<int64_t>(N, a.P - p0));
          if (valid(a.lengths, t, b)) {
            store_n(st.h_new + b * a.P + p0, tile.acc[r][j], n);
            store_n(st.out + b * a.out_ld + p0, tile.acc[r][j], n);
          } else {
            std::copy_n(st.h_prev + b * a.P + p0, n, st.h_new + b * a.P + p0);
            std::fill_n(st.out + b * a.out_ld + p0, n, T(0));
          }
        }
      }
    }
  }
}

// Rows of K in a panel of W_hh: P, or I + P with W_ih stacked above W_hh.
template <typename T>
int64_t panel_depth(const FwdArgs<T>& a) {
  return a.stacked ? a.I + a.P : a.P;
}

// Pack this worker's panels: W_hh by its units (the G gates of a unit block together; with
// ``stacked``, below the same rows of W_ih) and, with a projection, W_hr by its columns of h.
template <typename T, int G>
void pack_own(const FwdArgs<T>& a, Range units, Range cols) {
  constexpr int N = Simd<T>::N;
  constexpr int UB = kMaxBlocks / G;
  const int64_t H = a.H, P = a.P, K = panel_depth(a);
  for (int64_t ub = units.begin; ub < units.end && !a.folded; ub += UB) {
    const int nb = int(std::min<int64_t>(UB, units.end - ub));
    auto col = [H](int64_t u, int g) { return g * H + u; };
    T* panel = a.packed + ub * N * G * K;  // (K, nb * G * N)
    if (a.stacked) pack_panel(a.w_ih, a.I, 1, a.I, H, int(ub), nb, G, col, panel);
    pack_panel(a.w_hh, P, 1, P, H, int(ub), nb, G, col, panel + (K - P) * nb * G * N);
  }
  for (int64_t pb = cols.begin; pb < cols.end; pb += kMaxBlocks) {
    const int nb = int(std::min<int64_t>(kMaxBlocks, cols.end - pb));
    auto col = [](int64_t u, int) { return u; };
    pack_panel(a.w_hr, H, 1, H, P, int(pb), nb, 1, col, a.packed_r + pb * N * H);
  }
}

// Ask for the input projection of rows [row, row + mr) and units [u0, u0 + n) of a step: the
// tile's product takes long enough to hide the misses (the projection of a long sequence is
// far larger than the caches).
template <typename T, int G>
void prefetch_rows(const T* gates, int64_t GH, int64_t H, int64_t row, int mr, int64_t u0,
                   int64_t n) {
  constexpr int64_t kLine = 64 / sizeof(T);
  for (int r = 0; r < mr; ++r)
    for (int g = 0; g < G; ++g)
      for (int64_t u = u0; u < u0 + n; u += kLine)
        __builtin_prefetch(gates + (row + r) * GH + g * H + u);
}

// One step for this worker's units: the recurrent product of each tile of (rows x units),
// then the cell's gate math on it while it is in registers.
template <typename T, typename Cell>
void step_units(const FwdArgs<T>& a, const FwdStep<T>& st, Range units, Range rows, int64_t t) {
  constexpr int N = Simd<T>::N;
  constexpr int G = Cell::G;
  constexpr int UB = kMaxBlocks / G;  // unit blocks per panel
  const int64_t K = panel_depth(a);
  Tile<T> tile;
  for (int64_t ub = units.begin; ub < units.end; ub += UB) {
    const int nb = int(std::min<int64_t>(UB, units.end - ub));
    const T* panel = a.packed + ub * N * G * K;
    for (int64_t row = rows.begin; row < rows.end; row += kMaxRows) {
      const int mr = int(std::min<int64_t>(kMaxRows, rows.end - row));
      const int64_t u0 = ub * N;
      if (a.stacked) {  // W_ih x_t, and W_hh h_{t-1} below it in the panel
        const Below<T> h{st.h_in ? st.h_in + row * a.P : st.h_prev + row * a.P, a.P, a.P};
        tile_product(a.x + (t * a.B + row) * a.I, a.I, a.I, panel, mr, nb * G, tile, 1, h);
      } else if (a.folded) {
        tile = Tile<T>{};
        for (int r = 0; r < mr && a.rec_n; ++r)  // the GRU's W_hn h, what acc[2] holds
          for (int j = 0; j < nb; ++j) {
            const int64_t v0 = (ub + j) * N;
            const int n = int(std::min<int64_t>(N, a.H - v0));
            tile.acc[r][j * G + G - 1] = load_n(a.rec_n + (row + r) * a.H + v0, n);
          }
      } else {
        const int64_t n = std::min<int64_t>(UB * N, a.H - u0);
        prefetch_rows<T, G>(st.gates, a.GH, a.H, row, mr, u0, n);
        const T* h_in = st.h_in ? st.h_in : st.h_prev;
        tile_product(h_in + row * a.P, a.P, a.P, panel, mr, nb * G, tile);
      }
      for (int r = 0; r < mr; ++r) {
        const int64_t b = row + r;
        const bool ok = valid(a.lengths, t, b);
        for (int j = 0; j < nb; ++j) {
          const int64_t u0 = (ub + j) * N;
          const int n = int(std::min<int64_t>(N, a.H - u0));
          if (ok) {
            Cell::forward(st, b, u0, n, &tile.acc[r][j * G]);
          } else {
            keep_state(a, st, b, u0, n);
          }
        }
      }
    }
  }
}

// A cell call with few rows: this worker's rows of the gates, (B, GH) at T = 1.
template <typename T, int G>
void direct_gates(const FwdArgs<T>& a, Range units) {
  constexpr int N = Simd<T>::N;
  const int64_t u0 = units.begin * N, n = std::min(units.end * N, a.H) - u0;
  for (int g = 0; g < G && n > 0; ++g) {
    const int64_t r0 = g * a.H + u0;  // first row of W (column of the gates) of gate g
    T* out = a.gates + r0;
    const bool apart = a.rec_n && g == G - 1;  // the GRU's n: W_hn h into rec_n, no bias
    dot_rows(a.x, a.I, a.B, a.w_ih + r0 * a.I, a.I, a.I, n, out, a.GH, false);
    if (apart) {
      dot_rows(a.h_in, a.P, a.B, a.w_hh + r0 * a.P, a.P, a.P, n, a.rec_n + u0, a.H, false);
    } else {
      dot_rows(a.h_in, a.P, a.B, a.w_hh + r0 * a.P, a.P, a.P, n, out, a.GH, true);
    }
    for (int64_t b = 0; b < a.B && a.b_ih; ++b)
      for (int64_t u = 0; u < n; ++u)
        out[b * a.GH + u] += apart ? a.b_ih[r0 + u] : a.b_ih[r0 + u] + a.b_hh[r0 + u];
  }
}

template <typename T, typename Cell>
void forward_direction(const FwdArgs<T>& a, const Worker& w) {
  constexpr int N = Simd<T>::N;
  constexpr int UB = kMaxBlocks / Cell::G;  // unit blocks per panel
  const bool by_rows = !a.proj && !a.folded && split_rows(a.B, w.size, kMaxRows);
  const int64_t unit_blocks = blocks(a.H, N);
  const Range units = by_rows ? Range{0, unit_blocks} : share(unit_blocks, w.index, w.size);
  const Range rows = by_rows ? row_share(a.B, w.index, w.size, kMaxRows) : Range{0, a.B};
  const Range packs = by_rows ? panel_share(unit_blocks, UB, w.index, w.size) : units;
  const Range cols = a.proj ? share(blocks(a.P, N), w.index, w.size) : Range{0, 0};
  if (a.direct) direct_gates<T, Cell::G>(a, units);
  pack_own<T, Cell::G>(a, packs, cols);
  if (by_rows) w.sync();  // every panel is packed: each worker reads all of them
  for (int64_t s = 0; s < a.T_; ++s) {
    const int64_t t = a.reverse ? a.T_ - 1 - s : s;
    const FwdStep<T> st = step_pointers(a, s, t);
    step_units<T, Cell>(a, st, units, rows, t);
    if (a.proj) {
      w.sync();  // r of every unit is written
      project(a, st, cols, t);
    }
    // h_t is complete: the next step may read it (after the last one, run_team's end waits)
    if (!by_rows && s + 1 < a.T_) w.sync();
  }
}

}  // namespace

template <typename T>
void run_forward(int64_t cell, FwdArgs<T>* dirs, int num_dirs, int threads) {
  with_cell(cell, [&](auto kind) {
    using Cell = decltype(kind);
    run_team(num_dirs, threads,
             [&](const Worker& w) { forward_direction<T, Cell>(dirs[w.group], w); });
  });
}

template void run_forward<float>(int64_t, FwdArgs<float>*, int, int);
template void run_forward<double>(int64_t, FwdArgs<double>*, int, int);

int simd_lanes(bool is_double) { return is_double ? Simd<double>::N : Simd<float>::N; }

}  // namespace lstmkit
