// Compiled once per ISA (CMakeLists.txt globs csrc/nn/*_table.cpp): the nn kernel table of
// cg::CG_NS.
#include "nn/activations.h"
#include "nn/gemm.h"
#include "nn/losses.h"

namespace cg {
namespace CG_NS {

template <class T>
const NnKernels<T>& nn_kernels() {
  static constexpr NnKernels<T> table{
      gemm_blocking<T>(),     &pack_a_kernel<T>,       &pack_b_kernel<T>,
      &micro_kernel<T>,       &act_backward_kernel<T>, &weight_penalty_grad_kernel<T>,
      &activation_kernel<T>,  &softmax_xent_kernel<T>, &all_finite_kernel<T>,
      &abs_sq_sums_kernel<T>, &scale_clip_kernel<T>};
  return table;
}

template const NnKernels<float>& nn_kernels<float>();
template const NnKernels<double>& nn_kernels<double>();

}  // namespace CG_NS
}  // namespace cg
