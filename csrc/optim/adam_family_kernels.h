// NAdam, RAdam and Adamax update kernels: per-tensor coefficients and the per-ISA kernel table.
//
// Each kernel updates n contiguous elements in place in one pass over memory. The coefficients
// are computed once per tensor, in double, by the driver (optim/adam_family_driver.cpp) and
// rounded to T. Kernels perform exactly the IEEE operations of
// convergent.reference.optim_adam_family, in the same order, so the fast path and the reference
// agree to the bit on every ISA and thread count.
#pragma once
#include <cstddef>

#include "optim/kernels.h"

namespace cg {

// NAdam (Dozat 2016), torch.optim.NAdam.
template <class T>
struct NadamCoeffs {
  AdamMomentCoeffs<T> mom;  // optim/kernels.h
  T bc2;                    // 1 - beta2^t
  T grad_coeff;             // -lr (1 - mu_t) / (1 - mu_1 ... mu_t)
  T avg_coeff;              // -lr mu_{t+1} / (1 - mu_1 ... mu_{t+1})
};

// RAdam (Liu et al. 2020), torch.optim.RAdam.
template <class T>
struct RadamCoeffs {
  AdamMomentCoeffs<T> mom;  // optim/kernels.h
  // rectified (rho_t > 5): -lr r_t sqrt(1 - beta2^t) / (1 - beta1^t); else -lr / (1 - beta1^t)
  T neg_step;
  bool rectified;
};

// Adamax (Kingma & Ba 2015, section 7.1), torch.optim.Adamax.
template <class T>
struct AdamaxCoeffs {
  T one_minus_beta1, beta2, eps;
  T weight_decay;  // coupled: g += wd * p
  T neg_clr;       // -lr / (1 - beta1^t)
  bool maximize;
};

template <class T>
struct AdamFamilyKernels {
  void (*nadam)(std::size_t n, T* p, const T* g, T* m, T* v, const NadamCoeffs<T>& c);
  void (*radam)(std::size_t n, T* p, const T* g, T* m, T* v, const RadamCoeffs<T>& c);
  void (*adamax)(std::size_t n, T* p, const T* g, T* m, T* u, const AdamaxCoeffs<T>& c);
};

// The table of each compiled ISA (optim/adam_family_table.cpp, compiled once per ISA) and the
// dispatched one for the current ISA (common/dispatch.cpp).
namespace scalar {
template <class T>
const AdamFamilyKernels<T>& adam_family_kernels();
}
namespace avx2 {
template <class T>
const AdamFamilyKernels<T>& adam_family_kernels();
}
namespace avx512 {
template <class T>
const AdamFamilyKernels<T>& adam_family_kernels();
}
template <class T>
const AdamFamilyKernels<T>& adam_family_kernels();

}  // namespace cg
