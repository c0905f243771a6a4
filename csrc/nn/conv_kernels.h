// Per-ISA kernels of the convolution driver (nn/conv_pack.h, compiled by nn/conv_table.cpp).
#pragma once
#include <cstddef>

namespace cg {

template <class T>
struct ConvKernels {
  std::size_t mr;  // the GEMM's micro-panel height (GemmTraits<T>::mr of the ISA)
  // dst[j*mr + r] = rows[r][j] for r < mr, j < len: one run of a full A micro-panel of the
  // patch matrix (every row pointer valid for len elements; padding rows point to zeros).
  void (*pack_rows)(const T* const* rows, std::size_t len, T* dst);
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
