// NAdam, RAdam and Adamax group drivers: per-tensor coefficients in double (in the order of
// convergent.reference.optim_adam_family), then the current ISA's kernel over chunks in parallel.
#include "optim/adam_family_driver.h"

#include <cmath>

#include "optim/adam_family_kernels.h"
#include "optim/driver_util.h"

namespace cg {
using namespace optim_util;

namespace {

// torch.optim.NAdam's momentum schedule: mu_t = beta1 (1 - 0.96^(t psi) / 2).
double nadam_mu(double beta1, double momentum_decay, double t) {
  return beta1 * (1.0 - 0.5 * std::pow(0.96, t * momentum_decay));
}

}  // namespace

void check(const NadamHyper& h) {
  check_adam_like(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay);
  finite_nonneg(h.momentum_decay, "momentum_decay");
}
void check(const RadamHyper& h) { check_adam_like(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay); }
void check(const AdamaxHyper& h) { check_adam_like(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay); }

template <class T>
void nadam_step(const std::vector<OptimTensor<T>>& ts, const NadamHyper& h) {
  const auto& k = adam_family_kernels<T>();
  const auto mom =
      adam_moment_coeffs<T>(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.decoupled, h.maximize);
  std::vector<NadamCoeffs<T>> cs(ts.size());
  for (std::size_t t = 0; t < ts.size(); ++t) {
    const double step = static_cast<double>(ts[t].step);
    const double mu = nadam_mu(h.beta1, h.momentum_decay, step);
    const double mu_next = nadam_mu(h.beta1, h.momentum_decay, step + 1.0);
    const double prod = h.mu_products[t] * mu;
    const double prod_next = prod * mu_next;
    h.mu_products[t] = prod;
    cs[t] = {mom, T(bias_correction(h.beta2, step)), T(-h.lr * (1.0 - mu) / (1.0 - prod)),
             T((-h.lr * mu_next) / (1.0 - prod_next))};
  }
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    k.nadam(len, x.p + off, x.g + off, x.s0 + off, x.s1 + off, cs[t]);
  });
}

template <class T>
void radam_step(const std::vector<OptimTensor<T>>& ts, const RadamHyper& h) {
  const auto& k = adam_family_kernels<T>();
  const double rho_inf = 2.0 / (1.0 - h.beta2) - 1.0;
  const auto mom =
      adam_moment_coeffs<T>(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.decoupled, h.maximize);
  std::vector<RadamCoeffs<T>> cs(ts.size());
  for (std::size_t t = 0; t < ts.size(); ++t) {
    const double step = static_cast<double>(ts[t].step);
    const double bc1 = bias_correction(h.beta1, step);
    const double bc2 = bias_correction(h.beta2, step);
    const double rho_t = rho_inf - 2.0 * step * std::pow(h.beta2, step) / bc2;
    RadamCoeffs<T>& c = cs[t];
    c.mom = mom;
    c.rectified = rho_t > 5.0;
    if (c.rectified) {
      const double rect = std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                                    ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
      c.neg_step = T(-(h.lr * rect * std::sqrt(bc2) / bc1));
    } else {
      c.neg_step = T(-(h.lr / bc1));
    }
  }
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    k.radam(len, x.p + off, x.g + off, x.s0 + off, x.s1 + off, cs[t]);
  });
}

template <class T>
void adamax_step(const std::vector<OptimTensor<T>>& ts, const AdamaxHyper& h) {
  const auto& k = adam_family_kernels<T>();
  std::vector<AdamaxCoeffs<T>> cs(ts.size());
  for (std::size_t t = 0; t < ts.size(); ++t) {
    const double bc1 = bias_correction(h.beta1, static_cast<double>(ts[t].step));
    cs[t] = AdamaxCoeffs<T>{T(1.0 - h.beta1),  T(h.beta2),       T(h.eps),
                            T(h.weight_decay), T(-(h.lr / bc1)), h.maximize};
  }
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    k.adamax(len, x.p + off, x.g + off, x.s0 + off, x.s1 + off, cs[t]);
  });
}

#define CG_INSTANTIATE(T)                                                             \
  template void nadam_step<T>(const std::vector<OptimTensor<T>>&, const NadamHyper&); \
  template void radam_step<T>(const std::vector<OptimTensor<T>>&, const RadamHyper&); \
  template void adamax_step<T>(const std::vector<OptimTensor<T>>&, const AdamaxHyper&);
CG_INSTANTIATE(float)
CG_INSTANTIATE(double)
#undef CG_INSTANTIATE

}  // namespace cg
