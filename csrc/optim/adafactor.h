// Adafactor (Shazeer & Stern 2018, torch.optim.Adafactor's variant): the passes of one tensor
// (see optim/factormuon_driver.cpp for their order), and torch.lerp's two forms.
#pragma once
#include "common/simd.h"
#include "optim/factormuon_kernels.h"

namespace cg {
namespace CG_NS {

template <class T>
inline Vec<T> lerp_v(Vec<T> a, Vec<T> b, const LerpCoeffs<T>& c) {
  using V = Vec<T>;
  return c.small ? a + V::set1(c.w) * (b - a) : b - (b - a) * V::set1(c.one_minus_w);
}

// Adds the squares of the k lanes of u to s in lane order, in double.
template <class T>
inline double add_squares(double s, Vec<T> u, std::size_t k) {
  T lanes[Vec<T>::N];
  u.storen(lanes, k);
  for (std::size_t j = 0; j < k; ++j) {
    const double x = static_cast<double>(lanes[j]);
    s += x * x;
  }
  return s;
}

// The reductions below are plain sequential loops on purpose: a sum in one fixed order (no
// per-lane partial sums) is the same bits on every ISA and is what the reference computes.
template <class T>
void sq_strip_kernel(std::size_t rows, std::size_t cols, std::size_t ld, const T* g,
                     double* row_part, double* col_sq) {
  for (std::size_t j = 0; j < cols; ++j) col_sq[j] = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    const T* r = g + i * ld;
    double s = 0.0;
    for (std::size_t j = 0; j < cols; ++j) {
      const double x = static_cast<double>(r[j]);
      const double q = x * x;
      s += q;
      col_sq[j] += q;
    }
    row_part[i] = s;
  }
}

template <class T>
double sq_sum_kernel(std::size_t n, const T* x) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(x[i]);
    s += v * v;
  }
  return s;
}

template <class T>
double factored_row_kernel(std::size_t n, T* p, const T* g, const T* col, T r, T m,
                           const AdafactorCoeffs<T>& c, bool apply) {
  using V = Vec<T>;
  const V vr = V::set1(r), vm = V::set1(m), one = V::set1(T(1)), lo = V::set1(c.eps1_sq);
  const V decay = V::set1(c.decay), step = V::set1(c.neg_step);
  double s = 0.0;
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k);
    if (c.maximize) gi = neg(gi);
    const V u = (one / sqrt(max((vr * V::loadn(col + i, k)) / vm, lo))) * gi;
    if (apply)
      (V::loadn(p + i, k) * decay + step * u).storen(p + i, k);
    else
      s = add_squares(s, u, k);
  });
  return s;
}

template <class T>
double unfactored_kernel(std::size_t n, T* p, const T* g, T* v, const AdafactorCoeffs<T>& c,
                         bool apply) {
  using V = Vec<T>;
  const V one = V::set1(T(1)), lo = V::set1(c.eps1_sq);
  const V decay = V::set1(c.decay), step = V::set1(c.neg_step);
  double s = 0.0;
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k);
    if (c.maximize) gi = neg(gi);
    V vi = V::loadn(v + i, k);
    if (!apply) {
      vi = lerp_v(vi, gi * gi, c.beta);
      vi.storen(v + i, k);
    }
    const V u = (one / sqrt(max(vi, lo))) * gi;
    if (apply)
      (V::loadn(p + i, k) * decay + step * u).storen(p + i, k);
    else
      s = add_squares(s, u, k);
  });
  return s;
}

}  // namespace CG_NS
}  // namespace cg
