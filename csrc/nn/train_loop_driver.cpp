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
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "common/parallel.h"
#include "nn/train_loop.h"

namespace cg {
namespace {

// Batch i's rows and labels (under comm, this rank's rows of it, which start at order[start]):
// slot i % 2 of the loop's buffers (gathered there by gather), or, without an order, the rows in
// place. share: the rows' part of the global batch.
template <class T>
struct Batch {
  T* x;
  std::int64_t* y;
  std::size_t start, rows;
  double share;
};

template <class T>
Batch<T> batch_at(const TrainLoop<T>& t, std::size_t i) {
  const std::size_t begin = i * t.batch, m = std::min(t.batch, t.n - begin);
  const std::size_t lo = t.comm.rank * m / t.comm.size, hi = (t.comm.rank + 1) * m / t.comm.size;
  const std::size_t start = begin + lo, rows = hi - lo;
  const double share = static_cast<double>(rows) / static_cast<double>(m);
  if (!t.order)
    return {const_cast<T*>(t.x + start * t.features), const_cast<std::int64_t*>(t.y + start), start,
            rows, share};
  const std::size_t slot = i % 2 * t.batch;
  return {t.xbuf + slot * t.features, t.ybuf + slot, start, rows, share};
}

// The rows of batch i into its slot (t.order set): on the kernels' threads; or, given `items`
// (an item counter from 0 that the threads calling this share), the items this thread claims.
template <class T>
void gather_x(const TrainLoop<T>& t, std::size_t i, std::atomic<std::size_t>* items = nullptr) {
  const Batch<T> b = batch_at(t, i);
  const auto x = reinterpret_cast<const char*>(t.x);
  const std::int64_t* idx = t.order + b.start;
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
  gather_rows(b.rows, sizeof(std::int64_t), reinterpret_cast<const char*>(t.y), t.order + b.start,
              reinterpret_cast<char*>(b.y));
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
    for (const OptimTensor<T>& p : t.params)  // the layers' gradients or comm.buf: writable
      scale_clip<T>(p.n, const_cast<T*>(p.g), T(scale), bound);
  }
  return true;
}

// The comm side of the steps (t.comm.buf set): where each layer's gradients go in buf, and the
// hook calls of a step. While it lives, the layers' backward passes write their gradients into
// buf itself; it puts the layers' own gradient arrays back when it ends.
template <class T>
struct Reducer {
  TrainLoop<T>& t;
  std::vector<std::size_t> off;        // layer l's gradients at buf[off[l]]; the loss at off.back()
  std::vector<std::pair<T*, T*>> own;  // the layers' own dw, db
  T share = T(1);
  bool started = false;

