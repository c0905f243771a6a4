// Optimizer update kernels: per-tensor coefficients and the per-ISA kernel table.
//
// Each kernel updates n contiguous elements in place in one pass over memory. The coefficients
// are computed once per tensor, in double, by the driver (optim/driver.cpp) and rounded to T.
// Kernels perform exactly the IEEE operations of convergent.reference, in the same order, so
// the fast path and the reference agree to the bit on every ISA and thread count.
#pragma once
#include <cstddef>

namespace cg {

template <class T>
struct SgdCoeffs {
  T neg_lr;          // -lr
  T momentum;        // 0 disables the buffer
  T one_minus_damp;  // 1 - dampening
  T weight_decay;    // coupled (added to the gradient)
  bool nesterov, maximize;
  bool first_step;  // momentum buffer := gradient on the first step
};

// What Adam, AdamW, NAdam and RAdam share: the gradient prologue and the two moment updates
// (AdamMoments in optim/adam_moments.h), and eps.
template <class T>
struct AdamMomentCoeffs {
  T one_minus_beta1, beta2, one_minus_beta2, eps;
  T weight_decay;  // coupled: g += wd * p  (Adam)
  T decay;         // decoupled: p *= 1 - lr * wd  (AdamW); 1 when unused
  bool maximize, decoupled;
};

// The coefficients above from a group's hyperparameters (in double, rounded to T).
template <class T>
AdamMomentCoeffs<T> adam_moment_coeffs(double lr, double beta1, double beta2, double eps,
                                       double weight_decay, bool decoupled, bool maximize) {
  return {T(1.0 - beta1), T(beta2),        T(1.0 - beta2),
          T(eps),         T(weight_decay), decoupled ? T(1.0 - lr * weight_decay) : T(1),
          maximize,       decoupled};
}

template <class T>
struct AdamCoeffs {
  AdamMomentCoeffs<T> mom;
  T bc2_sqrt;       // sqrt(1 - beta2^t)
  T neg_step_size;  // -lr / (1 - beta1^t)
  bool amsgrad;
};

template <class T>
struct AdagradCoeffs {
  T neg_clr;  // -lr / (1 + (t - 1) * lr_decay)
  T eps, weight_decay;
  bool maximize;
};

template <class T>
struct RmspropCoeffs {
  T alpha, one_minus_alpha, eps, weight_decay, momentum, neg_lr;
  bool centered, maximize;
};

template <class T>
struct OptimKernels {
  void (*sgd)(std::size_t n, T* p, const T* g, T* buf, const SgdCoeffs<T>& c);
  void (*adam)(std::size_t n, T* p, const T* g, T* m, T* v, T* vmax, const AdamCoeffs<T>& c);
  void (*adagrad)(std::size_t n, T* p, const T* g, T* sum, const AdagradCoeffs<T>& c);
  void (*rmsprop)(std::size_t n, T* p, const T* g, T* square_avg, T* grad_avg, T* buf,
                  const RmspropCoeffs<T>& c);
};

// The table of each compiled ISA (defined in optim/optim_table.cpp, compiled once per ISA) and
// the dispatched one for the current ISA (common/dispatch.cpp).
namespace scalar {
template <class T>
const OptimKernels<T>& optim_kernels();
}
namespace avx2 {
template <class T>
const OptimKernels<T>& optim_kernels();
}
namespace avx512 {
template <class T>
const OptimKernels<T>& optim_kernels();
}
template <class T>
const OptimKernels<T>& optim_kernels();

}  // namespace cg
