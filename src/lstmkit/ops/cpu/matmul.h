// Large matrix products on the micro-kernel of the time loops: the input projection before a
// forward loop, and dX, dW_ih, dW_hh after a backward loop.
//
// C (M x N) = [C +] [bias +] A (M x K) B (K x N), with any strides: A[i * a_rs + k * a_ks],
// B[k * b_ks + j * b_cs], C[i * ldc + j]. So a transposed operand costs nothing extra
// (dW = dG^T X reads dG with a_rs = 1, a_ks = GH).
//
// Blocking: the threads split the columns (each packs only its own panels of B); for each
// block of kKc rows of K, a thread packs its panels of B once, then for each chunk of kMc
// rows of A (kept in L2) runs the micro-kernel over every panel (kept in L2) and row tile.
// On this micro-kernel one core reaches its FMA peak; oneDNN's inner product reaches about
// three quarters of it on the AMD CPUs we measured, and MKL's sgemm less.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "gemm.h"

namespace lstmkit {

template <typename T>
struct MatmulArgs {
  int64_t M, N, K;
  const T* A;
  int64_t a_rs, a_ks;
  const T* B;
  int64_t b_ks, b_cs;
  T* C;
  int64_t ldc;
  const T* bias = nullptr;  // (N,) added once, or nullptr
  bool accumulate = false;  // C += ... instead of C = ...
};

namespace detail {

constexpr int64_t kKc = 1024;  // rows of K per packed block
constexpr int64_t kMc = 64;    // rows of A per chunk

// C's tile (rows i0 .. i0 + mr, panel columns c0 ..) gets the tile; ``first`` block of K:
// C = [C +] [bias +] tile, else C += tile.
template <typename T>
void store_tile(const MatmulArgs<T>& a, const Tile<T>& tile, int64_t i0, int mr, int64_t c0,
                int nb, bool first) {
  constexpr int N = Simd<T>::N;
  for (int r = 0; r < mr; ++r) {
    T* c = a.C + (i0 + r) * a.ldc;
    for (int j = 0; j < nb; ++j) {
      const int64_t col = c0 + j * N;
      const int n = int(std::min<int64_t>(N, a.N - col));
      vec<T> v = tile.acc[r][j];
      if (!first || a.accumulate) v += load_n(c + col, n);
      if (first && a.bias) v += load_n(a.bias + col, n);
      store_n(c + col, v, n);
    }
  }
}

// A with a_ks != 1 (a transposed operand): rows [m0, m1) of the k block, each tile of
// kMaxRows rows k-major, so the micro-kernel's broadcasts read consecutive addresses. The
// loop over k is the outer one: the chunk's elements of one k (adjacent in dL/dG) are read
// together, line by line. Tile by tile instead, each line of A was read once per tile (four
// times), a whole k block apart: dL/dW took 1.05-1.27 x longer (B = 32 and 128, H = 256).
template <typename T>
void pack_rows(const MatmulArgs<T>& a, int64_t m0, int64_t m1, int64_t k0, int64_t kc,
               T* out) {
  for (int64_t k = 0; k < kc; ++k) {
    const T* src = a.A + (k0 + k) * a.a_ks;
    for (int64_t i = m0; i < m1; i += kMaxRows) {
      const int mr = int(std::min<int64_t>(kMaxRows, m1 - i));
      T* tile = out + (i - m0) * kc + k * kMaxRows;  // (kc, kMaxRows)
      if (a.a_rs == 1 && mr == kMaxRows) {
        std::copy_n(src + i, kMaxRows, tile);
      } else {
        for (int r = 0; r < mr; ++r) tile[r] = src[(i + r) * a.a_rs];
      }
    }
  }
}

// This thread's part: panels [p0, p1) of B (kMaxBlocks vector blocks each), rows [r0, r1).
template <typename T>
void matmul_block(const MatmulArgs<T>& a, int64_t p0, int64_t p1, int64_t r0, int64_t r1) {
  constexpr int N = Simd<T>::N;
  constexpr int64_t W = kMaxBlocks * N;  // columns per panel
  // Uninitialised (a vector would zero megabytes per call): every element is packed first.
  const int64_t kc_max = std::min(a.K, kKc);
  const auto packed = std::make_unique_for_overwrite<T[]>(size_t(kc_max * W * (p1 - p0)));
  const auto rows = std::make_unique_for_overwrite<T[]>(a.a_ks == 1 ? 0 : size_t(kc_max * kMc));
  Tile<T> tile;
  for (int64_t k0 = 0; k0 < a.K; k0 += kKc) {
    const int64_t kc = std::min(kKc, a.K - k0);
    for (int64_t p = p0; p < p1; ++p) {
      const int nb = int(std::min<int64_t>(kMaxBlocks, (a.N - p * W + N - 1) / N));
      auto col = [](int64_t u, int) { return u; };
      pack_panel(a.B + k0 * a.b_ks, a.b_cs, a.b_ks, kc, a.N, int(p * kMaxBlocks), nb, 1, col,
                 packed.get() + (p - p0) * kc * W);
    }
    for (int64_t m0 = r0; m0 < r1; m0 += kMc) {
      const int64_t m1 = std::min(r1, m0 + kMc);
      if (a.a_ks != 1) pack_rows(a, m0, m1, k0, kc, rows.get());
      for (int64_t p = p0; p < p1; ++p) {
        const int nb = int(std::min<int64_t>(kMaxBlocks, (a.N - p * W + N - 1) / N));
        const T* panel = packed.get() + (p - p0) * kc * W;
        for (int64_t i = m0; i < m1; i += kMaxRows) {
          const int mr = int(std::min<int64_t>(kMaxRows, m1 - i));
          if (a.a_ks == 1) {
            tile_product(a.A + i * a.a_rs + k0, a.a_rs, kc, panel, mr, nb, tile);
          } else {  // the tile's rows, packed k-major: A[r][k] at [k * kMaxRows + r]
            tile_product(rows.get() + (i - m0) * kc, 1, kc, panel, mr, nb, tile, kMaxRows);
          }
          store_tile(a, tile, i, mr, p * W, nb, k0 == 0);
        }
      }
    }
  }
}

}  // namespace detail

// C = [C +] [bias +] A B on up to at::get_num_threads() threads (see the top of the file).
template <typename T>
void matmul(const MatmulArgs<T>& a) {
  constexpr int64_t W = kMaxBlocks * Simd<T>::N;
  const int64_t panels = (a.N + W - 1) / W;
  if (a.M == 0 || panels == 0) return;
  if (a.K == 0) {  // nothing to multiply: C = [C +] bias
    for (int64_t i = 0; i < a.M; ++i)
      for (int64_t j = 0; j < a.N; ++j) {
        T& c = a.C[i * a.ldc + j];
        c = (a.accumulate ? c : T(0)) + (a.bias ? a.bias[j] : T(0));
      }
    return;
  }
  // Threads split the panels when there are enough of them, else the rows (packing all of B).
  // A transposed A (dL/dW = dG^T X) is split by rows too where it has enough of them: by
  // panels every thread packs all of A, which reads it across its rows and costs a quarter
  // of the product, while B's panels are read along its rows (by rows: dL/dW 1.07-1.18 x
  // faster at B = 32 and 128, H = 256).
  constexpr int64_t kMinWork = int64_t(1) << 20;  // multiply-adds per thread worth a fork
  const int threads = at::in_parallel_region() ? 1 : at::get_num_threads();
  const bool pack_a = a.a_ks != 1 && a.M >= 2 * threads * detail::kMc;
  if (panels >= 2 * threads && !pack_a) {
    const int64_t grain = std::max<int64_t>(1, kMinWork / std::max<int64_t>(1, a.M * a.K * W));
    at::parallel_for(0, panels, grain, [&](int64_t p0, int64_t p1) {
      detail::matmul_block(a, p0, p1, 0, a.M);
    });
  } else {
    const int64_t per_row = std::max<int64_t>(1, a.N * a.K);
    const int64_t grain = std::max<int64_t>(detail::kMc, kMinWork / per_row);
    at::parallel_for(0, a.M, grain, [&](int64_t r0, int64_t r1) {
      detail::matmul_block(a, 0, panels, r0, r1);
    });
  }
}

}  // namespace lstmkit
