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

// Adafactor's sums of squares: element j of a strip goes to lane j % kSumLanes, each lane is a
// sequential double sum, and the lanes are added in order at the end of the strip. The lanes are
// independent chains (no add-latency bound), and every ISA performs the same IEEE operations, so
// the sums are the same bits everywhere (convergent.reference.optim_factormuon._row_sums).
struct LaneSums {
  double acc[kSumLanes] = {};
  double total() const {
    double s = 0.0;
    for (std::size_t l = 0; l < kSumLanes; ++l) s += acc[l];
    return s;
  }
};

// Adds the squares of the k lanes of u, elements i.. of the strip (i a multiple of Vec<T>::N).
template <class T>
inline void add_squares(LaneSums& s, std::size_t i, Vec<T> u, std::size_t k) {
  static_assert(kSumLanes % Vec<T>::N == 0, "a vector must not straddle the lane wrap");
  constexpr std::size_t N = Vec<T>::N;
  T lanes[N];
  u.storen(lanes, k);
  double* a = s.acc + i % kSumLanes;
  if (k == N) {  // a whole vector: a fixed trip count the compiler vectorizes
    for (std::size_t j = 0; j < N; ++j) {
      const double x = static_cast<double>(lanes[j]);
      a[j] += x * x;
    }
    return;
  }
  for (std::size_t j = 0; j < k; ++j) {
    const double x = static_cast<double>(lanes[j]);
    a[j] += x * x;
  }
}

// Squares of x[0..n) in double added to the lanes (x starts a strip).
template <class T>
inline void add_squares(LaneSums& s, std::size_t n, const T* x) {
  std::size_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (std::size_t l = 0; l < kSumLanes; ++l) {
      const double v = static_cast<double>(x[i + l]);
      s.acc[l] += v * v;
    }
  for (std::size_t l = 0; i + l < n; ++l) {
    const double v = static_cast<double>(x[i + l]);
    s.acc[l] += v * v;
  }
}

// row_part[i]: the lane sum of row i's strip; col_sq[j]: sequential over the rows.
template <class T>
void sq_strip_kernel(std::size_t rows, std::size_t cols, std::size_t ld, const T* g,
                     double* row_part, double* col_sq) {
  for (std::size_t j = 0; j < cols; ++j) col_sq[j] = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    const T* r = g + i * ld;
    LaneSums s;
    add_squares(s, cols, r);
    for (std::size_t j = 0; j < cols; ++j) {
      const double x = static_cast<double>(r[j]);
      col_sq[j] += x * x;
    }
    row_part[i] = s.total();
  }
}

template <class T>
double sq_sum_kernel(std::size_t n, const T* x) {
  LaneSums s;
  add_squares(s, n, x);
  return s.total();
}

template <class T>
double factored_row_kernel(std::size_t n, T* p, const T* g, const T* col, T r, T m,
                           const AdafactorCoeffs<T>& c, bool apply) {
  using V = Vec<T>;
  const V vr = V::set1(r), vm = V::set1(m), one = V::set1(T(1)), lo = V::set1(c.eps1_sq);
  const V decay = V::set1(c.decay), step = V::set1(c.neg_step);
  LaneSums s;
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k);
    if (c.maximize) gi = neg(gi);
    const V u = (one / sqrt(max((vr * V::loadn(col + i, k)) / vm, lo))) * gi;
    if (apply)
      (V::loadn(p + i, k) * decay + step * u).storen(p + i, k);
    else
      add_squares(s, i, u, k);
  });
  return s.total();
}

template <class T>
double unfactored_kernel(std::size_t n, T* p, const T* g, T* v, const AdafactorCoeffs<T>& c,
                         bool apply) {
  using V = Vec<T>;
  const V one = V::set1(T(1)), lo = V::set1(c.eps1_sq);
  const V decay = V::set1(c.decay), step = V::set1(c.neg_step);
  LaneSums s;
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
      add_squares(s, i, u, k);
  });
  return s.total();
}

}  // namespace CG_NS
}  // namespace cg
