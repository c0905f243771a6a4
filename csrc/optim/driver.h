// Group-step drivers: one call updates every tensor of a parameter group.
//
// The driver computes each tensor's coefficients in double, splits all tensors into chunks and
// runs the current ISA's kernel over the chunks in parallel. Each element is updated by the same
// kernel code whatever chunk it falls in, so results do not depend on the thread count.
#pragma once
#include <cstddef>
#include <vector>

namespace cg {

// One tensor of a group: its length, its step count after this step (t >= 1), and pointers to
// the parameter, its gradient and up to three state buffers (nullptr when unused).
template <class T>
struct OptimTensor {
  std::size_t n = 0;
  long long step = 1;
  T* p = nullptr;
  const T* g = nullptr;
  T* s0 = nullptr;
  T* s1 = nullptr;
  T* s2 = nullptr;
};

struct SgdHyper {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};
struct AdamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled;
};
struct AdagradHyper {
  double lr, lr_decay, weight_decay, eps;
  bool maximize;
};
struct RmspropHyper {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};

// Each check throws std::invalid_argument naming the offending hyperparameter.
void check(const SgdHyper& h);
void check(const AdamHyper& h);
void check(const AdagradHyper& h);
void check(const RmspropHyper& h);

// s0 = momentum buffer; SGD's first step is the tensor's step == 1.
template <class T>
void sgd_step(const std::vector<OptimTensor<T>>& ts, const SgdHyper& h);
// s0 = exp_avg, s1 = exp_avg_sq, s2 = max_exp_avg_sq (amsgrad)
template <class T>
void adam_step(const std::vector<OptimTensor<T>>& ts, const AdamHyper& h);
// s0 = sum of squared gradients
template <class T>
void adagrad_step(const std::vector<OptimTensor<T>>& ts, const AdagradHyper& h);
// s0 = square_avg, s1 = grad_avg (centered), s2 = momentum buffer (momentum > 0)
template <class T>
void rmsprop_step(const std::vector<OptimTensor<T>>& ts, const RmspropHyper& h);

}  // namespace cg
