// The part of the Adam, AdamW, NAdam and RAdam kernels that is the same: the gradient prologue
// and the two moment updates, on one vector of elements, in the reference's order:
//   g = -g (maximize);  g = g + p * wd (coupled);  p = p * decay (decoupled);
//   m = m + (g - m) * (1 - beta1);  v = v * beta2 + (g * g) * (1 - beta2)
#pragma once
#include "common/simd.h"
#include "optim/kernels.h"

namespace cg {
namespace CG_NS {

template <class V, class T>
struct AdamMoments {
  V omb1, b2, omb2, wd, decay;
  bool maximize, coupled, decoupled;

  explicit AdamMoments(const AdamMomentCoeffs<T>& c)
      : omb1(V::set1(c.one_minus_beta1)),
        b2(V::set1(c.beta2)),
        omb2(V::set1(c.one_minus_beta2)),
        wd(V::set1(c.weight_decay)),
        decay(V::set1(c.decay)),
        maximize(c.maximize),
        coupled(!c.decoupled && c.weight_decay != T(0)),
        decoupled(c.decoupled) {}

  void update(V& g, V& p, V& m, V& v) const {
    if (maximize) g = neg(g);
    if (coupled) g = g + p * wd;
    if (decoupled) p = p * decay;
    m = m + (g - m) * omb1;
    v = v * b2 + (g * g) * omb2;
  }
};

}  // namespace CG_NS
}  // namespace cg
