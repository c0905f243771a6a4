// The fused training loop: consecutive mini-batch steps of a stack of Dense layers with softmax
// cross-entropy and a first-order optimizer, run without returning to Python between steps.
// Every step calls the same drivers, with the same arguments, as the Python loop of
// convergent.fit (gather, Dense forwards, softmax_xent, penalties, Dense backwards, the
// non-finite guard and clips, the optimizer's group step), so both give the same bits. Two calls
// move, and neither changes a result: the next batch's gather runs during the last layer, and the
// penalty sums, which read only the weights, come after the last layer's backward.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "common/parallel.h"
#include "nn/train_loop.h"

namespace cg {
namespace {

// Batch i's rows and labels: slot i % 2 of the loop's buffers (gathered there by gather), or,
// without an order, the rows in place.
template <class T>
struct Batch {
  T* x;
  std::int64_t* y;
  std::size_t rows;
};

template <class T>
Batch<T> batch_at(const TrainLoop<T>& t, std::size_t i) {
  const std::size_t start = i * t.batch, rows = std::min(t.batch, t.n - start);
  if (!t.order)
    return {const_cast<T*>(t.x + start * t.features), const_cast<std::int64_t*>(t.y + start), rows};
  const std::size_t slot = i % 2 * t.batch;
  return {t.xbuf + slot * t.features, t.ybuf + slot, rows};
}

// The rows of batch i into its slot (t.order set): on the kernels' threads; or, given `items`
// (an item counter from 0 that the threads calling this share), the items this thread claims.
template <class T>
void gather_x(const TrainLoop<T>& t, std::size_t i, std::atomic<std::size_t>* items = nullptr) {
  const Batch<T> b = batch_at(t, i);
  const auto x = reinterpret_cast<const char*>(t.x);
  const std::int64_t* idx = t.order + i * t.batch;
  const std::size_t row = t.features * sizeof(T);
  if (items)
    gather_rows_shared(b.rows, row, x, idx, reinterpret_cast<char*>(b.x), *items);
  else
    gather_rows(b.rows, row, x, idx, reinterpret_cast<char*>(b.x));
}

// The labels of batch i into its slot (t.order set).
template <class T>
void gather_y(const TrainLoop<T>& t, std::size_t i) {
  const Batch<T> b = batch_at(t, i);
  gather_rows(b.rows, sizeof(std::int64_t), reinterpret_cast<const char*>(t.y),
              t.order + i * t.batch, reinterpret_cast<char*>(b.y));
}

template <class T>
void gather(const TrainLoop<T>& t, std::size_t i) {
  if (!t.order) return;
  gather_x(t, i);
  gather_y(t, i);
}

// Whether a step gathers the next batch while its last layer runs: one thread runs the layer
// (forward, softmax_xent, backward) while the other gathers, then joins the gather. Only when
// that layer's GEMMs are too small to be split between threads anyway: the second thread would
// otherwise wait through it.
template <class T>
bool gather_during_last_layer(const TrainLoop<T>& t) {
  const LoopDense<T>& d = t.layers.back();
  return t.order && get_num_threads() > 1 && t.batch * d.in * d.out < kGemmMinParallelWork;
}

template <class T>
std::array<double, 2> sums_of(std::size_t n, const T* x) {
  std::array<double, 2> s{0.0, 0.0};
  abs_sq_sums<T>(n, x, s.data());
  return s;
}

// Layer l's forward pass on `rows` rows of `in`; returns its activity penalty (taken from its
// output, divided by the rows).
template <class T>
double forward(const TrainLoop<T>& t, std::size_t l, std::size_t rows, const T* in) {
  const LoopDense<T>& d = t.layers[l];
  dense_forward<T>(rows, d.in, d.out, in, d.w, d.b, d.y, d.act, T(d.slope));
  if (d.activity_l1 == 0.0 && d.activity_l2 == 0.0) return 0.0;
  return penalty_value(d.activity_l1, d.activity_l2, sums_of(rows * d.out, d.y)) /
         static_cast<double>(std::max<std::size_t>(rows, 1));
}

// Layer l's backward pass from dout (the first layer's input gradient is not needed); keeps
// the weight penalty its penalty pass summed.
template <class T>
void backward(TrainLoop<T>& t, std::size_t l, std::size_t rows, const T* x, const T* dout) {
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
}

// convergent.fit's guard and clips (convergent/_guard.py, with the same kernels): false, and
// nothing changed, when the gradients' global norm (with clip_norm) or a gradient (with the
// guard) is not finite.
template <class T>
bool guard_and_clip(const TrainLoop<T>& t) {
  double scale = 1.0;
  if (t.clip_norm > 0.0) {
    double sq = 0.0;
    for (const OptimTensor<T>& p : t.params) sq += sums_of(p.n, p.g)[1];
    const double total = std::sqrt(sq);
    if (!std::isfinite(total)) return false;
    const double coef = t.clip_norm / (total + 1e-6);  // torch.nn.utils.clip_grad_norm_
    if (coef < 1.0) scale = coef;
  } else if (t.guard) {
    for (const OptimTensor<T>& p : t.params)
      if (!all_finite<T>(p.n, p.g)) return false;
  }
  if (scale != 1.0 || t.clip_value > 0.0) {
    const T bound = t.clip_value > 0.0 ? T(t.clip_value) : std::numeric_limits<T>::infinity();
    for (const LoopDense<T>& d : t.layers) {  // the gradients of t.params, writable
      scale_clip<T>(d.in * d.out, d.dw, T(scale), bound);
      if (d.db) scale_clip<T>(d.out, d.db, T(scale), bound);
    }
  }
  return true;
}

// Step i on the rows gathered (or in place) for it; with gather_next, batch i + 1 is gathered
// into the other slot meanwhile.
template <class T>
LoopStep one_step(TrainLoop<T>& t, std::size_t i, bool gather_next) {
  const Batch<T> b = batch_at(t, i);
  const std::size_t rows = b.rows, layers = t.layers.size(), last = layers - 1;
  std::vector<double> activity(layers, 0.0);
  for (std::size_t l = 0; l < last; ++l)
    activity[l] = forward(t, l, rows, l ? t.layers[l - 1].y : b.x);
  // The last layer: forward, the loss and its gradient, backward.
  XentPart part;
  const auto last_layer = [&] {
    activity[last] = forward(t, last, rows, last ? t.layers[last - 1].y : b.x);
    part =
        softmax_xent<T>(rows, t.layers[last].out, t.layers[last].y, b.y, t.dlogits, T(t.smoothing));
    backward(t, last, rows, b.x, t.dlogits);
  };
  if (gather_next) {
    std::atomic<std::size_t> items{0};
    parallel_pair(
        [&] {
          last_layer();
          gather_x(t, i + 1, &items);
        },
        [&] {
          gather_y(t, i + 1);
          gather_x(t, i + 1, &items);
        });
  } else {
    last_layer();
  }
  LoopStep s;
  s.correct = part.correct;
  // cg.fit: loss + model.penalty() (activity, then the weights, which no step has changed yet).
  double penalty = 0.0;
  if (!t.penalty_after_backward)
    for (std::size_t l = 0; l < layers; ++l) {
      const LoopDense<T>& d = t.layers[l];
      double p = activity[l];
      if (d.weight_l1 != 0.0 || d.weight_l2 != 0.0)
        p += penalty_value(d.weight_l1, d.weight_l2, sums_of(d.in * d.out, d.w));
      penalty += p;
    }
  for (std::size_t l = last; l-- > 0;) backward(t, l, rows, b.x, t.layers[l + 1].dx);
  // The estimators: data loss + the weight penalties summed by the backward passes, in layer
  // order.
  if (t.penalty_after_backward)
    for (std::size_t l = 0; l < layers; ++l) penalty += t.layers[l].weight_penalty;
  s.loss = xent_loss(part, t.smoothing, rows) + penalty;
  s.applied = guard_and_clip(t);
  if (s.applied) {
    for (OptimTensor<T>& p : t.params) ++p.step;
    optimizer_step(t.opt, t.params, t.scalars);
  }
  return s;
}

}  // namespace

template <class T>
void train_steps(TrainLoop<T>& t, std::size_t first, std::size_t count, LoopStep* out) {
  const bool overlap = gather_during_last_layer(t);
  if (count) gather(t, first);
  for (std::size_t i = 0; i < count; ++i) {
    const bool next = overlap && i + 1 < count;
    if (t.lrs) t.opt.lr() = t.lrs[i];
    if (t.epss) t.opt.adam.eps = t.epss[i];
    if (t.momentums) *t.opt.momentum() = t.momentums[i];
    out[i] = one_step(t, first + i, next);
    if (!next && i + 1 < count) gather(t, first + i + 1);
  }
}

template void train_steps<float>(TrainLoop<float>&, std::size_t, std::size_t, LoopStep*);
template void train_steps<double>(TrainLoop<double>&, std::size_t, std::size_t, LoopStep*);

}  // namespace cg
