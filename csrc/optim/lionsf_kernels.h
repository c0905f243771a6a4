// Lion and Schedule-Free AdamW update kernels: per-tensor coefficients and the per-ISA table.
//
// As in optim/kernels.h: each kernel updates n contiguous elements in place in one pass, with
// coefficients computed once per tensor in double by the driver (optim/lionsf_driver.cpp) and
// rounded to T, performing the IEEE operations of convergent.reference.optim_lion /
// optim_schedulefree in the same order (the same bits on every ISA and thread count).
#pragma once
#include <cstddef>

namespace cg {

template <class T>
struct LionCoeffs {
  T beta1, one_minus_beta1, beta2, one_minus_beta2;
  T weight_decay;  // decoupled: added to sign(c) before the step
  T neg_lr;        // -lr
  bool maximize;
};

// One memory-lean Schedule-Free AdamW step (params hold y; z and exp_avg_sq are the state).
template <class T>
struct ScheduleFreeCoeffs {
  T beta2, one_minus_beta2, eps;
  T weight_decay;  // evaluated at y
  T ckp1;          // weight of z in the average x: c_{k+1} = weight / weight_sum
  T y_coef;        // lr_k * (beta1 * (1 - ckp1) - 1)
  T neg_lr;        // -lr_k (warmup and sqrt(1 - beta2^t) included)
};

template <class T>
struct LionSfKernels {
  void (*lion)(std::size_t n, T* p, const T* g, T* exp_avg, const LionCoeffs<T>& c);
  void (*schedulefree_adamw)(std::size_t n, T* y, const T* g, T* z, T* exp_avg_sq,
                             const ScheduleFreeCoeffs<T>& c);
  // p = p + (z - p) * w: the train/eval switch between the y and x sequences.
  void (*lerp)(std::size_t n, T* p, const T* z, T w);
};

namespace scalar {
template <class T>
const LionSfKernels<T>& lionsf_kernels();
}
namespace avx2 {
template <class T>
const LionSfKernels<T>& lionsf_kernels();
}
namespace avx512 {
template <class T>
const LionSfKernels<T>& lionsf_kernels();
}
template <class T>
const LionSfKernels<T>& lionsf_kernels();

}  // namespace cg
