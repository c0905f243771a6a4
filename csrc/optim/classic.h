// Adadelta (Zeiler 2012), ASGD (Polyak & Juditsky 1992; Bottou 2012) and Rprop (Riedmiller &
// Braun 1993) kernels with torch.optim semantics, written once against Vec<T>.
#pragma once
#include "common/simd.h"
#include "optim/classic_kernels.h"

namespace cg {
namespace CG_NS {

template <class T>
void adadelta_kernel(std::size_t n, T* p, const T* g, T* square_avg, T* acc_delta,
                     const AdadeltaCoeffs<T>& c) {
  using V = Vec<T>;
  const V rho = V::set1(c.rho), omr = V::set1(c.one_minus_rho), eps = V::set1(c.eps);
  const V wd = V::set1(c.weight_decay), neg_lr = V::set1(c.neg_lr);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k), pi = V::loadn(p + i, k);
    if (c.maximize) gi = neg(gi);
    if (c.weight_decay != T(0)) gi = gi + pi * wd;
    const V sq = V::loadn(square_avg + i, k) * rho + (gi * omr) * gi;
    sq.storen(square_avg + i, k);
    const V acc = V::loadn(acc_delta + i, k);
    const V delta = sqrt(acc + eps) / sqrt(sq + eps) * gi;
    (acc * rho + (delta * omr) * delta).storen(acc_delta + i, k);
    (pi + delta * neg_lr).storen(p + i, k);
  });
}

template <class T>
void asgd_kernel(std::size_t n, T* p, const T* g, T* ax, const AsgdCoeffs<T>& c) {
  using V = Vec<T>;
  const V wd = V::set1(c.weight_decay), decay = V::set1(c.decay);
  const V neg_eta = V::set1(c.neg_eta), mu = V::set1(c.mu);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k), pi = V::loadn(p + i, k);
    if (c.maximize) gi = neg(gi);
    if (c.weight_decay != T(0)) gi = gi + pi * wd;
    pi = pi * decay + gi * neg_eta;
    pi.storen(p + i, k);
    if (c.mu_is_one) {
      pi.storen(ax + i, k);
    } else {
      const V a = V::loadn(ax + i, k);
      (a + (pi - a) * mu).storen(ax + i, k);
    }
  });
}

template <class T>
void rprop_kernel(std::size_t n, T* p, const T* g, T* prev, T* step_size, const RpropCoeffs<T>& c) {
  using V = Vec<T>;
  const V zero = V::zero(), one = V::set1(T(1));
  const V etaminus = V::set1(c.etaminus), etaplus = V::set1(c.etaplus);
  const V lo = V::set1(c.step_min), hi = V::set1(c.step_max);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k);
    if (c.maximize) gi = neg(gi);
    const V prod = gi * V::loadn(prev + i, k);
    // sign(prod) mapped to etaplus / etaminus / 1 (a NaN product has sign 0, as in torch).
    const V factor = select_gt(prod, zero, etaplus, select_gt(zero, prod, etaminus, one));
    const V s = min(max(V::loadn(step_size + i, k) * factor, lo), hi);
    s.storen(step_size + i, k);
    // After a sign change (factor == etaminus, as torch tests it) the gradient counts as 0: no
    // step now, and prev = 0.
    gi = select_gt(factor, etaminus, gi, select_gt(etaminus, factor, gi, zero));
    gi.storen(prev + i, k);
    const V pi = V::loadn(p + i, k);
    select_gt(gi, zero, pi - s, select_gt(zero, gi, pi + s, pi)).storen(p + i, k);
  });
}

}  // namespace CG_NS
}  // namespace cg
