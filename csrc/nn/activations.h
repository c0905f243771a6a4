// Vectorized exp, expm1, sigmoid and tanh, and the activations of the dense layer, on Vec<T>.
//
// exp(x): Cody-Waite reduction x = n*ln2 + r, |r| <= ln2/2 (ln2 split in a short high part, so
// n*C1 is exact even without FMA), e^r - 1 = r + r^2 * sum_{k>=2} r^(k-2)/k! (Taylor, degree 7
// for float, 13 for double: the first dropped term is below 0.1 ulp), then 2^n applied in two
// exact halves so that subnormal results round once and overflow gives +inf. NaN propagates.
// Measured against a long-double NumPy reference (3.6e5 points over the whole range, avx2 and
// scalar): max error 2.5 ulp for tanh and 2.2 ulp for sigmoid, float32 and float64 alike (NumPy's
// own float tanh: 1.4 ulp). tests/test_gemm.py::test_activation_accuracy asserts <= 4 ulp.
#pragma once
#include "common/simd.h"
#include "nn/kernels.h"

namespace cg {
namespace CG_NS {

template <class T>
struct ExpConst;
template <>
struct ExpConst<float> {
  static constexpr float lo = -104.0f;  // exp(lo) rounds to 0
  static constexpr float hi = 89.0f;    // exp(hi) overflows to +inf
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float c1 = 0.693359375f;  // ln2 = c1 + c2; c1 has 9 significant bits
  static constexpr float c2 = -2.12194440e-4f;
  static constexpr int degree = 7;
};
template <>
struct ExpConst<double> {
  static constexpr double lo = -746.0;
  static constexpr double hi = 710.0;
  static constexpr double log2e = 1.4426950408889634;
  static constexpr double c1 = 6.93145751953125e-1;
  static constexpr double c2 = 1.42860682030941723212e-6;
  static constexpr int degree = 13;
};

// x = n*ln2 + r: returns e^r - 1 and sets n (an integer-valued vector).
template <class V, class T>
inline V expm1_reduced(V x, V& n) {
  using C = ExpConst<T>;
  n = round_even(x * V::set1(C::log2e));
  V r = fmadd(n, V::set1(-C::c1), x);
  r = fmadd(n, V::set1(-C::c2), r);
  // q = sum_{k=2..degree} r^(k-2) / k!, Horner from the highest degree.
  T inv_fact[C::degree + 1];
  inv_fact[0] = T(1);
  for (int k = 1; k <= C::degree; ++k) inv_fact[k] = inv_fact[k - 1] / T(k);
  V q = V::set1(inv_fact[C::degree]);
  for (int k = C::degree - 1; k >= 2; --k) q = fmadd(q, r, V::set1(inv_fact[k]));
  return fmadd(r * r, q, r);
}

// e^x for every x (NaN -> NaN, -inf -> 0, +inf -> +inf).
template <class T, class V>
inline V exp_v(V x) {
  using C = ExpConst<T>;
  x = min(max(x, V::set1(C::lo)), V::set1(C::hi));
  V n;
  const V em1 = expm1_reduced<V, T>(x, n);
  const V n1 = round_even(n * V::set1(T(0.5)));
  const V n2 = n - n1;
  return ((em1 + V::set1(T(1))) * pow2i(n1)) * pow2i(n2);
}

// sigmoid(x) = 1/(1+e^-x), from e = e^-|x| (never overflows): 1/(1+e) for x > 0, e/(1+e) else.
template <class T, class V>
inline V sigmoid_v(V x) {
  const V e = exp_v<T>(neg(abs(x)));
  const V d = e + V::set1(T(1));
  return select_gt(x, V::zero(), V::set1(T(1)) / d, e / d);
}

// tanh(x) = sign(x) * -m/(2+m), m = expm1(-2|x|) (no cancellation near 0); tanh(+-0) = +-0.
template <class T, class V>
inline V tanh_v(V x) {
  // -2|x| >= -64: below it tanh is +-1 to the last bit in float64 as well.
  const V t = max(abs(x) * V::set1(T(-2)), V::set1(T(-64)));
  V n;
  const V em1 = expm1_reduced<V, T>(t, n);
  const V p = pow2i(n);
  const V m = fmadd(p, em1, p - V::set1(T(1)));
  const V mag = neg(m) / (m + V::set1(T(2)));
  return select_gt(abs(x), V::zero(), select_gt(x, V::zero(), mag, neg(mag)), x);
}

// act(x) for the forward pass. relu = max(x, 0) (NaN-propagating, like np.maximum);
// leaky_relu = x > 0 ? x : slope*x.
template <class T, class V>
inline V activate(V x, Act act, V slope) {
  switch (act) {
    case Act::relu:
      return max(x, V::zero());
    case Act::leaky_relu:
      return select_gt(x, V::zero(), x, x * slope);
    case Act::sigmoid:
      return sigmoid_v<T>(x);
    case Act::tanh:
      return tanh_v<T>(x);
    default:
      return x;
  }
}

// g * act'(pre-activation), written with the output y = act(pre-activation):
// relu: y > 0 ? g : 0; leaky_relu: y > 0 ? g : slope*g (slope >= 0); sigmoid: g*(y*(1-y));
// tanh: g*(1-y*y); linear: g.
template <class T, class V>
inline V act_grad(V g, V y, Act act, V slope) {
  const V one = V::set1(T(1));
  switch (act) {
    case Act::relu:
      return select_gt(y, V::zero(), g, V::zero());
    case Act::leaky_relu:
      return select_gt(y, V::zero(), g, g * slope);
    case Act::sigmoid:
      return g * (y * (one - y));
    case Act::tanh:
      return g * (one - y * y);
    default:
      return g;
  }
}

// sign(x): 1, -1 or 0 (0 for NaN).
template <class T, class V>
inline V sign_v(V x) {
  const V z = V::zero();
  return select_gt(x, z, V::set1(T(1)), select_gt(z, x, V::set1(T(-1)), z));
}

template <class T>
void activation_kernel(std::size_t n, const T* x, T* out, Act act, T slope) {
  using V = Vec<T>;
  const V s = V::set1(slope);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    activate<T>(V::loadn(x + i, k), act, s).storen(out + i, k);
  });
}

