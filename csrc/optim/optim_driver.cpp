#include <cmath>

#include "optim/driver.h"
#include "optim/driver_util.h"
#include "optim/kernels.h"

namespace cg {
using namespace optim_util;

void check(const SgdHyper& h) {
  finite_nonneg(h.lr, "lr");
  finite_nonneg(h.momentum, "momentum");
  require(std::isfinite(h.dampening), "dampening", "must be finite");
  finite_nonneg(h.weight_decay, "weight_decay");
  require(!h.nesterov || (h.momentum > 0.0 && h.dampening == 0.0), "nesterov",
          "requires momentum > 0 and dampening == 0");
}

void check(const AdamHyper& h) { check_adam_like(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay); }

void check(const AdagradHyper& h) {
  finite_nonneg(h.lr, "lr");
  finite_nonneg(h.lr_decay, "lr_decay");
  finite_nonneg(h.weight_decay, "weight_decay");
  finite_nonneg(h.eps, "eps");
}

void check(const RmspropHyper& h) {
  finite_nonneg(h.lr, "lr");
  require(std::isfinite(h.alpha) && h.alpha >= 0.0 && h.alpha <= 1.0, "alpha",
          "must be in [0, 1], got " + std::to_string(h.alpha));
  finite_nonneg(h.eps, "eps");
  finite_nonneg(h.weight_decay, "weight_decay");
  finite_nonneg(h.momentum, "momentum");
}

template <class T>
void sgd_step(const std::vector<OptimTensor<T>>& ts, const SgdHyper& h) {
  const auto& k = optim_kernels<T>();
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    const SgdCoeffs<T> c{T(-h.lr),   T(h.momentum), T(1.0 - h.dampening), T(h.weight_decay),
                         h.nesterov, h.maximize,    x.step == 1};
    k.sgd(len, x.p + off, x.g + off, at(x.s0, off), c);
  });
}

template <class T>
void adam_step(const std::vector<OptimTensor<T>>& ts, const AdamHyper& h) {
  const auto& k = optim_kernels<T>();
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    const double step = static_cast<double>(x.step);
    const double bc1 = bias_correction(h.beta1, step);
    const double bc2 = bias_correction(h.beta2, step);
    const AdamCoeffs<T> c{adam_moment_coeffs<T>(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay,
                                                h.decoupled, h.maximize),
                          T(std::sqrt(bc2)), T(-(h.lr / bc1)), h.amsgrad};
    k.adam(len, x.p + off, x.g + off, x.s0 + off, x.s1 + off, at(x.s2, off), c);
  });
}

template <class T>
void adagrad_step(const std::vector<OptimTensor<T>>& ts, const AdagradHyper& h) {
  const auto& k = optim_kernels<T>();
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    const double clr = h.lr / (1.0 + static_cast<double>(x.step - 1) * h.lr_decay);
    const AdagradCoeffs<T> c{T(-clr), T(h.eps), T(h.weight_decay), h.maximize};
    k.adagrad(len, x.p + off, x.g + off, x.s0 + off, c);
  });
}

template <class T>
void rmsprop_step(const std::vector<OptimTensor<T>>& ts, const RmspropHyper& h) {
  const auto& k = optim_kernels<T>();
  const RmspropCoeffs<T> c{T(h.alpha),    T(1.0 - h.alpha), T(h.eps),   T(h.weight_decay),
                           T(h.momentum), T(-h.lr),         h.centered, h.maximize};
  for_each_chunk(ts, [&](std::size_t t, std::size_t off, std::size_t len) {
    const OptimTensor<T>& x = ts[t];
    k.rmsprop(len, x.p + off, x.g + off, x.s0 + off, at(x.s1, off), at(x.s2, off), c);
  });
}

#define CG_INSTANTIATE(T)                                                                 \
  template void sgd_step<T>(const std::vector<OptimTensor<T>>&, const SgdHyper&);         \
  template void adam_step<T>(const std::vector<OptimTensor<T>>&, const AdamHyper&);       \
  template void adagrad_step<T>(const std::vector<OptimTensor<T>>&, const AdagradHyper&); \
  template void rmsprop_step<T>(const std::vector<OptimTensor<T>>&, const RmspropHyper&);
CG_INSTANTIATE(float)
CG_INSTANTIATE(double)
#undef CG_INSTANTIATE

}  // namespace cg
