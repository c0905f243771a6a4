// Embedding kernels, one table per ISA (nn/embedding.h, compiled by nn/embedding_table.cpp); the
// portable driver (nn/embedding_driver.cpp) sorts the positions by index and hands each row of
// the weight gradient to one thread.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cg {

template <class T>
struct EmbeddingKernels {
  // dst[j] = ((0 + src[pos[0]*dim + j]) + src[pos[1]*dim + j]) + ... over the count positions in
  // the given order, for j < dim (dst = 0 when count is 0): one row of the scatter-add.
  void (*row_sum)(std::size_t dim, std::size_t count, const std::int64_t* pos, const T* src,
                  T* dst);
};

namespace scalar {
template <class T>
const EmbeddingKernels<T>& embedding_kernels();
}
namespace avx2 {
template <class T>
const EmbeddingKernels<T>& embedding_kernels();
}
namespace avx512 {
template <class T>
const EmbeddingKernels<T>& embedding_kernels();
}
template <class T>
const EmbeddingKernels<T>& embedding_kernels();

}  // namespace cg
