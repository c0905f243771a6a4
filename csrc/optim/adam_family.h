// NAdam (Dozat 2016), RAdam (Liu et al. 2020) and Adamax (Kingma & Ba 2015, section 7.1) kernels,
// with torch.optim's update order. Coefficients: optim/adam_family_kernels.h.
#pragma once
#include "common/simd.h"
#include "optim/adam_family_kernels.h"
#include "optim/adam_moments.h"

namespace cg {
namespace CG_NS {

template <class T>
void nadam_kernel(std::size_t n, T* p, const T* g, T* m, T* v, const NadamCoeffs<T>& c) {
  using V = Vec<T>;
  const AdamMoments<V, T> moments(c.mom);
  const V eps = V::set1(c.mom.eps), bc2 = V::set1(c.bc2);
  const V gc = V::set1(c.grad_coeff), ac = V::set1(c.avg_coeff);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k), pi = V::loadn(p + i, k);
    V mi = V::loadn(m + i, k), vi = V::loadn(v + i, k);
    moments.update(gi, pi, mi, vi);
    const V denom = sqrt(vi / bc2) + eps;
    mi.storen(m + i, k);
    vi.storen(v + i, k);
    pi = pi + (gi / denom) * gc;
    (pi + (mi / denom) * ac).storen(p + i, k);
  });
}

template <class T>
void radam_kernel(std::size_t n, T* p, const T* g, T* m, T* v, const RadamCoeffs<T>& c) {
  using V = Vec<T>;
  const AdamMoments<V, T> moments(c.mom);
  const V eps = V::set1(c.mom.eps), neg_step = V::set1(c.neg_step);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k), pi = V::loadn(p + i, k);
    V mi = V::loadn(m + i, k), vi = V::loadn(v + i, k);
    moments.update(gi, pi, mi, vi);
    mi.storen(m + i, k);
    vi.storen(v + i, k);
    const V dir = c.rectified ? mi / (sqrt(vi) + eps) : mi;
    (pi + dir * neg_step).storen(p + i, k);
  });
}

template <class T>
void adamax_kernel(std::size_t n, T* p, const T* g, T* m, T* u, const AdamaxCoeffs<T>& c) {
  using V = Vec<T>;
  const V omb1 = V::set1(c.one_minus_beta1), b2 = V::set1(c.beta2), eps = V::set1(c.eps);
  const V wd = V::set1(c.weight_decay), neg_clr = V::set1(c.neg_clr);
  const bool coupled = c.weight_decay != T(0);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k), pi = V::loadn(p + i, k);
    V mi = V::loadn(m + i, k), ui = V::loadn(u + i, k);
    if (c.maximize) gi = neg(gi);
    if (coupled) gi = gi + pi * wd;
    mi = mi + (gi - mi) * omb1;
    ui = max(ui * b2, abs(gi) + eps);
    mi.storen(m + i, k);
    ui.storen(u + i, k);
    (pi + (mi / ui) * neg_clr).storen(p + i, k);
  });
}

}  // namespace CG_NS
}  // namespace cg
