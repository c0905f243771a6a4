// AVX-512 (F/VL/DQ/BW) vectors: 16 floats / 8 doubles, masked tails. See common/simd.h.
#pragma once
#include <immintrin.h>

#include <cstddef>

namespace cg {
namespace CG_NS {

template <class T>
struct Vec;

template <>
struct Vec<float> {
  static constexpr std::size_t N = 16;
  __m512 v;
  static __mmask16 mask(std::size_t k) { return _cvtu32_mask16((1u << k) - 1u); }
  static Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static Vec loadn(const float* p, std::size_t k) {
    return k == N ? load(p) : Vec{_mm512_maskz_loadu_ps(mask(k), p)};
  }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void storen(float* p, std::size_t k) const {
    if (k == N)
      store(p);
    else
      _mm512_mask_storeu_ps(p, mask(k), v);
  }
  static Vec set1(float x) { return {_mm512_set1_ps(x)}; }
  static Vec zero() { return {_mm512_setzero_ps()}; }
  friend Vec operator+(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm512_sub_ps(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
  friend Vec operator/(Vec a, Vec b) { return {_mm512_div_ps(a.v, b.v)}; }
  friend Vec neg(Vec a) {
    return {_mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(int(0x80000000u))))};
  }
  friend Vec sqrt(Vec a) { return {_mm512_sqrt_ps(a.v)}; }
  friend Vec max(Vec a, Vec b) {
    // max_ps(b, a) yields a when either is NaN; then take b where b is NaN.
    __mmask16 nan_b = _mm512_cmp_ps_mask(b.v, b.v, _CMP_UNORD_Q);
    return {_mm512_mask_blend_ps(nan_b, _mm512_max_ps(b.v, a.v), b.v)};
  }
  friend Vec min(Vec a, Vec b) {
    // min_ps(b, a) yields a when either is NaN; then take b where b is NaN.
    __mmask16 nan_b = _mm512_cmp_ps_mask(b.v, b.v, _CMP_UNORD_Q);
    return {_mm512_mask_blend_ps(nan_b, _mm512_min_ps(b.v, a.v), b.v)};
  }
  friend Vec fmadd(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  // --- added for the nn kernels (activations, exp) ---
  friend Vec abs(Vec a) { return {_mm512_abs_ps(a.v)}; }
  // a > b ? x : y per lane (an unordered compare is false, so NaN in a or b selects y).
  friend Vec select_gt(Vec a, Vec b, Vec x, Vec y) {
    return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ), y.v, x.v)};
  }
  // Nearest integer, ties to even.
  friend Vec round_even(Vec a) {
    return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
  }
  // 2^n for integer-valued n in [-126, 127].
  friend Vec pow2i(Vec n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127));
    return {_mm512_castsi512_ps(_mm512_slli_epi32(e, 23))};
  }
};

template <>
struct Vec<double> {
  static constexpr std::size_t N = 8;
  __m512d v;
  static __mmask8 mask(std::size_t k) { return _cvtu32_mask8((1u << k) - 1u); }
  static Vec load(const double* p) { return {_mm512_loadu_pd(p)}; }
  static Vec loadn(const double* p, std::size_t k) {
    return k == N ? load(p) : Vec{_mm512_maskz_loadu_pd(mask(k), p)};
  }
  void store(double* p) const { _mm512_storeu_pd(p, v); }
  void storen(double* p, std::size_t k) const {
    if (k == N)
      store(p);
    else
      _mm512_mask_storeu_pd(p, mask(k), v);
  }
  static Vec set1(double x) { return {_mm512_set1_pd(x)}; }
  static Vec zero() { return {_mm512_setzero_pd()}; }
  friend Vec operator+(Vec a, Vec b) { return {_mm512_add_pd(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm512_sub_pd(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm512_mul_pd(a.v, b.v)}; }
  friend Vec operator/(Vec a, Vec b) { return {_mm512_div_pd(a.v, b.v)}; }
  friend Vec neg(Vec a) {
    return {_mm512_castsi512_pd(
        _mm512_xor_si512(_mm512_castpd_si512(a.v),
                         _mm512_set1_epi64(static_cast<long long>(0x8000000000000000ull))))};
  }
  friend Vec sqrt(Vec a) { return {_mm512_sqrt_pd(a.v)}; }
  friend Vec max(Vec a, Vec b) {
    // max_pd(b, a) yields a when either is NaN; then take b where b is NaN.
    __mmask8 nan_b = _mm512_cmp_pd_mask(b.v, b.v, _CMP_UNORD_Q);
    return {_mm512_mask_blend_pd(nan_b, _mm512_max_pd(b.v, a.v), b.v)};
  }
  friend Vec min(Vec a, Vec b) {
    // min_pd(b, a) yields a when either is NaN; then take b where b is NaN.
    __mmask8 nan_b = _mm512_cmp_pd_mask(b.v, b.v, _CMP_UNORD_Q);
    return {_mm512_mask_blend_pd(nan_b, _mm512_min_pd(b.v, a.v), b.v)};
  }
  friend Vec fmadd(Vec a, Vec b, Vec c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
  // --- added for the nn kernels (activations, exp) ---
  friend Vec abs(Vec a) { return {_mm512_abs_pd(a.v)}; }
  // a > b ? x : y per lane (an unordered compare is false, so NaN in a or b selects y).
  friend Vec select_gt(Vec a, Vec b, Vec x, Vec y) {
    return {_mm512_mask_blend_pd(_mm512_cmp_pd_mask(a.v, b.v, _CMP_GT_OQ), y.v, x.v)};
  }
  // Nearest integer, ties to even.
  friend Vec round_even(Vec a) {
    return {_mm512_roundscale_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
  }
  // 2^n for integer-valued n in [-1022, 1023].
  friend Vec pow2i(Vec n) {
    const __m512i i = _mm512_cvtepi32_epi64(_mm512_cvtpd_epi32(n.v));
    const __m512i e = _mm512_add_epi64(i, _mm512_set1_epi64(1023));
    return {_mm512_castsi512_pd(_mm512_slli_epi64(e, 52))};
  }
};

}  // namespace CG_NS
}  // namespace cg
