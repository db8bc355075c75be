// The backward time loop (backpropagation through time), from the last step to the first.
//
// Per step, each worker owns a range of units and the same range of columns of h:
//   1. gate gradients of its units from dL/dh (output gradient + carried) and the carried dL/dc
//   2. barrier: every unit's gate gradients of this step are written
//   3. dL/dh_{t-1} for its columns = dG_t W_hh[:, its columns] + the direct part
// so step 1 of the next step needs only the worker's own columns: one barrier per step. With a
// projection (h = W_hr r) a phase before step 1 forms dL/dh and a barrier publishes it.
// With enough rows (split_rows in team.h) the workers split the batch instead: each runs
// steps 1 and 3 for all units of its own rows, and no barrier is needed.
// The weight and input gradients are left to large GEMMs over all steps (ops.cpp).
#include <algorithm>

#include "all_cells.h"
#include "gemm.h"
#include "recurrent.h"
#include "team.h"

namespace lstmkit {
namespace {

inline bool valid(const int64_t* lengths, int64_t t, int64_t b) {
  return !lengths || t < lengths[b];
}

template <typename T>
bool fgr(const BwdArgs<T>& a) {
  return a.var && a.var->fgr;
}

template <typename T>
BwdStep<T> step_pointers(const BwdArgs<T>& a, int64_t t) {
  const int64_t B = a.B, H = a.H;
  const int64_t prev = t + (a.reverse ? 1 : 0), next = t + (a.reverse ? 0 : 1);
  BwdStep<T> st;
  st.H = H;
  st.GH = a.GH;
  st.gates = a.gates + t * B * a.GH;
  st.extra = a.extra ? a.extra + t * B * H : nullptr;
  st.h_prev = a.hs + prev * B * a.P;
  st.h_ld = a.P;
  st.c_prev = a.cs ? a.cs + prev * B * H : nullptr;
  st.c_new = a.cs ? a.cs + next * B * H : nullptr;
  st.dc = a.dc0;
  st.dgi = a.dgi + t * B * a.GH;
  st.dgh = a.dgh + t * B * a.GH;
  st.dh_direct = a.dh_direct;
  st.dz = a.dh0;
  st.var = a.var;
  st.t = t;
  return st;
}

// A step past the sequence's length: no gate gradient, dL/dh and dL/dc pass through.
template <typename T>
void pass_through(const BwdStep<T>& st, int G, int64_t b, int64_t u0, int n) {
  for (int g = 0; g < G; ++g) {
    std::fill_n(st.dgi + b * st.GH + g * st.H + u0, n, T(0));
    if (st.dgh != st.dgi) std::fill_n(st.dgh + b * st.GH + g * st.H + u0, n, T(0));
  }
}

// Projection: dL/dh = output gradient + carried, for this worker's columns of h.
template <typename T>
void gather_dh(const BwdArgs<T>& a, Range cols, int64_t t) {
  constexpr int N = Simd<T>::N;
  const T* dout = a.dout + t * a.B * a.dout_ld;
  T* saved = a.dh_proj + t * a.B * a.P;
  for (int64_t b = 0; b < a.B; ++b) {
    const bool ok = valid(a.lengths, t, b);
    for (int64_t cb = cols.begin; cb < cols.end; ++cb) {
      const int64_t c0 = cb * N;
      const int n = int(std::min<int64_t>(N, a.P - c0));
      const vec<T> carried = load_n(a.dh0 + b * a.P + c0, n);
      const vec<T> dh = ok ? carried + load_n(dout + b * a.dout_ld + c0, n) : carried;
      store_n(a.dh_step + b * a.P + c0, dh, n);
      store_n(saved + b * a.P + c0, ok ? dh : vec<T>{}, n);
      store_n(a.dh_direct + b * a.P + c0, ok ? vec<T>{} : dh, n);
    }
  }
}

// Ask for what the gate gradients of row b of step t read, for units [u0, u1): the saved
// activations and cell states of a long sequence are far larger than the caches, and the
// units of a row are too few for the hardware prefetcher to follow.
template <typename T>
void prefetch_row(const BwdArgs<T>& a, int G, int64_t t, int64_t b, int64_t u0, int64_t u1) {
  constexpr int64_t kLine = 64 / sizeof(T);
  if (t < 0 || t >= a.T_ || b >= a.B) return;
  const int64_t B = a.B, H = a.H, slot = t + (a.reverse ? 1 : 0);
  const T* gates = a.gates + (t * B + b) * a.GH;
  const T* dout = a.dout + (t * B + b) * a.dout_ld;
  for (int64_t u = u0; u < u1; u += kLine) {
    for (int g = 0; g < G; ++g) __builtin_prefetch(gates + g * H + u);
    __builtin_prefetch(dout + u);
    if (a.cs) {
      __builtin_prefetch(a.cs + (slot * B + b) * H + u);
      __builtin_prefetch(a.cs + ((a.reverse ? t : t + 1) * B + b) * H + u);
    }
    if (a.extra) __builtin_prefetch(a.extra + (t * B + b) * H + u);
  }
}

// Gate gradients for this worker's units; dL/dr = dL/dh W_hr with a projection.
template <typename T, typename Cell>
void gate_grads(const BwdArgs<T>& a, const BwdStep<T>& st, Range units, Range rows, int64_t t) {
  constexpr int N = Simd<T>::N;
  const int64_t B = a.B, H = a.H;
  if (!a.proj) {
    const T* dout = a.dout + t * B * a.dout_ld;
    const int64_t u_lo = units.begin * N, u_hi = std::min(units.end * N, H);
    const int64_t t_next = a.reverse ? t + 1 : t - 1, n_rows = rows.end - rows.begin;
    for (int64_t b = rows.begin; b < rows.end; ++b) {
      const int64_t ahead = b + 2 - rows.begin;  // the row two ahead, maybe of the next step
      prefetch_row(a, Cell::G, ahead < n_rows ? t : t_next, rows.begin + ahead % n_rows, u_lo,
                   u_hi);
      const bool ok = valid(a.lengths, t, b);
      for (int64_t ub = units.begin; ub < units.end; ++ub) {
        const int64_t u0 = ub * N;
        const int n = int(std::min<int64_t>(N, H - u0));
        const vec<T> carried = load_n(a.dh0 + b * a.P + u0, n);
        if (ok) {
          if (!Cell::kDirect) store_n(a.dh_direct + b * a.P + u0, vec<T>{}, n);
          Cell::backward(st, b, u0, n, carried + load_n(dout + b * a.dout_ld + u0, n));
        } else {
          pass_through(st, Cell::G, b, u0, n);
          for (int64_t g = 0; g < (fgr(a) ? 4 : 1); ++g)  // FGR: q's part passes too
            store_n(a.dh_direct + b * a.P + g * H + u0, load_n(a.dh0 + b * a.P + g * H + u0, n),
                    n);
        }
      }
    }
    return;
  }
  Tile<T> tile;
  for (int64_t ub = units.begin; ub < units.end; ub += kMaxBlocks) {
    const int nb = int(std::min<int64_t>(kMaxBlocks, units.end - ub));
    const T* panel = a.packed_r + ub * N * a.P;
    for (int64_t row = rows.begin; row < rows.end; row += kMaxRows) {
      const int mr = int(std::min<int64_t>(kMaxRows, rows.end - row));
      tile_product(a.dh_step + row * a.P, a.P, a.P, panel, mr, nb, tile);
      for (int r = 0; r < mr; ++r) {
        const int64_t b = row + r;
        const bool ok = valid(a.lengths, t, b);
        for (int j = 0; j < nb; ++j) {
          const int64_t u0 = (ub + j) * N;
          const int n = int(std::min<int64_t>(N, H - u0));
          if (ok) {
            Cell::backward(st, b, u0, n, tile.acc[r][j]);
          } else {
            pass_through(st, Cell::G, b, u0, n);
          }
        }
      }
    }
  }
}

// dL/dh_{t-1} = dG_t W_hh + direct part, for this worker's columns of h.
template <typename T>
void carry_dh(const BwdArgs<T>& a, const BwdStep<T>& st, Range cols, Range rows) {
  constexpr int N = Simd<T>::N;
  Tile<T> tile;
  for (int64_t cb = cols.begin; cb < cols.end; cb += kMaxBlocks) {
    const int nb = int(std::min<int64_t>(kMaxBlocks, cols.end - cb));
    const T* panel = a.packed + cb * N * a.GH;
    for (int64_t row = rows.begin; row < rows.end; row += kMaxRows) {
      const int mr = int(std::min<int64_t>(kMaxRows, rows.end - row));
      tile_product(st.dgh + row * a.GH, a.GH, a.GH, panel, mr, nb, tile);
      for (int r = 0; r < mr; ++r) {
        const int64_t b = row + r;
        for (int j = 0; j < nb; ++j) {
          const int64_t c0 = (cb + j) * N;
          const int n = int(std::min<int64_t>(N, a.P - c0));
          T* dh = a.dh0 + b * a.P + c0;
          vec<T> through = tile.acc[r][j];
          if (a.var && a.var->rmask) through = through * load_n(a.var->rmask + b * a.P + c0, n);
          store_n(dh, through + load_n(a.dh_direct + b * a.P + c0, n), n);
        }
      }
    }
  }
}

template <typename T, typename Cell>
void backward_direction(const BwdArgs<T>& a, const Worker& w) {
  constexpr int N = Simd<T>::N;
  const int64_t B = a.B, H = a.H, P = a.P, GH = a.GH;
  const bool by_rows = !a.proj && split_rows(B, w.size, kMaxRows);
  const Range units = by_rows ? Range{0, blocks(H, N)} : share(blocks(H, N), w.index, w.size);
  // The columns of dL/dh_{t-1} this worker forms: its units', unless h is projected or (FGR)
  // q = [i, f, o] sits beside h, whose columns are not a unit's; then a share of all P.
  const bool wide = fgr(a);
  const Range cols = by_rows && wide  ? Range{0, blocks(P, N)}
                     : a.proj || wide ? share(blocks(P, N), w.index, w.size)
                                      : units;
  const Range rows = by_rows ? row_share(B, w.index, w.size, kMaxRows) : Range{0, B};
  // The columns whose panels of W_hh this worker packs.
  const Range packs = by_rows ? panel_share(cols.end, kMaxBlocks, w.index, w.size) : cols;
  auto same = [](int64_t u, int) { return u; };
  for (int64_t cb = packs.begin; cb < packs.end; cb += kMaxBlocks) {
    const int nb = int(std::min<int64_t>(kMaxBlocks, packs.end - cb));
    pack_panel(a.w_hh, 1, P, GH, P, int(cb), nb, 1, same, a.packed + cb * N * GH);
  }
  for (int64_t ub = units.begin; a.proj && ub < units.end; ub += kMaxBlocks) {
    const int nb = int(std::min<int64_t>(kMaxBlocks, units.end - ub));
    pack_panel(a.w_hr, 1, H, P, H, int(ub), nb, 1, same, a.packed_r + ub * N * P);
  }
  if (by_rows) w.sync();  // every panel is packed: each worker reads all of them
  const int64_t c_lo = std::min(cols.begin * N, P), c_hi = std::min(cols.end * N, P);
  const int64_t u_lo = std::min(units.begin * N, H), u_hi = std::min(units.end * N, H);
  for (int64_t b = rows.begin; b < rows.end; ++b) {
    std::copy(a.dh_n + b * P + c_lo, a.dh_n + b * P + c_hi, a.dh0 + b * P + c_lo);
    if (!a.dc0) continue;
    if (a.dc_n) {
      std::copy(a.dc_n + b * H + u_lo, a.dc_n + b * H + u_hi, a.dc0 + b * H + u_lo);
    } else {
      std::fill(a.dc0 + b * H + u_lo, a.dc0 + b * H + u_hi, T(0));
    }
  }
  if (wide && !by_rows) w.sync();  // dL/dz_T is in place, copied by columns
  for (int64_t s = 0; s < a.T_; ++s) {
    const int64_t t = a.reverse ? s : a.T_ - 1 - s;
    const BwdStep<T> st = step_pointers(a, t);
    if (a.proj) {
      gather_dh(a, cols, t);
      w.sync();
    }
    gate_grads<T, Cell>(a, st, units, rows, t);
    if (!by_rows) w.sync();  // every unit's gate gradients of this step are written
    carry_dh(a, st, cols, rows);
    if (wide && !by_rows) w.sync();  // the next step's units read other workers' columns
  }
}

}  // namespace

template <typename T>
void run_backward(int64_t cell, BwdArgs<T>* dirs, int num_dirs, int threads) {
  with_cell(cell, [&](auto kind) {
    using Cell = decltype(kind);
    run_team(num_dirs, threads,
             [&](const Worker& w) { backward_direction<T, Cell>(dirs[w.group], w); });
  });
}

template void run_backward<float>(int64_t, BwdArgs<float>*, int, int);
template void run_backward<double>(int64_t, BwdArgs<double>*, int, int);

}  // namespace lstmkit
