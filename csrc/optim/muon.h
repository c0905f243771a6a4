// Muon's elementwise kernels (Jordan et al. 2024, torch.optim.Muon); its Newton-Schulz products
// run on convergent's GEMM (optim/factormuon_driver.cpp).
#pragma once
#include "optim/adafactor.h"

namespace cg {
namespace CG_NS {

template <class T>
void muon_momentum_kernel(std::size_t n, const T* g, T* buf, T* y, const MuonCoeffs<T>& c) {
  using V = Vec<T>;
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    const V gi = V::loadn(g + i, k);
    const V b = lerp_v(V::loadn(buf + i, k), gi, c.buf);
    b.storen(buf + i, k);
    (c.use_nesterov ? lerp_v(gi, b, c.nesterov) : b).storen(y + i, k);
  });
}

template <class T>
void axpby_kernel(std::size_t n, T a, const T* x, T b, const T* y, T* out) {
  using V = Vec<T>;
  const V va = V::set1(a), vb = V::set1(b);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    const V ax = va * V::loadn(x + i, k);
    (b == T(0) ? ax : ax + vb * V::loadn(y + i, k)).storen(out + i, k);
  });
}

template <class T>
void div_kernel(std::size_t n, T* x, T s) {
  using V = Vec<T>;
  const V vs = V::set1(s);
  for_each_vec<V>(
      n, [&](std::size_t i, std::size_t k) { (V::loadn(x + i, k) / vs).storen(x + i, k); });
}

}  // namespace CG_NS
}  // namespace cg
