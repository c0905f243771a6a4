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
    if (k == N) store(p);
    else _mm256_maskstore_ps(p, mask(k), v);
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
    if (k == N) store(p);
    else _mm256_maskstore_pd(p, mask(k), v);
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
};

}  // namespace CG_NS
}  // namespace cg
