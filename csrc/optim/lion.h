// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), optax.lion order:
// c = (1 - b1) * g + b1 * m; u = sign(c) + wd * p; p = p + (-lr) * u; m = (1 - b2) * g + b2 * m.
#pragma once
#include "common/simd.h"
#include "optim/lionsf_kernels.h"

namespace cg {
namespace CG_NS {

template <class T>
void lion_kernel(std::size_t n, T* p, const T* g, T* m, const LionCoeffs<T>& c) {
  using V = Vec<T>;
  const V b1 = V::set1(c.beta1), omb1 = V::set1(c.one_minus_beta1);
  const V b2 = V::set1(c.beta2), omb2 = V::set1(c.one_minus_beta2);
  const V wd = V::set1(c.weight_decay), neg_lr = V::set1(c.neg_lr);
  const V zero = V::zero(), one = V::set1(T(1)), minus_one = V::set1(T(-1));
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k), pi = V::loadn(p + i, k), mi = V::loadn(m + i, k);
    if (c.maximize) gi = neg(gi);
    const V ci = gi * omb1 + mi * b1;
    // numpy.sign: 1, -1, +0 for either zero (ci - ci), NaN for NaN (no compare holds).
    const V si = select_gt(ci, zero, one, select_gt(zero, ci, minus_one, ci - ci));
    const V ui = si + pi * wd;
    (pi + ui * neg_lr).storen(p + i, k);
    (gi * omb2 + mi * b2).storen(m + i, k);
  });
}

}  // namespace CG_NS
}  // namespace cg
