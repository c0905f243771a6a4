// Group-step drivers of Lion and Schedule-Free AdamW (one call per parameter group; see
// optim/driver.h for OptimTensor and the threading rule).
#pragma once
#include <vector>

#include "optim/driver.h"

namespace cg {

struct LionHyper {
  double lr, beta1, beta2, weight_decay;
  bool maximize;
};

struct ScheduleFreeHyper {
  double lr, beta1, beta2, eps, weight_decay;
  long long warmup_steps;
  double r, weight_lr_power;
};

// The running scalars of one tensor's Schedule-Free average: the largest learning rate so far
// (-1 before the first step) and the sum of the averaging weights (0 before the first step).
struct ScheduleFreeSched {
  double lr_max = -1.0, weight_sum = 0.0;
};

// The scalars of step t = k + 1 (t >= 1) of one tensor, in double: the learning rate
// lr * min(1, t / warmup_steps) * sqrt(1 - beta2^t), and ckp1 = weight / weight_sum (0 when
// weight_sum == 0) with weight = t^r * lr_max^weight_lr_power; `sched` is advanced in place.
struct ScheduleFreeScalars {
  double lr, ckp1;
};
ScheduleFreeScalars schedulefree_scalars(long long step, const ScheduleFreeHyper& h,
                                         ScheduleFreeSched& sched);

// Each check throws std::invalid_argument naming the offending hyperparameter.
void check(const LionHyper& h);
void check(const ScheduleFreeHyper& h);
// beta1 of the train/eval switch: in (0, 1).
void check_switch_beta1(double beta1);

// s0 = exp_avg
template <class T>
void lion_step(const std::vector<OptimTensor<T>>& ts, const LionHyper& h);
// s0 = z, s1 = exp_avg_sq, p = y; sched[i] holds tensor i's scalars before the step and after.
template <class T>
void schedulefree_adamw_step(const std::vector<OptimTensor<T>>& ts, const ScheduleFreeHyper& h,
                             std::vector<ScheduleFreeSched>& sched);
// s0 = z; p = p + (z - p) * w (w = 1 - 1/beta1 for eval, 1 - beta1 for train).
template <class T>
void schedulefree_switch(const std::vector<OptimTensor<T>>& ts, double w);

}  // namespace cg
