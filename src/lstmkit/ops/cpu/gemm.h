// Small matrix products of the recurrence, register-blocked, plus the packing they read.
//
// Each time step multiplies a few rows (the batch) by a weight matrix that stays the same for
// the whole sequence. The weight is packed once per call into *panels*: a panel holds nb
// consecutive blocks of N columns (N = SIMD lanes), stored k-major so one step of the inner
// loop reads nb contiguous vectors:
//
//     panel[k][j][lane] = W[col0 + j * N + lane][k]      (j < nb, zero past the last column)
//
// The micro-kernel keeps an MR x nb tile of accumulators in registers and, for every k,
// broadcasts one scalar of each of the MR rows of A against the nb vectors of the panel.
// Calling at::mm per step would cost microseconds of dispatch for products this small.
#pragma once

#include <algorithm>
#include <cstdint>

#include "simd.h"

namespace lstmkit {

// MR x nb accumulators, nb vectors of the panel and a broadcast must fit the vector
// registers: 32 with AVX-512 (4 x 4 + 4 + 1), 16 otherwise (2 x 4 + 4 + 1).
constexpr int kMaxRows = kVecBytes == 64 ? 4 : 2;  // MR: rows of A per tile
constexpr int kMaxBlocks = 4;                      // nb: vector blocks per panel

template <typename T>
struct Tile {
  vec<T> acc[kMaxRows][kMaxBlocks];
};

// A second operand below the first in the panel: rows k = K .. K + K2 of the panel multiply
// A2[r * lda2 + k - K] (a time loop's [x_t, h_{t-1}] against W_ih stacked on W_hh).
template <typename T>
struct Below {
  const T* A2 = nullptr;
  int64_t lda2 = 0, K2 = 0;
};

// A[r * lda + k * ks]: ks is 1 but for a transposed A (matmul.h).
template <typename T, int MR, int NB>
inline void micro_kernel(const T* A, int64_t lda, int64_t K, const T* panel, Tile<T>& out,
                         int64_t ks, Below<T> below) {
  constexpr int N = Simd<T>::N;
  vec<T> acc[MR][NB];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NB; ++j) acc[r][j] = vec<T>{};
  for (int64_t k = 0; k < K; ++k) {
    vec<T> w[NB];
    for (int j = 0; j < NB; ++j) w[j] = pinned<T>(load(panel + (k * NB + j) * N));
    for (int r = 0; r < MR; ++r) {
      const vec<T> a = splat(A[r * lda + k * ks]);
      for (int j = 0; j < NB; ++j) acc[r][j] += a * w[j];
    }
  }
  panel += K * NB * N;
  for (int64_t k = 0; k < below.K2; ++k) {
    vec<T> w[NB];
    for (int j = 0; j < NB; ++j) w[j] = pinned<T>(load(panel + (k * NB + j) * N));
    for (int r = 0; r < MR; ++r) {
      const vec<T> a = splat(below.A2[r * below.lda2 + k]);
      for (int j = 0; j < NB; ++j) acc[r][j] += a * w[j];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NB; ++j) out.acc[r][j] = acc[r][j];
}

template <typename T, int MR>
inline void dispatch_blocks(const T* A, int64_t lda, int64_t K, const T* panel, int nb,
                            Tile<T>& out, int64_t ks, Below<T> below) {
  switch (nb) {
    case 1: return micro_kernel<T, MR, 1>(A, lda, K, panel, out, ks, below);
    case 2: return micro_kernel<T, MR, 2>(A, lda, K, panel, out, ks, below);
    case 3: return micro_kernel<T, MR, 3>(A, lda, K, panel, out, ks, below);
    default: return micro_kernel<T, MR, 4>(A, lda, K, panel, out, ks, below);
  }
}

// out.acc[r][j] = sum_k A[r * lda + k * ks] * panel[k][j] for r < mr, j < nb, plus the
// rows of the panel below K times ``below``'s A2, if any.
template <typename T>
inline void tile_product(const T* A, int64_t lda, int64_t K, const T* panel, int mr, int nb,
                         Tile<T>& out, int64_t ks = 1, Below<T> below = {}) {
  constexpr int R3 = std::min(3, kMaxRows);
  switch (mr) {
    case 1: return dispatch_blocks<T, 1>(A, lda, K, panel, nb, out, ks, below);
    case 2: return dispatch_blocks<T, 2>(A, lda, K, panel, nb, out, ks, below);
    case 3: return dispatch_blocks<T, R3>(A, lda, K, panel, nb, out, ks, below);
    default: return dispatch_blocks<T, kMaxRows>(A, lda, K, panel, nb, out, ks, below);
  }
}

// Pack the column blocks [b0, b0 + nb) of W into one panel. W's columns are "units": column
// c of block j is unit b*N + lane, and ``col(u, g)`` maps (unit, group) to W's storage:
// ``W[col(u, g) * row_stride + k * k_stride]``; groups is how many vectors per block (the
// gates of an LSTM unit block, or 1). Panel layout: [k][j * groups + g][lane].
//
// It is a transposition, done in tiles of N units x N of K held in registers: the N source
// rows of a vector block are read as N sequential streams (the hardware prefetcher follows
// them) and each tile writes whole lines of the panel. Packing a unit's whole row at a time
// instead wrote K lines per row, and at H = 512 the weights came from memory one line per
// request: packing cost as much as the first forty steps.
template <typename T, typename ColFn>
inline void pack_panel(const T* W, int64_t row_stride, int64_t k_stride, int64_t K,
                       int64_t units, int b0, int nb, int groups, ColFn col, T* panel) {
  constexpr int N = Simd<T>::N;
  const int width = nb * groups * N;
  for (int j = 0; j < nb; ++j)
    for (int g = 0; g < groups; ++g) {
      const T* src[N];
      bool full = true;
      for (int lane = 0; lane < N; ++lane) {
        const int64_t u = int64_t(b0 + j) * N + lane;
        src[lane] = u < units ? W + col(u, g) * row_stride : nullptr;
        full = full && src[lane];
      }
      T* block = panel + (j * groups + g) * N;
      int64_t k0 = 0;
      if (full && k_stride == 1) {  // rows along K: transpose N x N tiles
        for (; k0 + N <= K; k0 += N) {
          vec<T> tile[N];
          for (int lane = 0; lane < N; ++lane) tile[lane] = load(src[lane] + k0);
          transpose<T>(tile);
          for (int k = 0; k < N; ++k) store(block + (k0 + k) * width, tile[k]);
        }
      } else if (full && row_stride == 1 && src[N - 1] == src[0] + N - 1) {  // lanes adjacent
        for (; k0 < K; ++k0) store(block + k0 * width, load(src[0] + k0 * k_stride));
      }
      for (; k0 < K; ++k0)  // the tails
        for (int lane = 0; lane < N; ++lane)
          block[k0 * width + lane] = src[lane] ? src[lane][k0 * k_stride] : T(0);
    }
}

}  // namespace lstmkit
