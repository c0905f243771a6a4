// Softmax cross-entropy from logits (forward value, gradient and correct count in one pass), the
// non-finite scan of the training loop's guard and the gradient clips, on Vec<T>.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "common/simd.h"
#include "nn/activations.h"
#include "nn/kernels.h"

namespace cg {
namespace CG_NS {

// See NnKernels::softmax_xent. Per row: m = max x (NaN if any), z = x - m, e = exp(z),
// s = sum e (double), log p_t = z_t - log s; d = ((e / s - (1 - ls)[j == t]) - ls/k) * inv_n.
// A row whose label is `ignore` gets d = 0 and adds nothing to the sums.
template <class T>
XentPart softmax_xent_kernel(std::size_t rows, std::size_t k, const T* x, const std::int64_t* t,
                             T* d, T smoothing, T inv_n, std::int64_t ignore) {
  using V = Vec<T>;
  XentPart part;
  const T on = T(1) - smoothing, off = smoothing / static_cast<T>(k);
  const V voff = V::set1(off), vinv = V::set1(inv_n);
  for (std::size_t r = 0; r < rows; ++r, x += k, d += k) {
    if (t[r] == ignore) {
      for_each_vec<V>(k, [&](std::size_t j, std::size_t w) { V::zero().storen(d + j, w); });
      continue;
    }
    // Row maximum and its first index (np.argmax: the first NaN wins).
    std::size_t arg = 0;
    T m = x[0];
    for (std::size_t j = 1; j < k && !std::isnan(m); ++j)
      if (x[j] > m || std::isnan(x[j])) m = x[j], arg = j;
    part.correct += static_cast<std::int64_t>(arg) == t[r];
    const V vm = V::set1(m);
    for_each_vec<V>(k, [&](std::size_t j, std::size_t w) {
      exp_v<T>(V::loadn(x + j, w) - vm).storen(d + j, w);
    });
    double s = 0.0, zsum = 0.0;
    for (std::size_t j = 0; j < k; ++j) s += static_cast<double>(d[j]);
    const double log_s = std::log(s);
    const double zt = static_cast<double>(x[t[r]] - m);
    part.nll += log_s - zt;
    if (smoothing != T(0)) {
      for (std::size_t j = 0; j < k; ++j) zsum += static_cast<double>(x[j] - m);
      part.smooth += log_s - zsum / static_cast<double>(k);
    }
    const T pt = d[t[r]] / static_cast<T>(s);
    const V vs = V::set1(static_cast<T>(s));
    for_each_vec<V>(k, [&](std::size_t j, std::size_t w) {
      ((V::loadn(d + j, w) / vs - voff) * vinv).storen(d + j, w);
    });
    d[t[r]] = ((pt - on) - off) * inv_n;
  }
  return part;
}

// sums[0] = sum |x[i]|, sums[1] = sum x[i]^2 over i < n, accumulated in double (the L1/L2
// penalty values). Lanes and the tail are added in a fixed order.
template <class T>
void abs_sq_sums_kernel(std::size_t n, const T* x, double* sums) {
  double l1 = 0.0, l2 = 0.0;
  std::size_t i = 0;
#if defined(CG_ISA_AVX2) || defined(CG_ISA_AVX512)
  // Four independent accumulators per sum (16 elements a step) hide the add latency.
  const __m256d sign = _mm256_set1_pd(-0.0);
  __m256d a[4], q[4];
  for (int u = 0; u < 4; ++u) a[u] = q[u] = _mm256_setzero_pd();
  const auto add = [&](int u, __m256d h) {
    a[u] = _mm256_add_pd(a[u], _mm256_andnot_pd(sign, h));
    q[u] = _mm256_fmadd_pd(h, h, q[u]);
  };
  for (; i + 16 <= n; i += 16) {
    if constexpr (std::is_same<T, float>::value) {
      for (int u = 0; u < 2; ++u) {
        const __m256 v = _mm256_loadu_ps(x + i + 8 * u);
        add(2 * u, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        add(2 * u + 1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
      }
    } else {
      for (int u = 0; u < 4; ++u) add(u, _mm256_loadu_pd(x + i + 4 * u));
    }
  }
  double la[4], lq[4];
  _mm256_storeu_pd(la, _mm256_add_pd(_mm256_add_pd(a[0], a[1]), _mm256_add_pd(a[2], a[3])));
  _mm256_storeu_pd(lq, _mm256_add_pd(_mm256_add_pd(q[0], q[1]), _mm256_add_pd(q[2], q[3])));
  l1 = (la[0] + la[1]) + (la[2] + la[3]);
  l2 = (lq[0] + lq[1]) + (lq[2] + lq[3]);
#endif
  for (; i < n; ++i) {
    const double v = static_cast<double>(x[i]);
    l1 += std::fabs(v);
    l2 += v * v;
  }
  sums[0] = l1;
  sums[1] = l2;
}

// True when every x[i], i < n, is finite (x * 0 is 0 for finite x and NaN otherwise).
template <class T>
bool all_finite_kernel(std::size_t n, const T* x) {
  using V = Vec<T>;
  V acc[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
  const V z = V::zero();
  std::size_t i = 0;
  for (; i + 4 * V::N <= n; i += 4 * V::N)
    for (std::size_t u = 0; u < 4; ++u) acc[u] = acc[u] + V::load(x + i + u * V::N) * z;
  for_each_vec<V>(
      n - i, [&](std::size_t j, std::size_t w) { acc[0] = acc[0] + V::loadn(x + i + j, w) * z; });
  T lanes[V::N];
  ((acc[0] + acc[1]) + (acc[2] + acc[3])).store(lanes);
  for (std::size_t j = 0; j < V::N; ++j)
    if (lanes[j] != T(0)) return false;
  return true;
}

// g[i] = min(max(g[i] * scale, -bound), bound) for i < n, NaN kept (the gradient clips: scale 1
// and bound infinity leave g as it is).
template <class T>
void scale_clip_kernel(std::size_t n, T* g, T scale, T bound) {
  using V = Vec<T>;
  const V s = V::set1(scale), hi = V::set1(bound), lo = V::set1(-bound);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    min(max(V::loadn(g + i, k) * s, lo), hi).storen(g + i, k);
  });
}

}  // namespace CG_NS
}  // namespace cg
