#include "optim/classic_driver.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "optim/classic_kernels.h"
#include "optim/driver_util.h"

namespace cg {
using namespace optim_util;

void check(const AdadeltaHyper& h) {
  finite_nonneg(h.lr, "lr");
  require(std::isfinite(h.rho) && h.rho >= 0.0 && h.rho <= 1.0, "rho",
          "must be in [0, 1], got " + std::to_string(h.rho));
  finite_nonneg(h.eps, "eps");
  finite_nonneg(h.weight_decay, "weight_decay");
}

void check(const AsgdHyper& h) {
  finite_nonneg(h.lr, "lr");
  finite_nonneg(h.lambd, "lambd");
  finite_nonneg(h.alpha, "alpha");
  require(std::isfinite(h.t0), "t0", "must be a finite number, got " + std::to_string(h.t0));
  finite_nonneg(h.weight_decay, "weight_decay");
}

void check(const RpropHyper& h) {
  finite_nonneg(h.lr, "lr");
  require(std::isfinite(h.etaminus) && std::isfinite(h.etaplus) && 0.0 < h.etaminus &&
              h.etaminus < 1.0 && 1.0 < h.etaplus,
          "etas",
          "must satisfy 0 < etaminus < 1 < etaplus (finite), got (" + std::to_string(h.etaminus) +
              ", " + std::to_string(h.etaplus) + ")");
  require(std::isfinite(h.step_min) && std::isfinite(h.step_max) && 0.0 < h.step_min &&
              h.step_min <= h.step_max,
          "step_sizes",
          "must satisfy 0 < min <= max (finite), got (" + std::to_string(h.step_min) + ", " +
              std::to_string(h.step_max) + ")");
}

template <class T>
void adadelta_step(const std::vector<OptimTensor<T>>& ts, const AdadeltaHyper& h) {
  const auto& k = classic_kernels<T>();
  const AdadeltaCoeffs<T> c{T(h.rho),          T(1.0 - h.rho), T(h.eps),
                            T(h.weight_decay), T(-h.lr),       h.maximize};
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    k.adadelta(len, x.p + off, x.g + off, x.s0 + off, x.s1 + off, c);
  });
}

template <class T>
void asgd_step(const std::vector<OptimTensor<T>>& ts, const AsgdHyper& h) {
  const auto& k = classic_kernels<T>();
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    const double eta = h.eta[t], mu = h.mu[t];
    const AsgdCoeffs<T> c{T(h.weight_decay), T(1.0 - h.lambd * eta), T(-eta), T(mu), mu == 1.0,
                          h.maximize};
    k.asgd(len, x.p + off, x.g + off, x.s0 + off, c);
  });
}

template <class T>
void rprop_step(const std::vector<OptimTensor<T>>& ts, const RpropHyper& h) {
  const auto& k = classic_kernels<T>();
  const RpropCoeffs<T> c{T(h.etaminus), T(h.etaplus), T(h.step_min), T(h.step_max), h.maximize};
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    k.rprop(len, x.p + off, x.g + off, x.s0 + off, x.s1 + off, c);
  });
}

void asgd_next(const AsgdHyper& h, long long step, double* eta, double* mu) {
  const double s = static_cast<double>(step);
  *eta = h.lr / std::pow(1.0 + h.lambd * h.lr * s, h.alpha);
  *mu = 1.0 / std::max(1.0, s - h.t0);
}

#define CG_INSTANTIATE(T)                                                                   \
  template void adadelta_step<T>(const std::vector<OptimTensor<T>>&, const AdadeltaHyper&); \
  template void asgd_step<T>(const std::vector<OptimTensor<T>>&, const AsgdHyper&);         \
  template void rprop_step<T>(const std::vector<OptimTensor<T>>&, const RpropHyper&);
CG_INSTANTIATE(float)
CG_INSTANTIATE(double)
#undef CG_INSTANTIATE

}  // namespace cg
