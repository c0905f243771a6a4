// Compiled once per ISA (CMakeLists.txt: CG_ISA_SOURCES): the NAdam/RAdam/Adamax kernel table of
// cg::CG_NS.
#include "optim/adam_family.h"

namespace cg {
namespace CG_NS {

template <class T>
const AdamFamilyKernels<T>& adam_family_kernels() {
  static constexpr AdamFamilyKernels<T> table{&nadam_kernel<T>, &radam_kernel<T>,
                                              &adamax_kernel<T>};
  return table;
}

template const AdamFamilyKernels<float>& adam_family_kernels<float>();
template const AdamFamilyKernels<double>& adam_family_kernels<double>();

}  // namespace CG_NS
}  // namespace cg
