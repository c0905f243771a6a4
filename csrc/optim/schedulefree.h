// Schedule-Free AdamW (Defazio et al. 2024, "The Road Less Scheduled"), in the memory-lean form
// of facebookresearch/schedule_free's AdamWScheduleFree: the parameter holds
// y = (1 - beta1) * z + beta1 * x, and x is never stored. Per element:
//   v = v * b2 + (g * g) * (1 - b2);  gn = g / (sqrt(v) + eps)
//   gn = gn + y * wd                         (weight decay at y; skipped when wd == 0)
//   y = y + (z - y) * ckp1;  y = y + gn * (lr * (b1 * (1 - ckp1) - 1));  z = z + gn * (-lr)
#pragma once
#include "common/simd.h"
#include "optim/lionsf_kernels.h"

namespace cg {
namespace CG_NS {

template <class T>
void schedulefree_adamw_kernel(std::size_t n, T* y, const T* g, T* z, T* v,
                               const ScheduleFreeCoeffs<T>& c) {
  using V = Vec<T>;
  const V b2 = V::set1(c.beta2), omb2 = V::set1(c.one_minus_beta2), eps = V::set1(c.eps);
  const V wd = V::set1(c.weight_decay), ckp1 = V::set1(c.ckp1);
  const V y_coef = V::set1(c.y_coef), neg_lr = V::set1(c.neg_lr);
  const bool decay = c.weight_decay != T(0);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    const V gi = V::loadn(g + i, k);
    V yi = V::loadn(y + i, k), zi = V::loadn(z + i, k), vi = V::loadn(v + i, k);
    vi = vi * b2 + (gi * gi) * omb2;
    V gn = gi / (sqrt(vi) + eps);
    if (decay) gn = gn + yi * wd;
    yi = yi + (zi - yi) * ckp1;
    yi = yi + gn * y_coef;
    zi = zi + gn * neg_lr;
    vi.storen(v + i, k);
    yi.storen(y + i, k);
    zi.storen(z + i, k);
  });
}

// p = p + (z - p) * w. eval(): w = 1 - 1/beta1 takes y to x; train(): w = 1 - beta1, x to y.
template <class T>
void lerp_kernel(std::size_t n, T* p, const T* z, T w) {
  using V = Vec<T>;
  const V wv = V::set1(w);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    const V pi = V::loadn(p + i, k);
    (pi + (V::loadn(z + i, k) - pi) * wv).storen(p + i, k);
  });
}

}  // namespace CG_NS
}  // namespace cg
