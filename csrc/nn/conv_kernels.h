// Per-ISA kernels of the convolution driver (nn/conv_pack.h, compiled by nn/conv_table.cpp).
#pragma once
#include <cstddef>

#include "nn/kernels.h"

namespace cg {

template <class T>
struct ConvKernels {
  std::size_t mr;  // the GEMM's micro-panel height (GemmTraits<T>::mr of the ISA)
  // dst[j*mr + r] = rows[r][j] for r < mr, j < len: one run of a full A micro-panel of the
  // patch matrix (every row pointer valid for len elements; padding rows point to zeros).
  void (*pack_rows)(const T* const* rows, std::size_t len, T* dst);
  // Depthwise convolution (one filter per channel), one output pixel over its in-image taps
  // t < taps: y[ch] = act(sum_t x[t][ch] * w[t][ch] + bias[ch]) for ch < c, the products
  // accumulated with fmadd in tap order from 0 (bias may be null).
  void (*dw_forward)(std::size_t c, std::size_t taps, const T* const* x, const T* const* w,
                     const T* bias, T* y, Act act, T slope);
  // Its backward for one output pixel with gradient g: dw[t][ch] = fmadd(x[t][ch], g[ch],
  // dw[t][ch]) and, when dx is not null, dx[t][ch] = fmadd(g[ch], w[t][ch], dx[t][ch]).
  void (*dw_backward)(std::size_t c, std::size_t taps, const T* const* x, const T* const* w,
                      const T* g, T* const* dw, T* const* dx);
};

namespace scalar {
template <class T>
const ConvKernels<T>& conv_kernels();
}
namespace avx2 {
template <class T>
const ConvKernels<T>& conv_kernels();
}
namespace avx512 {
template <class T>
const ConvKernels<T>& conv_kernels();
}
template <class T>
const ConvKernels<T>& conv_kernels();

}  // namespace cg
