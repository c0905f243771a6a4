// Compiled once per ISA (CMakeLists.txt: CG_ISA_SOURCES): the Adafactor / Muon kernel table.
#include "optim/adafactor.h"
#include "optim/muon.h"

namespace cg {
namespace CG_NS {

template <class T>
const FactorMuonKernels<T>& factormuon_kernels() {
  static constexpr FactorMuonKernels<T> table{
      &sq_strip_kernel<T>,      &sq_sum_kernel<T>, &factored_row_kernel<T>, &unfactored_kernel<T>,
      &muon_momentum_kernel<T>, &axpby_kernel<T>,  &div_kernel<T>};
  return table;
}

template const FactorMuonKernels<float>& factormuon_kernels<float>();
template const FactorMuonKernels<double>& factormuon_kernels<double>();

}  // namespace CG_NS
}  // namespace cg
