// The recurrent cells' gate kernels on Vec<T> (see nn/rnn_kernels.h): one row of H hidden units,
// a vector of units at a time, with sigmoid and tanh of nn/activations.h. The formulas are those
// of convergent.reference.rnn (the same operations up to the grouping of products; no
// contraction into FMA).
#pragma once
#include "common/simd.h"
#include "nn/activations.h"
#include "nn/rnn_kernels.h"

namespace cg {
namespace CG_NS {

// dh = carry + dy + dlast (dy, dlast may be null), lanes [j, j+k).
template <class V, class T>
inline V rnn_dh(const T* carry, const T* dy, const T* dlast, std::size_t j, std::size_t k) {
  V dh = V::loadn(carry + j, k);
  if (dy) dh = dh + V::loadn(dy + j, k);
  if (dlast) dh = dh + V::loadn(dlast + j, k);
  return dh;
}

template <class T>
void lstm_forward_kernel(std::size_t hh, const T* gx, const T* gh, const T* c_prev, T* gates, T* c,
                         T* tc, T* h, T* y) {
  using V = Vec<T>;
  for_each_vec<V>(hh, [&](std::size_t j, std::size_t k) {
    const V i = sigmoid_v<T>(V::loadn(gx + j, k) + V::loadn(gh + j, k));
    const V f = sigmoid_v<T>(V::loadn(gx + hh + j, k) + V::loadn(gh + hh + j, k));
    const V g = tanh_v<T>(V::loadn(gx + 2 * hh + j, k) + V::loadn(gh + 2 * hh + j, k));
    const V o = sigmoid_v<T>(V::loadn(gx + 3 * hh + j, k) + V::loadn(gh + 3 * hh + j, k));
    const V cn = f * V::loadn(c_prev + j, k) + i * g;
    const V t = tanh_v<T>(cn);
    const V hn = o * t;
    i.storen(gates + j, k);
    f.storen(gates + hh + j, k);
    g.storen(gates + 2 * hh + j, k);
    o.storen(gates + 3 * hh + j, k);
    cn.storen(c + j, k);
    t.storen(tc + j, k);
    hn.storen(h + j, k);
    if (y) hn.storen(y + j, k);
  });
}

template <class T>
void lstm_backward_kernel(std::size_t hh, const T* gates, const T* c_prev, const T* tc,
                          const T* carry, const T* dy, const T* dlast, T* dc_io, T* dg) {
  using V = Vec<T>;
  const V one = V::set1(T(1));
  for_each_vec<V>(hh, [&](std::size_t j, std::size_t k) {
    const V dh = rnn_dh<V>(carry, dy, dlast, j, k);
    const V i = V::loadn(gates + j, k), f = V::loadn(gates + hh + j, k);
    const V g = V::loadn(gates + 2 * hh + j, k), o = V::loadn(gates + 3 * hh + j, k);
    const V t = V::loadn(tc + j, k);
    const V dc = V::loadn(dc_io + j, k) + dh * o * (one - t * t);
    (dc * g * (i * (one - i))).storen(dg + j, k);
    (dc * V::loadn(c_prev + j, k) * (f * (one - f))).storen(dg + hh + j, k);
    (dc * i * (one - g * g)).storen(dg + 2 * hh + j, k);
    (dh * t * (o * (one - o))).storen(dg + 3 * hh + j, k);
    (dc * f).storen(dc_io + j, k);
  });
}

template <class T>
void gru_forward_kernel(std::size_t hh, const T* gx, const T* gh, const T* h_prev, T* gates, T* ghn,
                        T* h, T* y) {
  using V = Vec<T>;
  const V one = V::set1(T(1));
  for_each_vec<V>(hh, [&](std::size_t j, std::size_t k) {
    const V r = sigmoid_v<T>(V::loadn(gx + j, k) + V::loadn(gh + j, k));
    const V z = sigmoid_v<T>(V::loadn(gx + hh + j, k) + V::loadn(gh + hh + j, k));
    const V hn_lin = V::loadn(gh + 2 * hh + j, k);
    const V n = tanh_v<T>(V::loadn(gx + 2 * hh + j, k) + r * hn_lin);
    const V hv = (one - z) * n + z * V::loadn(h_prev + j, k);
    r.storen(gates + j, k);
    z.storen(gates + hh + j, k);
    n.storen(gates + 2 * hh + j, k);
    hn_lin.storen(ghn + j, k);
    hv.storen(h + j, k);
    if (y) hv.storen(y + j, k);
  });
}

template <class T>
void gru_backward_kernel(std::size_t hh, const T* gates, const T* ghn, const T* h_prev, T* carry_io,
                         const T* dy, const T* dlast, T* dgx, T* dgh) {
  using V = Vec<T>;
  const V one = V::set1(T(1));
  for_each_vec<V>(hh, [&](std::size_t j, std::size_t k) {
    const V dh = rnn_dh<V>(carry_io, dy, dlast, j, k);
    const V r = V::loadn(gates + j, k), z = V::loadn(gates + hh + j, k);
    const V n = V::loadn(gates + 2 * hh + j, k);
    const V dn = dh * (one - z) * (one - n * n);
    const V dz = dh * (V::loadn(h_prev + j, k) - n) * (z * (one - z));
    const V dr = dn * V::loadn(ghn + j, k) * (r * (one - r));
    dr.storen(dgx + j, k);
    dz.storen(dgx + hh + j, k);
    dn.storen(dgx + 2 * hh + j, k);
    dr.storen(dgh + j, k);
    dz.storen(dgh + hh + j, k);
    (dn * r).storen(dgh + 2 * hh + j, k);
    (dh * z).storen(carry_io + j, k);
  });
}

template <class T>
void rnn_forward_kernel(std::size_t hh, const T* gx, const T* gh, T* h, T* y, bool relu) {
  using V = Vec<T>;
  for_each_vec<V>(hh, [&](std::size_t j, std::size_t k) {
    const V p = V::loadn(gx + j, k) + V::loadn(gh + j, k);
    const V hv = relu ? max(p, V::zero()) : tanh_v<T>(p);
    hv.storen(h + j, k);
    if (y) hv.storen(y + j, k);
  });
}

template <class T>
void rnn_backward_kernel(std::size_t hh, const T* h, const T* carry, const T* dy, const T* dlast,
                         T* dg, bool relu) {
  using V = Vec<T>;
  const V zero = V::zero();
  for_each_vec<V>(hh, [&](std::size_t j, std::size_t k) {
    const V dh = rnn_dh<V>(carry, dy, dlast, j, k);
    const V hv = V::loadn(h + j, k);
    const V d = act_grad<T>(dh, hv, relu ? Act::relu : Act::tanh, zero);
    d.storen(dg + j, k);
  });
}

}  // namespace CG_NS
}  // namespace cg
