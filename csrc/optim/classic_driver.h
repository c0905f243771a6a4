// Group-step drivers of Adadelta, ASGD and Rprop (see optim/driver.h for the pattern).
#pragma once
#include <cstddef>
#include <vector>

#include "optim/driver.h"

namespace cg {

struct AdadeltaHyper {
  double lr, rho, eps, weight_decay;
  bool maximize;
};
// eta and mu: each tensor's ASGD scalars as left by its previous step (torch keeps them in the
// state; a tensor's first step has eta = lr, mu = 1), one per tensor of the group.
struct AsgdHyper {
  double lr, lambd, alpha, t0, weight_decay;
  bool maximize;
  const double* eta = nullptr;
  const double* mu = nullptr;
};
struct RpropHyper {
  double lr, etaminus, etaplus, step_min, step_max;
  bool maximize;
};

// Each check throws std::invalid_argument naming the offending hyperparameter.
void check(const AdadeltaHyper& h);
void check(const AsgdHyper& h);
void check(const RpropHyper& h);

// s0 = square_avg, s1 = acc_delta
template <class T>
void adadelta_step(const std::vector<OptimTensor<T>>& ts, const AdadeltaHyper& h);
// s0 = ax; h.eta / h.mu hold one value per tensor.
template <class T>
void asgd_step(const std::vector<OptimTensor<T>>& ts, const AsgdHyper& h);
// s0 = prev, s1 = step_size
template <class T>
void rprop_step(const std::vector<OptimTensor<T>>& ts, const RpropHyper& h);

// ASGD's scalars after a tensor's step `step` (>= 1) with learning rate lr (torch.optim.ASGD):
// eta = lr / (1 + lambd * lr * step)^alpha, mu = 1 / max(1, step - t0), in double.
void asgd_next(const AsgdHyper& h, long long step, double* eta, double* mu);

}  // namespace cg
