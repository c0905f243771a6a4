// Compiled once per ISA (CMakeLists.txt globs csrc/nn/*_table.cpp): the embedding kernel table of
// cg::CG_NS.
#include "nn/embedding.h"

namespace cg {
namespace CG_NS {

template <class T>
const EmbeddingKernels<T>& embedding_kernels() {
  static constexpr EmbeddingKernels<T> table{&embedding_row_sum_kernel<T>};
  return table;
}

template const EmbeddingKernels<float>& embedding_kernels<float>();
template const EmbeddingKernels<double>& embedding_kernels<double>();

}  // namespace CG_NS
}  // namespace cg
