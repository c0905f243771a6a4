// Per-pixel pooling kernels over the channels of NHWC images, one table per ISA (nn/pool.h,
// compiled by nn/pool_table.cpp); the window loops live in the portable nn/pool_driver.cpp.
#pragma once
#include <cstddef>

namespace cg {

template <class T>
struct PoolKernels {
  // For ch < c, over the taps t < taps (>= 1) in order: y[ch] = the maximum of src[t][ch] (a NaN
  // wins and stays), idx[ch] = pos[t] of the first maximum (of the last NaN), pos[0] when every
  // value is -inf.
  void (*max_pixel)(std::size_t c, std::size_t taps, const T* const* src, const T* pos, T* y,
                    T* idx);
  // y[ch] = (((0 + src[0][ch]) + src[1][ch]) + ...) / div.
  void (*avg_pixel)(std::size_t c, std::size_t taps, const T* const* src, T div, T* y);
  // dst[t][ch] += g[ch] / div for each tap t in order.
  void (*avg_scatter)(std::size_t c, std::size_t taps, T* const* dst, const T* g, T div);
};

namespace scalar {
template <class T>
const PoolKernels<T>& pool_kernels();
}
namespace avx2 {
template <class T>
const PoolKernels<T>& pool_kernels();
}
namespace avx512 {
template <class T>
const PoolKernels<T>& pool_kernels();
}
template <class T>
const PoolKernels<T>& pool_kernels();

}  // namespace cg
