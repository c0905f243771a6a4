#include "optim/lionsf_driver.h"

#include <cmath>
#include <string>

#include "optim/driver_util.h"
#include "optim/lionsf_kernels.h"

namespace cg {
using namespace optim_util;

void check(const LionHyper& h) {
  finite_nonneg(h.lr, "lr");
  unit_interval(h.beta1, "betas[0]");
  unit_interval(h.beta2, "betas[1]");
  finite_nonneg(h.weight_decay, "weight_decay");
}

void check_switch_beta1(double beta1) {
  // x = y + (1 - 1/beta1) (z - y): beta1 == 0 leaves no way back from y to x.
  require(std::isfinite(beta1) && beta1 > 0.0 && beta1 < 1.0, "betas[0]",
          "must be in (0, 1), got " + std::to_string(beta1));
}

void check(const ScheduleFreeHyper& h) {
  finite_nonneg(h.lr, "lr");
  check_switch_beta1(h.beta1);
  unit_interval(h.beta2, "betas[1]");
  finite_nonneg(h.eps, "eps");
  finite_nonneg(h.weight_decay, "weight_decay");
  require(h.warmup_steps >= 0, "warmup_steps",
          "must be >= 0, got " + std::to_string(h.warmup_steps));
  finite_nonneg(h.r, "r");
  finite_nonneg(h.weight_lr_power, "weight_lr_power");
}

ScheduleFreeScalars schedulefree_scalars(long long step, const ScheduleFreeHyper& h,
                                         ScheduleFreeSched& s) {
  const double t = static_cast<double>(step);  // k + 1
  const double sched = step - 1 < h.warmup_steps ? t / static_cast<double>(h.warmup_steps) : 1.0;
  const double lr = h.lr * sched * std::sqrt(1.0 - std::pow(h.beta2, t));
  s.lr_max = s.lr_max > lr ? s.lr_max : lr;
  const double weight = std::pow(t, h.r) * std::pow(s.lr_max, h.weight_lr_power);
  s.weight_sum = s.weight_sum + weight;
  return {lr, s.weight_sum != 0.0 ? weight / s.weight_sum : 0.0};
}

template <class T>
void lion_step(const std::vector<OptimTensor<T>>& ts, const LionHyper& h) {
  const auto& k = lionsf_kernels<T>();
  const LionCoeffs<T> c{T(h.beta1),        T(1.0 - h.beta1), T(h.beta2), T(1.0 - h.beta2),
                        T(h.weight_decay), T(-h.lr),         h.maximize};
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    k.lion(len, x.p + off, x.g + off, x.s0 + off, c);
  });
}

template <class T>
void schedulefree_adamw_step(const std::vector<OptimTensor<T>>& ts, const ScheduleFreeHyper& h,
                             std::vector<ScheduleFreeSched>& sched) {
  const auto& k = lionsf_kernels<T>();
  std::vector<ScheduleFreeCoeffs<T>> cs(ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const ScheduleFreeScalars s = schedulefree_scalars(ts[i].step, h, sched[i]);
    ScheduleFreeCoeffs<T>& c = cs[i];
    c.beta2 = T(h.beta2);
    c.one_minus_beta2 = T(1.0 - h.beta2);
    c.eps = T(h.eps);
    c.weight_decay = T(h.weight_decay);
    c.ckp1 = T(s.ckp1);
    c.y_coef = T(s.lr * (h.beta1 * (1.0 - s.ckp1) - 1.0));
    c.neg_lr = T(-s.lr);
  }
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    k.schedulefree_adamw(len, x.p + off, x.g + off, x.s0 + off, x.s1 + off, cs[t]);
  });
}

template <class T>
void schedulefree_switch(const std::vector<OptimTensor<T>>& ts, double w) {
  const auto& k = lionsf_kernels<T>();
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    k.lerp(len, x.p + off, x.s0 + off, T(w));
  });
}

#define CG_INSTANTIATE(T)                                                           \
  template void lion_step<T>(const std::vector<OptimTensor<T>>&, const LionHyper&); \
  template void schedulefree_adamw_step<T>(const std::vector<OptimTensor<T>>&,      \
                                           const ScheduleFreeHyper&,                \
                                           std::vector<ScheduleFreeSched>&);        \
  template void schedulefree_switch<T>(const std::vector<OptimTensor<T>>&, double);
CG_INSTANTIATE(float)
CG_INSTANTIATE(double)
#undef CG_INSTANTIATE

}  // namespace cg
