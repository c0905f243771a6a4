// Compiled once per ISA (CMakeLists.txt globs csrc/nn/*_table.cpp): the pooling kernel table of
// cg::CG_NS.
#include "nn/pool.h"

namespace cg {
namespace CG_NS {

template <class T>
const PoolKernels<T>& pool_kernels() {
  static constexpr PoolKernels<T> table{&max_pixel_kernel<T>, &avg_pixel_kernel<T>,
                                        &avg_scatter_kernel<T>};
  return table;
}

template const PoolKernels<float>& pool_kernels<float>();
template const PoolKernels<double>& pool_kernels<double>();

}  // namespace CG_NS
}  // namespace cg
