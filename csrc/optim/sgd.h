// SGD with momentum, dampening, Nesterov and coupled weight decay (torch.optim.SGD).
#pragma once
#include "common/simd.h"
#include "optim/kernels.h"

namespace cg {
namespace CG_NS {

template <class T>
void sgd_kernel(std::size_t n, T* p, const T* g, T* buf, const SgdCoeffs<T>& c) {
  using V = Vec<T>;
  const V neg_lr = V::set1(c.neg_lr), mom = V::set1(c.momentum);
  const V damp = V::set1(c.one_minus_damp), wd = V::set1(c.weight_decay);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k), pi = V::loadn(p + i, k);
    if (c.maximize) gi = neg(gi);
    if (c.weight_decay != T(0)) gi = gi + pi * wd;
    if (c.momentum != T(0)) {
      V b = c.first_step ? gi : V::loadn(buf + i, k) * mom + gi * damp;
      b.storen(buf + i, k);
      gi = c.nesterov ? gi + b * mom : b;
    }
    (pi + gi * neg_lr).storen(p + i, k);
  });
}

}  // namespace CG_NS
}  // namespace cg
