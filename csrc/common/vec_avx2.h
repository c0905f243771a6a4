// AVX2 + FMA vectors: 8 floats / 4 doubles. See common/simd.h.
#pragma once
#include <immintrin.h>

#include <cstddef>

namespace cg {
namespace CG_NS {

template <class T>
struct Vec;

template <>
struct Vec<float> {
  static constexpr std::size_t N = 8;
  __m256 v;
  static __m256i mask(std::size_t k) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(k)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static Vec loadn(const float* p, std::size_t k) {
    return k == N ? load(p) : Vec{_mm256_maskload_ps(p, mask(k))};
  }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void storen(float* p, std::size_t k) const {
    if (k == N)
      store(p);
    else
      _mm256_maskstore_ps(p, mask(k), v);
  }
  static Vec set1(float x) { return {_mm256_set1_ps(x)}; }
  static Vec zero() { return {_mm256_setzero_ps()}; }
  friend Vec operator+(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm256_sub_ps(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
  friend Vec operator/(Vec a, Vec b) { return {_mm256_div_ps(a.v, b.v)}; }
  friend Vec neg(Vec a) { return {_mm256_xor_ps(a.v, _mm256_set1_ps(-0.0f))}; }
  friend Vec sqrt(Vec a) { return {_mm256_sqrt_ps(a.v)}; }
  // max_ps(b, a) yields a when either is NaN; then take b where b is NaN: NaN propagates.
  friend Vec max(Vec a, Vec b) {
    __m256 m = _mm256_max_ps(b.v, a.v);
    return {_mm256_blendv_ps(m, b.v, _mm256_cmp_ps(b.v, b.v, _CMP_UNORD_Q))};
  }
  friend Vec min(Vec a, Vec b) {
    __m256 m = _mm256_min_ps(b.v, a.v);
    return {_mm256_blendv_ps(m, b.v, _mm256_cmp_ps(b.v, b.v, _CMP_UNORD_Q))};
  }
  friend Vec fmadd(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  // --- added for the nn kernels (activations, exp) ---
  friend Vec abs(Vec a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
  // a > b ? x : y per lane (an unordered compare is false, so NaN in a or b selects y).
  friend Vec select_gt(Vec a, Vec b, Vec x, Vec y) {
    return {_mm256_blendv_ps(y.v, x.v, _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ))};
  }
  // Nearest integer, ties to even.
  friend Vec round_even(Vec a) {
    return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
  }
  // 2^n for integer-valued n in [-126, 127].
  friend Vec pow2i(Vec n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
    return {_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
  }
};

template <>
struct Vec<double> {
  static constexpr std::size_t N = 4;
  __m256d v;
  static __m256i mask(std::size_t k) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(static_cast<long long>(k)),
                              _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static Vec load(const double* p) { return {_mm256_loadu_pd(p)}; }
  static Vec loadn(const double* p, std::size_t k) {
    return k == N ? load(p) : Vec{_mm256_maskload_pd(p, mask(k))};
  }
  void store(double* p) const { _mm256_storeu_pd(p, v); }
  void storen(double* p, std::size_t k) const {
    if (k == N)
      store(p);
    else
      _mm256_maskstore_pd(p, mask(k), v);
  }
  static Vec set1(double x) { return {_mm256_set1_pd(x)}; }
  static Vec zero() { return {_mm256_setzero_pd()}; }
  friend Vec operator+(Vec a, Vec b) { return {_mm256_add_pd(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm256_sub_pd(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm256_mul_pd(a.v, b.v)}; }
  friend Vec operator/(Vec a, Vec b) { return {_mm256_div_pd(a.v, b.v)}; }
  friend Vec neg(Vec a) { return {_mm256_xor_pd(a.v, _mm256_set1_pd(-0.0))}; }
  friend Vec sqrt(Vec a) { return {_mm256_sqrt_pd(a.v)}; }
  friend Vec max(Vec a, Vec b) {
    __m256d m = _mm256_max_pd(b.v, a.v);
    return {_mm256_blendv_pd(m, b.v, _mm256_cmp_pd(b.v, b.v, _CMP_UNORD_Q))};
  }
  friend Vec min(Vec a, Vec b) {
    __m256d m = _mm256_min_pd(b.v, a.v);
    return {_mm256_blendv_pd(m, b.v, _mm256_cmp_pd(b.v, b.v, _CMP_UNORD_Q))};
  }
  friend Vec fmadd(Vec a, Vec b, Vec c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
  // --- added for the nn kernels (activations, exp) ---
  friend Vec abs(Vec a) { return {_mm256_andnot_pd(_mm256_set1_pd(-0.0), a.v)}; }
  // a > b ? x : y per lane (an unordered compare is false, so NaN in a or b selects y).
  friend Vec select_gt(Vec a, Vec b, Vec x, Vec y) {
    return {_mm256_blendv_pd(y.v, x.v, _mm256_cmp_pd(a.v, b.v, _CMP_GT_OQ))};
  }
  // Nearest integer, ties to even.
  friend Vec round_even(Vec a) {
    return {_mm256_round_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
  }
  // 2^n for integer-valued n in [-1022, 1023].
  friend Vec pow2i(Vec n) {
    const __m256i i = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n.v));
    const __m256i e = _mm256_add_epi64(i, _mm256_set1_epi64x(1023));
    return {_mm256_castsi256_pd(_mm256_slli_epi64(e, 52))};
  }
};

}  // namespace CG_NS
}  // namespace cg
