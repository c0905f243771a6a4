// Adadelta, ASGD and Rprop update kernels: per-tensor coefficients and the per-ISA kernel table.
//
// As in optim/kernels.h: each kernel updates n contiguous elements in place in one pass over
// memory, with coefficients computed once per tensor in double by the driver
// (optim/classic_driver.cpp) and rounded to T, performing exactly the IEEE operations of
// convergent.reference.optim_classic in the same order.
#pragma once
#include <cstddef>

namespace cg {

template <class T>
struct AdadeltaCoeffs {
  T rho, one_minus_rho, eps;
  T weight_decay;  // coupled (added to the gradient)
  T neg_lr;        // -lr
  bool maximize;
};

template <class T>
struct AsgdCoeffs {
  T weight_decay;  // coupled (added to the gradient)
  T decay;         // 1 - lambd * eta
  T neg_eta;       // -eta
  T mu;            // averaging weight; ax := p when mu_is_one
  bool mu_is_one, maximize;
};

template <class T>
struct RpropCoeffs {
  T etaminus, etaplus;   // step size factors after a sign change / no sign change
  T step_min, step_max;  // clamp of the step sizes
  bool maximize;
};

template <class T>
struct ClassicKernels {
  void (*adadelta)(std::size_t n, T* p, const T* g, T* square_avg, T* acc_delta,
                   const AdadeltaCoeffs<T>& c);
  void (*asgd)(std::size_t n, T* p, const T* g, T* ax, const AsgdCoeffs<T>& c);
  void (*rprop)(std::size_t n, T* p, const T* g, T* prev, T* step_size, const RpropCoeffs<T>& c);
};

// The table of each compiled ISA (optim/classic_table.cpp, compiled once per ISA) and the
// dispatched one for the current ISA (common/dispatch.cpp).
namespace scalar {
template <class T>
const ClassicKernels<T>& classic_kernels();
}
namespace avx2 {
template <class T>
const ClassicKernels<T>& classic_kernels();
}
namespace avx512 {
template <class T>
const ClassicKernels<T>& classic_kernels();
}
template <class T>
const ClassicKernels<T>& classic_kernels();

}  // namespace cg
