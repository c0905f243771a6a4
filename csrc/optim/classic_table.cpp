// Compiled once per ISA (CMakeLists.txt: CG_ISA_SOURCES): the Adadelta/ASGD/Rprop kernel table
// of cg::CG_NS.
#include "optim/classic.h"

namespace cg {
namespace CG_NS {

template <class T>
const ClassicKernels<T>& classic_kernels() {
  static constexpr ClassicKernels<T> table{&adadelta_kernel<T>, &asgd_kernel<T>, &rprop_kernel<T>};
  return table;
}

template const ClassicKernels<float>& classic_kernels<float>();
template const ClassicKernels<double>& classic_kernels<double>();

}  // namespace CG_NS
}  // namespace cg
