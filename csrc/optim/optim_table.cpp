// Compiled once per ISA (CMakeLists.txt: CG_ISA_SOURCES): the optimizer kernel table of cg::CG_NS.
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"

namespace cg {
namespace CG_NS {

template <class T>
const OptimKernels<T>& optim_kernels() {
  static constexpr OptimKernels<T> table{&sgd_kernel<T>, &adam_kernel<T>, &adagrad_kernel<T>,
                                         &rmsprop_kernel<T>};
  return table;
}

template const OptimKernels<float>& optim_kernels<float>();
template const OptimKernels<double>& optim_kernels<double>();

}  // namespace CG_NS
}  // namespace cg
