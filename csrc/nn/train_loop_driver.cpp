// The fused training loop: consecutive mini-batch steps of a stack of Dense layers with softmax
// cross-entropy and a first-order optimizer, run without returning to Python between steps.
// Every step calls the same drivers, with the same arguments and in the same order, as the Python
// loop of convergent.fit (gather, Dense forwards, softmax_xent, penalties, Dense backwards, the
// non-finite guard, the optimizer's group step), so both give the same bits.
#include <algorithm>

#include "nn/train_loop.h"

namespace cg {
namespace {

// The rows of batch i of the epoch, gathered into the loop's buffers (or, without an order, a
// view of the rows in place). Returns the row count.
template <class T>
std::size_t batch_rows(const TrainLoop<T>& t, std::size_t i, const T** xb,
                       const std::int64_t** yb) {
  const std::size_t start = i * t.batch, rows = std::min(t.batch, t.n - start);
  if (!t.order) {
    *xb = t.x + start * t.features;
    *yb = t.y + start;
    return rows;
  }
  const std::int64_t* idx = t.order + start;
  gather_rows(rows, t.features * sizeof(T), reinterpret_cast<const char*>(t.x), idx,
              reinterpret_cast<char*>(t.xbuf));
  gather_rows(rows, sizeof(std::int64_t), reinterpret_cast<const char*>(t.y), idx,
              reinterpret_cast<char*>(t.ybuf));
  *xb = t.xbuf;
  *yb = t.ybuf;
  return rows;
}

template <class T>
std::array<double, 2> sums_of(std::size_t n, const T* x) {
  std::array<double, 2> s{0.0, 0.0};
  abs_sq_sums<T>(n, x, s.data());
  return s;
}

template <class T>
void optimizer_step(const Optimizer& o, const std::vector<OptimTensor<T>>& ps) {
  switch (o.kind) {
    case Optimizer::Kind::sgd:
      return sgd_step<T>(ps, o.sgd);
    case Optimizer::Kind::adam:
      return adam_step<T>(ps, o.adam);
    case Optimizer::Kind::adagrad:
      return adagrad_step<T>(ps, o.adagrad);
    case Optimizer::Kind::rmsprop:
      return rmsprop_step<T>(ps, o.rmsprop);
  }
}

template <class T>
LoopStep one_step(TrainLoop<T>& t, std::size_t i) {
  const T* x = nullptr;
  const std::int64_t* labels = nullptr;
  const std::size_t rows = batch_rows(t, i, &x, &labels);
  const std::size_t layers = t.layers.size();
  // Forward; a layer's activity penalty is taken from its output, divided by the rows.
  std::vector<double> activity(layers, 0.0);
  const T* in = x;
  for (std::size_t l = 0; l < layers; ++l) {
    const LoopDense<T>& d = t.layers[l];
    dense_forward<T>(rows, d.in, d.out, in, d.w, d.b, d.y, d.act, T(d.slope));
    if (d.activity_l1 != 0.0 || d.activity_l2 != 0.0)
      activity[l] = penalty_value(d.activity_l1, d.activity_l2, sums_of(rows * d.out, d.y)) /
                    static_cast<double>(std::max<std::size_t>(rows, 1));
    in = d.y;
  }
  const std::size_t k = t.layers.back().out;
  const XentPart part = softmax_xent<T>(rows, k, in, labels, t.dlogits, T(t.smoothing));
  LoopStep s;
  s.correct = part.correct;
  // cg.fit: loss + model.penalty() before the backward pass (activity, then the weights).
  double penalty = 0.0;
  if (!t.penalty_after_backward)
    for (std::size_t l = 0; l < layers; ++l) {
      const LoopDense<T>& d = t.layers[l];
      double p = activity[l];
      if (d.weight_l1 != 0.0 || d.weight_l2 != 0.0)
        p += penalty_value(d.weight_l1, d.weight_l2, sums_of(d.in * d.out, d.w));
      penalty += p;
    }
  // Backward, last layer first; the first layer's input gradient is not needed.
  const T* dout = t.dlogits;
  double weight_penalty = 0.0;
  for (std::size_t l = layers; l-- > 0;) {
    LoopDense<T>& d = t.layers[l];
    DenseBackwardArgs<T> a;
    a.batch = rows;
    a.in = d.in;
    a.out = d.out;
    a.x = l ? t.layers[l - 1].y : x;
    a.w = d.w;
    a.y = d.y;
    a.dout = dout;
    a.dyp = d.dyp;
    a.dw = d.dw;
    a.db = d.db;
    a.dx = l ? d.dx : nullptr;
    set_dense_coeffs(a, d.act, d.slope, d.activity_l1, d.activity_l2, d.weight_l1, d.weight_l2);
    d.weight_penalty = penalty_value(d.weight_l1, d.weight_l2, dense_backward(a));
    dout = d.dx;
  }
  // The estimators: data loss + the weight penalties summed by the backward passes, in layer
  // order.
  if (t.penalty_after_backward)
    for (std::size_t l = 0; l < layers; ++l) weight_penalty += t.layers[l].weight_penalty;
  s.loss =
      xent_loss(part, t.smoothing, rows) + (t.penalty_after_backward ? weight_penalty : penalty);
  s.applied = true;
  if (t.guard)
    for (const OptimTensor<T>& p : t.params)
      if (!all_finite<T>(p.n, p.g)) {
        s.applied = false;
        break;
      }
  if (s.applied) {
    for (OptimTensor<T>& p : t.params) ++p.step;
    optimizer_step(t.opt, t.params);
  }
  return s;
}

}  // namespace

template <class T>
void train_steps(TrainLoop<T>& t, std::size_t first, std::size_t count, LoopStep* out) {
  for (std::size_t i = 0; i < count; ++i) out[i] = one_step(t, first + i);
}

template void train_steps<float>(TrainLoop<float>&, std::size_t, std::size_t, LoopStep*);
template void train_steps<double>(TrainLoop<double>&, std::size_t, std::size_t, LoopStep*);

}  // namespace cg
