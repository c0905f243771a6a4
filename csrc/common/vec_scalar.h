// Portable one-lane "vector": the fallback every machine runs. See common/simd.h.
#pragma once
#include <cmath>
#include <cstddef>

namespace cg {
namespace CG_NS {

template <class T>
struct Vec {
  static constexpr std::size_t N = 1;
  T v;
  static Vec load(const T* p) { return {*p}; }
  static Vec loadn(const T* p, std::size_t) { return {*p}; }
  void store(T* p) const { *p = v; }
  void storen(T* p, std::size_t) const { *p = v; }
  static Vec set1(T x) { return {x}; }
  static Vec zero() { return {T(0)}; }
  friend Vec operator+(Vec a, Vec b) { return {a.v + b.v}; }
  friend Vec operator-(Vec a, Vec b) { return {a.v - b.v}; }
  friend Vec operator*(Vec a, Vec b) { return {a.v * b.v}; }
  friend Vec operator/(Vec a, Vec b) { return {a.v / b.v}; }
  friend Vec neg(Vec a) { return {-a.v}; }
  friend Vec sqrt(Vec a) { return {std::sqrt(a.v)}; }
  // NaN-propagating like NumPy's maximum/minimum.
  friend Vec max(Vec a, Vec b) { return {(a.v != a.v || a.v > b.v) ? a.v : b.v}; }
  friend Vec min(Vec a, Vec b) { return {(a.v != a.v || a.v < b.v) ? a.v : b.v}; }
  friend Vec fmadd(Vec a, Vec b, Vec c) { return {a.v * b.v + c.v}; }
  // --- added for the nn kernels (activations, exp) ---
  friend Vec abs(Vec a) { return {std::fabs(a.v)}; }
  // a > b ? x : y per lane (an unordered compare is false, so NaN in a or b selects y).
  friend Vec select_gt(Vec a, Vec b, Vec x, Vec y) { return {a.v > b.v ? x.v : y.v}; }
  // Nearest integer, ties to even (the default rounding mode).
  friend Vec round_even(Vec a) { return {std::nearbyint(a.v)}; }
  // 2^n for integer-valued n in the normal exponent range ([-126, 127] float, [-1022, 1023]
  // double).
  friend Vec pow2i(Vec n) { return {std::ldexp(T(1), static_cast<int>(n.v))}; }
};

}  // namespace CG_NS
}  // namespace cg
