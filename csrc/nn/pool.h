// Pooling kernels on Vec<T> (see nn/pool_kernels.h): the channels of one output pixel, a vector
// at a time. Max: value and position move to the tap's where v > m or v is NaN (the reference);
// positions are carried as T (exact integers: the driver keeps images below 2^24 pixels for
// float). Average: the reference's sum in tap order, then one division.
#pragma once
#include <limits>

#include "common/simd.h"
#include "nn/pool_kernels.h"

namespace cg {
namespace CG_NS {

template <class T>
void max_pixel_kernel(std::size_t c, std::size_t taps, const T* const* src, const T* pos, T* y,
                      T* idx) {
  using V = Vec<T>;
  const V minus_one = V::set1(T(-1));
  for_each_vec<V>(c, [&](std::size_t i, std::size_t k) {
    V m = V::set1(-std::numeric_limits<T>::infinity());
    V at = V::set1(pos[0]);
    for (std::size_t t = 0; t < taps; ++t) {
      const V v = V::loadn(src[t] + i, k), p = V::set1(pos[t]);
      // Take v where v > m or v is NaN (|v| > -1 fails only for a NaN v), as the reference.
      at = select_gt(abs(v), minus_one, select_gt(v, m, p, at), p);
      m = select_gt(abs(v), minus_one, select_gt(v, m, v, m), v);
    }
    m.storen(y + i, k);
    at.storen(idx + i, k);
  });
}

template <class T>
void avg_pixel_kernel(std::size_t c, std::size_t taps, const T* const* src, T div, T* y) {
  using V = Vec<T>;
  const V d = V::set1(div);
  for_each_vec<V>(c, [&](std::size_t i, std::size_t k) {
    V s = V::zero();
    for (std::size_t t = 0; t < taps; ++t) s = s + V::loadn(src[t] + i, k);
    (s / d).storen(y + i, k);
  });
}

template <class T>
void avg_scatter_kernel(std::size_t c, std::size_t taps, T* const* dst, const T* g, T div) {
  using V = Vec<T>;
  const V d = V::set1(div);
  for_each_vec<V>(c, [&](std::size_t i, std::size_t k) {
    const V q = V::loadn(g + i, k) / d;
    for (std::size_t t = 0; t < taps; ++t) (V::loadn(dst[t] + i, k) + q).storen(dst[t] + i, k);
  });
}

}  // namespace CG_NS
}  // namespace cg