  explicit Reducer(TrainLoop<T>& loop) : t(loop), off{0} {
    for (LoopDense<T>& d : t.layers) {
      own.emplace_back(d.dw, d.db);
      d.dw = t.comm.buf + off.back();
      if (d.db) d.db = d.dw + d.in * d.out;
      off.push_back(off.back() + d.in * d.out + (d.db ? d.out : 0));
    }
  }
  ~Reducer() {
    for (std::size_t l = 0; l < t.layers.size(); ++l)
      std::tie(t.layers[l].dw, t.layers[l].db) = own[l];
  }
  // The sums of the last step into the layers' own gradient arrays (the Python loop's).
  void copy_out() const {
    for (std::size_t l = 0; l < t.layers.size(); ++l) {
      const T* src = t.comm.buf + off[l];
      const std::size_t n = off[l + 1] - off[l], w = t.layers[l].in * t.layers[l].out;
      std::copy(src, src + w, own[l].first);
      if (own[l].second) std::copy(src + w, src + n, own[l].second);
    }
  }
  // A step's start: its loss and correct count, weighted as the gradients will be, into buf.
  void begin(double share_of_batch, double loss, std::int64_t correct) {
    share = T(share_of_batch);
    started = false;
    t.comm.buf[off.back()] = T(loss * share_of_batch);
    t.comm.buf[off.back() + 1] = T(correct);
  }
  // After layer l's backward pass: its gradients in buf times the share, then the hook starts
  // its group's sum, or lets the started ones progress. False: the hook stops the run.
  bool pass(std::size_t l) {
    T* g = t.comm.buf + off[l];
    if (share != T(1))
      for (std::size_t j = 0, n = off[l + 1] - off[l]; j < n; ++j) g[j] *= share;
    const std::int64_t k = t.comm.launch[l];
    if (k >= 0) {
      started = true;
      return t.comm.hook(k);
    }
    return !started || t.comm.hook(-1);
  }
  // All sums done: the step's loss and correct count are the sums'. False: stopped.
  bool finish(LoopStep& s) {
    if (!t.comm.hook(-2)) return false;
    s.loss = static_cast<double>(t.comm.buf[off.back()]);
    s.correct = static_cast<std::int64_t>(t.comm.buf[off.back() + 1]);
    return true;
  }
};

// Step i on the rows gathered (or in place) for it; with gather_next, batch i + 1 is gathered
// into the other slot meanwhile. With a reducer (comm), false when its hook stopped the run
// before the step was applied.
template <class T>
bool one_step(TrainLoop<T>& t, std::size_t i, bool gather_next, Reducer<T>* red, LoopStep& s) {
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
  s.correct = part.correct;
  // cg.fit: loss + model.penalty() (activity, then the weights, which no step has changed yet).
  double penalty = 0.0;
  if (!t.penalty_after_backward) {
    for (std::size_t l = 0; l < layers; ++l) {
      const LoopDense<T>& d = t.layers[l];
      double p = activity[l];
      if (d.weight_l1 != 0.0 || d.weight_l2 != 0.0)
        p += penalty_value(d.weight_l1, d.weight_l2, sums_of(d.in * d.out, d.w));
      penalty += p;
    }
    s.loss = xent_loss(part, t.smoothing, rows) + penalty;
  }
  if (red) {  // (the binding refuses comm with penalty_after_backward)
    red->begin(b.share, s.loss, s.correct);
    if (!red->pass(last)) return false;
  }
  for (std::size_t l = last; l-- > 0;) {
    backward(t, l, rows, b.x, t.layers[l + 1].dx);
    if (red && !red->pass(l)) return false;
  }
  if (red && !red->finish(s)) return false;
  // The estimators: data loss + the weight penalties summed by the backward passes, in layer
  // order.
  if (t.penalty_after_backward) {
    for (std::size_t l = 0; l < layers; ++l) penalty += t.layers[l].weight_penalty;
    s.loss = xent_loss(part, t.smoothing, rows) + penalty;
  }
  s.applied = guard_and_clip(t);
  if (s.applied) {
    for (OptimTensor<T>& p : t.params) ++p.step;
    optimizer_step(t.opt, t.params, t.scalars);
  }
  return true;
}

}  // namespace

template <class T>
std::size_t train_steps(TrainLoop<T>& t, std::size_t first, std::size_t count, LoopStep* out) {
  const bool overlap = gather_during_last_layer(t);
  std::unique_ptr<Reducer<T>> red;
  if (t.comm.buf) red = std::make_unique<Reducer<T>>(t);
  std::size_t done = 0;
  if (count) gather(t, first);
  for (; done < count; ++done) {
    const std::size_t i = done;
    const bool next = overlap && i + 1 < count;
    if (t.lrs) t.opt.lr() = t.lrs[i];
    if (t.epss) t.opt.adam.eps = t.epss[i];
    if (t.momentums) *t.opt.momentum() = t.momentums[i];
    if (!one_step(t, first + i, next, red.get(), out[i])) break;
    if (!next && i + 1 < count) gather(t, first + i + 1);
  }
  if (red && done == count && count) red->copy_out();
  return done;
}

template std::size_t train_steps<float>(TrainLoop<float>&, std::size_t, std::size_t, LoopStep*);
template std::size_t train_steps<double>(TrainLoop<double>&, std::size_t, std::size_t, LoopStep*);

}  // namespace cg
