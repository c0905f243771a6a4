// Adam / AdamW with AMSGrad (torch.optim.Adam and AdamW, Kingma & Ba 2015; Loshchilov & Hutter
// 2019).
#pragma once
#include "common/simd.h"
#include "optim/adam_moments.h"
#include "optim/kernels.h"

namespace cg {
namespace CG_NS {

template <class T>
void adam_kernel(std::size_t n, T* p, const T* g, T* m, T* v, T* vmax, const AdamCoeffs<T>& c) {
  using V = Vec<T>;
  const AdamMoments<V, T> moments(c.mom);
  const V eps = V::set1(c.mom.eps);
  const V bc2_sqrt = V::set1(c.bc2_sqrt), neg_step = V::set1(c.neg_step_size);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    V gi = V::loadn(g + i, k), pi = V::loadn(p + i, k);
    V mi = V::loadn(m + i, k), vi = V::loadn(v + i, k);
    moments.update(gi, pi, mi, vi);
    V vhat = vi;
    if (c.amsgrad) {
      vhat = max(V::loadn(vmax + i, k), vi);
      vhat.storen(vmax + i, k);
    }
    const V denom = sqrt(vhat) / bc2_sqrt + eps;
    mi.storen(m + i, k);
    vi.storen(v + i, k);
    (pi + (mi / denom) * neg_step).storen(p + i, k);
  });
}

}  // namespace CG_NS
}  // namespace cg
