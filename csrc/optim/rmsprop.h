// RMSprop, plain and centered, with momentum (torch.optim.RMSprop; Hinton 2012, Graves 2013).
#pragma once
#include "common/simd.h"
#include "optim/kernels.h"

namespace cg {
namespace CG_NS {

template <class T>
void rmsprop_kernel(std::size_t n, T* p, const T* g, T* square_avg, T* grad_avg, T* buf,
                    const RmspropCoeffs<T>& c) {
  using V = Vec<T>;
  const V alpha = V::set1(c.alpha), oma = V::set1(c.one_minus_alpha), eps = V::set1(c.eps);
  const V wd = V::set1(c.weight_decay), mom = V::set1(c.momentum), neg_lr = V::set1(c.neg_lr);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k), pi = V::loadn(p + i, k);
    if (c.maximize) gi = neg(gi);
    if (c.weight_decay != T(0)) gi = gi + pi * wd;
    const V sq = V::loadn(square_avg + i, k) * alpha + (gi * gi) * oma;
    sq.storen(square_avg + i, k);
    V avg;
    if (c.centered) {
      V ga = V::loadn(grad_avg + i, k);
      ga = ga + (gi - ga) * oma;
      ga.storen(grad_avg + i, k);
      avg = sqrt(sq - ga * ga) + eps;
    } else {
      avg = sqrt(sq) + eps;
    }
    V step = gi / avg;
    if (c.momentum != T(0)) {
      step = V::loadn(buf + i, k) * mom + step;
      step.storen(buf + i, k);
    }
    (pi + step * neg_lr).storen(p + i, k);
  });
}

}  // namespace CG_NS
}  // namespace cg
