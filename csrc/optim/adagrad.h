// Adagrad (torch.optim.Adagrad; Duchi, Hazan & Singer 2011).
#pragma once
#include "common/simd.h"
#include "optim/kernels.h"

namespace cg {
namespace CG_NS {

template <class T>
void adagrad_kernel(std::size_t n, T* p, const T* g, T* sum, const AdagradCoeffs<T>& c) {
  using V = Vec<T>;
  const V neg_clr = V::set1(c.neg_clr), eps = V::set1(c.eps), wd = V::set1(c.weight_decay);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k), pi = V::loadn(p + i, k);
    if (c.maximize) gi = neg(gi);
    if (c.weight_decay != T(0)) gi = gi + pi * wd;
    const V s = V::loadn(sum + i, k) + gi * gi;
    s.storen(sum + i, k);
    (pi + (gi / (sqrt(s) + eps)) * neg_clr).storen(p + i, k);
  });
}

}  // namespace CG_NS
}  // namespace cg
