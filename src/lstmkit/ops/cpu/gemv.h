// Products of a few rows (a cell call's batch) with weight rows stored as torch stores them.
//
// One step of a small batch reads every weight once and does two multiply-adds per weight
// element and row: it is bound by reading the weights, not by arithmetic. Packing them into
// panels first (gemm.h) would read them twice, so this reads W's rows where they are
// (row-major, K contiguous) and forms dot products, WR rows of W against up to kMaxRows
// rows of A at a time, reducing the lanes at the end.
#pragma once

#include <algorithm>
#include <cstdint>

#include "gemm.h"
#include "simd.h"

namespace lstmkit {

constexpr int kDotRows = kVecBytes == 64 ? 4 : 2;  // WR: rows of W per pass

template <typename T>
inline T lane_sum(vec<T> v) {
  T s = T(0);
  for (int i = 0; i < Simd<T>::N; ++i) s += v[i];
  return s;
}

// out[b * ldo + r] (+)= sum_k A[b * lda + k] * W[r * ldw + k] for b < BR, r < WR.
template <typename T, int BR, int WR>
inline void dot_tile(const T* A, int64_t lda, const T* W, int64_t ldw, int64_t K, T* out,
                     int64_t ldo, bool accumulate) {
  constexpr int N = Simd<T>::N;
  vec<T> acc[WR][BR];
  for (int r = 0; r < WR; ++r)
    for (int b = 0; b < BR; ++b) acc[r][b] = vec<T>{};
  for (int64_t k = 0; k < K; k += N) {
    const int n = int(std::min<int64_t>(N, K - k));
    vec<T> a[BR];
    for (int b = 0; b < BR; ++b) a[b] = load_n(A + b * lda + k, n);
    for (int r = 0; r < WR; ++r) {
      const vec<T> w = load_n(W + r * ldw + k, n);
      for (int b = 0; b < BR; ++b) acc[r][b] += a[b] * w;
    }
  }
  for (int b = 0; b < BR; ++b)
    for (int r = 0; r < WR; ++r) {
      T& o = out[b * ldo + r];
      o = (accumulate ? o : T(0)) + lane_sum<T>(acc[r][b]);
    }
}

template <typename T, int BR>
inline void dot_rows_b(const T* A, int64_t lda, const T* W, int64_t ldw, int64_t K,
                       int64_t rows, T* out, int64_t ldo, bool accumulate) {
  int64_t r = 0;
  for (; r + kDotRows <= rows; r += kDotRows)
    dot_tile<T, BR, kDotRows>(A, lda, W + r * ldw, ldw, K, out + r, ldo, accumulate);
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
      case 3: dot_rows_b<T, std::min(3, kMaxRows)>(a, lda, W, ldw, K, rows, o, ldo, accumulate); break;
      default: dot_rows_b<T, kMaxRows>(a, lda, W, ldw, K, rows, o, ldo, accumulate); break;
    }
  }
}

}  // namespace lstmkit