template <class T>
void weight_penalty_grad_kernel(std::size_t n, const T* w, T* g, T l1, T two_l2) {
  using V = Vec<T>;
  const V vl1 = V::set1(l1), vl2 = V::set1(two_l2);
  for_each_vec<V>(n, [&](std::size_t i, std::size_t k) {
    const V wi = V::loadn(w + i, k);
    (V::loadn(g + i, k) + (vl1 * sign_v<T>(wi) + vl2 * wi)).storen(g + i, k);
  });
}

// See NnKernels::act_backward. Column strips of up to 4 vectors, rows in order inside each.
template <class T>
void act_backward_kernel(std::size_t rows, std::size_t cols, std::size_t ld, const T* dout,
                         const T* y, T* dyp, T* db, const ActGrad<T>& p) {
  using V = Vec<T>;
  constexpr std::size_t N = V::N, W = 4;
  const V slope = V::set1(p.slope), l1 = V::set1(p.act_l1), l2 = V::set1(p.act_2l2);
  const bool reg = p.act_l1 != T(0) || p.act_2l2 != T(0);
  for (std::size_t j = 0; j < cols; j += W * N) {
    std::size_t cw[W];
    for (std::size_t v = 0; v < W; ++v) {
      const std::size_t c0 = j + v * N;
      cw[v] = c0 >= cols ? 0 : (cols - c0 < N ? cols - c0 : N);
    }
    V sum[W] = {V::zero(), V::zero(), V::zero(), V::zero()};
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t o = r * ld + j;
      for (std::size_t v = 0; v < W && cw[v]; ++v) {
        const std::size_t ov = o + v * N;
        V g = V::loadn(dout + ov, cw[v]);
        const V yi = V::loadn(y + ov, cw[v]);
        if (reg) g = g + (l1 * sign_v<T>(yi) + l2 * yi);
        const V d = act_grad<T>(g, yi, p.act, slope);
        d.storen(dyp + ov, cw[v]);
        sum[v] = sum[v] + d;
      }
    }
    if (db)
      for (std::size_t v = 0; v < W && cw[v]; ++v) sum[v].storen(db + j + v * N, cw[v]);
  }
}

}  // namespace CG_NS
}  // namespace cg
