// Group-step drivers of NAdam, RAdam and Adamax (one call updates every tensor of a param group;
// see optim/driver.h for OptimTensor and the threading rules).
#pragma once
#include <vector>

#include "optim/driver.h"

namespace cg {

struct NadamHyper {
  double lr, beta1, beta2, eps, weight_decay, momentum_decay;
  bool decoupled, maximize;
  // One per tensor, read and written: the product mu_1 ... mu_{t-1} before the step (1 at the
  // first step), mu_1 ... mu_t after it. Validated by the caller (finite, in [0, 1]).
  double* mu_products = nullptr;
};
struct RadamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled, maximize;
};
struct AdamaxHyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool maximize;
};

// Each check throws std::invalid_argument naming the offending hyperparameter.
void check(const NadamHyper& h);
void check(const RadamHyper& h);
void check(const AdamaxHyper& h);

// s0 = exp_avg, s1 = exp_avg_sq; h.mu_products advanced by one step per tensor.
template <class T>
void nadam_step(const std::vector<OptimTensor<T>>& ts, const NadamHyper& h);
// s0 = exp_avg, s1 = exp_avg_sq
template <class T>
void radam_step(const std::vector<OptimTensor<T>>& ts, const RadamHyper& h);
// s0 = exp_avg, s1 = exp_inf
template <class T>
void adamax_step(const std::vector<OptimTensor<T>>& ts, const AdamaxHyper& h);

}  // namespace cg
