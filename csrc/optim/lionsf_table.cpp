// Compiled once per ISA (CMakeLists.txt: CG_ISA_SOURCES): the Lion / Schedule-Free kernel table.
#include "optim/lion.h"
#include "optim/schedulefree.h"

namespace cg {
namespace CG_NS {

template <class T>
const LionSfKernels<T>& lionsf_kernels() {
  static constexpr LionSfKernels<T> table{&lion_kernel<T>, &schedulefree_adamw_kernel<T>,
                                          &lerp_kernel<T>};
  return table;
}

template const LionSfKernels<float>& lionsf_kernels<float>();
template const LionSfKernels<double>& lionsf_kernels<double>();

}  // namespace CG_NS
}  // namespace cg
