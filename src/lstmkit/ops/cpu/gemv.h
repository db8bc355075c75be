// Products of a few rows (a cell call's batch) with weight rows stored as torch stores them.
//
// One step of a small batch reads every weight once and does two multiply-adds per weight
// element and row: it is bound by reading the weights, not by arithmetic. Packing them into
// panels first (gemm.h) would read them twice, so this reads W's rows where they are
// (row-major, K contiguous) and forms dot products, WR rows of W against up to kMaxRows
// rows of A at a time (8 rows of W for one or two rows of A with AVX-512), reducing the
// lanes at the end.
#pragma once

#include <algorithm>
#include <cstdint>

#include "gemm.h"
#include "simd.h"

namespace lstmkit {

// Accumulators a pass may hold: BR rows of A x WR rows of W, half the vector registers.
constexpr int kDotAccs = kVecBytes == 64 ? 16 : 8;
// Rows of W a pass reads at once. Each is a pointer in a general register: at 16 (one per
// lane with AVX-512) they do not all fit, and the compiler moved pointers and accumulators
// through the stack in the inner loop; 8 read the weights 1.5-1.8 x faster (B = 1, H = 256).
constexpr int kDotWeightRows = 8;

// WR for BR rows of A: the most rows of W (a power of two, at most the lanes and
// kDotWeightRows) that fit.
template <typename T, int BR>
constexpr int dot_pass_rows() {
  int wr = 1;
  while (wr * 2 * BR <= kDotAccs && wr * 2 <= std::min(Simd<T>::N, kDotWeightRows)) wr *= 2;
  return wr;
}

// Sums the lanes of each of v[0 .. n) at once: each level adds the halves of a pair of
// vectors into one (swap_blocks), so after log2(n) levels one vector holds every row's
// partial sums, and the last levels add those within it. Lane r * (N / n) of v[0] ends
// with the sum of v[r]. (Summing each vector lane by lane took longer than its products.)
template <typename T, int S, int n>
inline void sum_lanes(vec<T>* v) {
  for (int i = 0; i < std::max(1, n / 2); ++i) {
    vec<T> a = v[i], b = v[n > 1 ? i + n / 2 : i];
    swap_blocks<T, S>(a, b);
    v[i] = a + b;
  }
  if constexpr (S > 1) sum_lanes<T, S / 2, std::max(1, n / 2)>(v);
}

// out[b * ldo + r] (+)= sum_k A[b * lda + k] * W[r * ldw + k] for b < BR, r < WR.
template <typename T, int BR, int WR>
inline void dot_tile(const T* A, int64_t lda, const T* W, int64_t ldw, int64_t K, T* out,
                     int64_t ldo, bool accumulate) {
  constexpr int N = Simd<T>::N;
  vec<T> acc[BR][WR];
  for (int b = 0; b < BR; ++b)
    for (int r = 0; r < WR; ++r) acc[b][r] = vec<T>{};
  // The whole vector blocks, then the partial one apart: no partial loads in the main loop.
  const auto block = [&](int64_t k, int n) {
    vec<T> a[BR];
    for (int b = 0; b < BR; ++b) a[b] = load_n(A + b * lda + k, n);
    for (int r = 0; r < WR; ++r) {
      const vec<T> w = load_n(W + r * ldw + k, n);
      for (int b = 0; b < BR; ++b) acc[b][r] += a[b] * w;
    }
  };
  const int64_t whole = K / N * N;
  for (int64_t k = 0; k < whole; k += N) block(k, N);
  if (whole < K) block(whole, int(K - whole));
  for (int b = 0; b < BR; ++b) {
    sum_lanes<T, N / 2, WR>(acc[b]);
    for (int r = 0; r < WR; ++r) {
      T& o = out[b * ldo + r];
      o = (accumulate ? o : T(0)) + acc[b][0][r * (N / WR)];
    }
  }
}

template <typename T, int BR>
inline void dot_rows_b(const T* A, int64_t lda, const T* W, int64_t ldw, int64_t K,
                       int64_t rows, T* out, int64_t ldo, bool accumulate) {
  constexpr int WR = dot_pass_rows<T, BR>();
  int64_t r = 0;
  for (; r + WR <= rows; r += WR)
    dot_tile<T, BR, WR>(A, lda, W + r * ldw, ldw, K, out + r, ldo, accumulate);
  for (; r < rows; ++r) dot_tile<T, BR, 1>(A, lda, W + r * ldw, ldw, K, out + r, ldo, accumulate);
}

// out (B, rows; row stride ldo) (+)= A (B, K) W^T for ``rows`` rows of W, B <= kMaxRows.
template <typename T>
inline void dot_rows(const T* A, int64_t lda, int64_t B, const T* W, int64_t ldw, int64_t K,
                     int64_t rows, T* out, int64_t ldo, bool accumulate) {
  for (int64_t b = 0; b < B; b += kMaxRows) {
    const T* a = A + b * lda;
    T* o = out + b * ldo;
    switch (std::min<int64_t>(kMaxRows, B - b)) {
      case 1: dot_rows_b<T, 1>(a, lda, W, ldw, K, rows, o, ldo, accumulate); break;
      case 2: dot_rows_b<T, 2>(a, lda, W, ldw, K, rows, o, ldo, accumulate); break;
      case 3:
        dot_rows_b<T, std::min(3, kMaxRows)>(a, lda, W, ldw, K, rows, o, ldo, accumulate);
        break;
      default: dot_rows_b<T, kMaxRows>(a, lda, W, ldw, K, rows, o, ldo, accumulate); break;
    }
  }
}

}  // namespace lstmkit
