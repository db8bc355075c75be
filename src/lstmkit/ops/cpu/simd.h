// SIMD vectors for the fused kernels: GCC/Clang vector extensions, so the same source
// compiles to AVX-512, AVX2 or SSE depending on the flags of the build (-march=native).
//
// Also: vectorised exp / sigmoid / tanh (range reduction + polynomial, accurate to a few
// ulp in float and double), unaligned loads and stores, and partial ones for the tail
// block of units when H is not a multiple of the vector width.
#pragma once

#include <cstdint>
#include <cstring>

namespace lstmkit {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif

template <typename T>
struct Simd;

// exp(x) = 2^n * e^r with n = round(x / ln 2), |r| <= ln(2) / 2; e^r by its Taylor series,
// enough terms that the truncation error is below half an ulp of the type.
template <>
struct Simd<float> {
  typedef float V __attribute__((vector_size(kVecBytes)));
  typedef int32_t I __attribute__((vector_size(kVecBytes)));
  typedef uint32_t U __attribute__((vector_size(kVecBytes)));  // 32-bit lanes, as many
  static constexpr int N = kVecBytes / 4;
  static constexpr float kLo = -87.0f, kHi = 88.0f;  // 2^n stays a normal float
  static constexpr float kRound = 12582912.0f;       // 1.5 * 2^23: adding it rounds to int
  static constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  static constexpr int kTerms = 8;                    // 1 + r + ... + r^7 / 7!
  static constexpr float kCoef[kTerms] = {1.f / 5040, 1.f / 720, 1.f / 120, 1.f / 24,
                                          1.f / 6,    1.f / 2,   1.f,       1.f};
  static constexpr int kBias = 127, kMantissa = 23;
};

template <>
struct Simd<double> {
  typedef double V __attribute__((vector_size(kVecBytes)));
  typedef int64_t I __attribute__((vector_size(kVecBytes)));
  typedef uint32_t U __attribute__((vector_size(kVecBytes / 2)));  // 32-bit lanes, as many
  static constexpr int N = kVecBytes / 8;
  static constexpr double kLo = -708.0, kHi = 709.0;
  static constexpr double kRound = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double kLn2Hi = 6.93147180369123816490e-01;
  static constexpr double kLn2Lo = 1.90821492927058770002e-10;
  static constexpr int kTerms = 14;  // 1 + r + ... + r^13 / 13!
  static constexpr double kCoef[kTerms] = {
      1.0 / 6227020800, 1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880,
      1.0 / 40320,      1.0 / 5040,      1.0 / 720,      1.0 / 120,     1.0 / 24,
      1.0 / 6,          1.0 / 2,         1.0,            1.0};
  static constexpr int64_t kBias = 1023, kMantissa = 52;
};

template <typename T>
using vec = typename Simd<T>::V;

template <typename T>
inline vec<T> splat(T s) {
  return s - vec<T>{};  // s - 0 is s for every s (s + 0 is not, for s = -0.0): a broadcast
}

// Keep v in a register: without this, compilers re-read a vector that is used several
// times from memory for every use, and loads, not FMAs, bound the micro-kernel. It takes and
// returns a value: the array the result goes into is never address-taken, so it stays in
// registers too (taking a reference made GCC store the array back to the stack on every
// iteration, a quarter of the micro-kernel's time).
template <typename T>
inline vec<T> pinned(vec<T> v) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  asm("" : "+v"(v));
#endif
  return v;
}

template <typename T>
inline vec<T> load(const T* p) {
  vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
inline void store(T* p, vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}

// The first n lanes (the rest read as zero); n == N is the common, full case.
template <typename T>
inline vec<T> load_n(const T* p, int n) {
  if (n == Simd<T>::N) return load(p);
  vec<T> v = {};
  std::memcpy(&v, p, sizeof(T) * n);
  return v;
}

template <typename T>
inline void store_n(T* p, vec<T> v, int n) {
  if (n == Simd<T>::N) return store(p, v);
  std::memcpy(p, &v, sizeof(T) * n);
}

// Transpose N x N (N = lanes) held in N vectors: log2(N) rounds, each swapping the
// off-diagonal S x S blocks of row pairs (i, i + S). Two-input shuffles with constant masks.
template <typename T, int S>
inline void swap_blocks(vec<T>& a, vec<T>& b) {
  constexpr int N = Simd<T>::N;
  typename Simd<T>::I lo, hi;
  for (int l = 0; l < N; ++l) {
    lo[l] = (l & S) ? N + l - S : l;
    hi[l] = (l & S) ? N + l : l + S;
  }
  const vec<T> x = __builtin_shuffle(a, b, lo), y = __builtin_shuffle(a, b, hi);
  a = x, b = y;
}

template <typename T, int S = Simd<T>::N / 2>
inline void transpose(vec<T>* rows) {
  for (int i = 0; i < Simd<T>::N; ++i)
    if (!(i & S)) swap_blocks<T, S>(rows[i], rows[i + S]);
  if constexpr (S > 1) transpose<T, S / 2>(rows);
}

// Both keep a NaN in ``a``, so NaN propagates through exp, sigmoid and tanh.
template <typename T>
inline vec<T> vmax(vec<T> a, vec<T> b) {
  return a < b ? b : a;
}

template <typename T>
inline vec<T> vmin(vec<T> a, vec<T> b) {
  return a > b ? b : a;
}

template <typename T>
inline vec<T> vexp(vec<T> x) {
  using S = Simd<T>;
  using I = typename S::I;
  x = vmin<T>(vmax<T>(x, splat<T>(S::kLo)), splat<T>(S::kHi));
  vec<T> n = (x * T(1.4426950408889634) + S::kRound) - S::kRound;  // round(x / ln 2)
  vec<T> r = (x - n * S::kLn2Hi) - n * S::kLn2Lo;
  // Horner with the Taylor coefficients 1/k!, highest first: one FMA per term.
  vec<T> p = splat<T>(S::kCoef[0]);
  for (int k = 1; k < S::kTerms; ++k) p = p * r + S::kCoef[k];
  I bits = (__builtin_convertvector(n, I) + S::kBias) << S::kMantissa;
  return p * (vec<T>)bits;  // bits are 2^n as a float
}

template <typename T>
inline vec<T> vsigmoid(vec<T> x) {
  return T(1) / (T(1) + vexp<T>(-x));
}

// tanh(x) = 1 - 2 / (e^{2x} + 1): saturates cleanly to +-1 for large |x|.
template <typename T>
inline vec<T> vtanh(vec<T> x) {
  return T(1) - T(2) / (vexp<T>(x + x) + T(1));
}

template <typename T>
inline vec<T> vrelu(vec<T> x) {
  return vmax<T>(x, vec<T>{});
}

}  // namespace lstmkit
