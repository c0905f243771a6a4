// Compiled once per ISA (CMakeLists.txt globs csrc/nn/*_table.cpp): the recurrent-cell kernel
// table of cg::CG_NS.
#include "nn/rnn.h"

namespace cg {
namespace CG_NS {

template <class T>
const RnnKernels<T>& rnn_kernels() {
  static constexpr RnnKernels<T> table{&lstm_forward_kernel<T>, &lstm_backward_kernel<T>,
                                       &gru_forward_kernel<T>,  &gru_backward_kernel<T>,
                                       &rnn_forward_kernel<T>,  &rnn_backward_kernel<T>};
  return table;
}

template const RnnKernels<float>& rnn_kernels<float>();
template const RnnKernels<double>& rnn_kernels<double>();

}  // namespace CG_NS
}  // namespace cg
